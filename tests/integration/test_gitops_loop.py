"""The GitOps loop end to end: a commit becomes objects in every target cluster."""

from __future__ import annotations

from kubernetes import client as k8s

from shared.sandbox import ControlPlane
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import GitOps
from tests.helpers import eventually
from tests.servers.git import BareRepo

APP = {
    "app/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
    "app/config.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\n"
        "data:\n  greeting: hello\n"
    ),
}


def _objects(repo: BareRepo, *, selector: str = "", interval: str = "1m") -> str:
    target = f"  clusterSelector:\n    matchLabels:\n      {selector}\n" if selector else ""
    return f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: app
  namespace: flux-system
spec:
  interval: {interval}
  url: {repo.url}
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: flux-system
spec:
  interval: {interval}
  retryInterval: 2s
  path: ./app
  prune: true
  sourceRef:
    kind: GitRepository
    name: app
{target}"""


def _greeting(kubeconfig: object) -> str | None:
    api = k8s.CoreV1Api(api_client(kubeconfig))  # type: ignore[arg-type]
    try:
        return str(api.read_namespaced_config_map("settings", "demo").data["greeting"])
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_commit_is_applied_to_every_selected_cluster(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    first = git_repo.commit(APP, "first")
    clusters = control_plane_3.cluster_info()
    for i, info in enumerate(clusters, start=1):
        gitops.register_cluster(info, f"c{i}", env="prod")
    gitops.apply(_objects(git_repo, selector="env: prod"))
    doc = gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{first}")
    assert [c["name"] for c in doc["status"]["clusters"]] == ["c1", "c2", "c3"]
    for info in clusters:
        assert _greeting(info.kubeconfig) == "hello"

    second = git_repo.commit({"app/config.yaml": APP["app/config.yaml"].replace("hello", "hi")})
    gitops.pushed("app")
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{second}")
    for info in clusters:
        assert eventually(lambda info=info: _greeting(info.kubeconfig) == "hi", timeout=10)
