"""A push webhook, signed as GitHub signs it, brings a commit to the cluster at once.

The whole installation runs: source, kustomize and notify workers, the
scheduler, ``sluice receiver`` and a sandbox kube-apiserver. The GitRepository's
interval is an hour, so only the webhook can bring the second commit in time.
"""

from __future__ import annotations

from kubernetes import client as k8s

from shared.sandbox import ControlPlane
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import GitOps, flux_yaml, secret_yaml, sluice, unique
from tests.helpers import eventually
from tests.leaks import redis_bytes
from tests.receivers import github_push, running_receiver
from tests.servers.git import BareRepo

TOKEN = "gitops-webhook-token-93ab1"


def _app(namespace: str, greeting: str) -> dict[str, str]:
    return {
        "app/namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n",
        "app/config.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
            f"  namespace: {namespace}\ndata:\n  greeting: {greeting}\n"
        ),
    }


def _objects(repo: BareRepo) -> str:
    source = f"  interval: 1h\n  url: {repo.url}\n  ref:\n    branch: main\n"
    ks = (
        "  interval: 1h\n  retryInterval: 2s\n  path: ./app\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: app\n"
    )
    receiver = (
        "  type: github\n  events: [push]\n  secretRef:\n    name: webhook-token\n"
        "  resources:\n    - kind: GitRepository\n      name: app\n"
    )
    return (
        flux_yaml("GitRepository", "app", source)
        + flux_yaml("Kustomization", "app", ks, api_version="kustomize.toolkit.fluxcd.io/v1")
        + secret_yaml("webhook-token", {"token": TOKEN})
        + flux_yaml("Receiver", "github", receiver, api_version="notification.toolkit.fluxcd.io/v1")
    )


def _greeting(kubeconfig: object, namespace: str) -> str | None:
    api = k8s.CoreV1Api(api_client(kubeconfig))  # type: ignore[arg-type]
    try:
        return str(api.read_namespaced_config_map("settings", namespace).data["greeting"])
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_a_github_signed_push_webhook_brings_the_commit_to_the_cluster(
    gitops: GitOps, git_repo: BareRepo, control_plane: ControlPlane
) -> None:
    namespace = unique("hooked")
    info = control_plane.cluster_info()[0]
    gitops.register_cluster(info, "default")
    gitops.start_worker("notify")
    first = git_repo.commit(_app(namespace, "hello"), "first")
    gitops.apply(_objects(git_repo))
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{first}", timeout=120)
    receiver = gitops.wait_ready("Receiver", "github")
    path = receiver["status"]["webhookPath"]

    listed = sluice(gitops, "get", "receivers", "-n", "flux-system")
    assert listed.returncode == 0, listed.stderr
    assert "github" in listed.stdout and "True" in listed.stdout

    second = git_repo.commit(_app(namespace, "pushed"), "second")
    with running_receiver(gitops.settings, gitops.log_dir) as server:
        body, headers = github_push(TOKEN)
        response = server.post(path, body, headers)
        assert response.status_code == 200, server.output()
        gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{second}", timeout=120)
        assert eventually(lambda: _greeting(info.kubeconfig, namespace) == "pushed", timeout=30)

        suspended = sluice(gitops, "suspend", "receiver", "github", "-n", "flux-system")
        assert suspended.returncode == 0, suspended.stderr
        assert server.post(path, body, headers).status_code == 503
        resumed = sluice(gitops, "resume", "receiver", "github", "-n", "flux-system")
        assert resumed.returncode == 0, resumed.stderr
        reconciled = sluice(gitops, "reconcile", "receiver", "github", "-n", "flux-system")
        assert reconciled.returncode == 0, reconciled.stderr
        assert server.post(path, body, headers).status_code == 200

        assert TOKEN not in server.output()
    assert TOKEN.encode() not in redis_bytes(gitops.store_client)
    assert TOKEN not in gitops.logs()
