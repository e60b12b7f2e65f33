"""The Flux-style commands against a running sluice: reconcile, get, tree, build, diff, export,
suspend and resume, as real ``sluice`` processes."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from kubernetes import client as k8s

from shared.sandbox import ClusterInfo, ControlPlane
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    NAMESPACE,
    SLUICE,
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.leaks import file_bytes, redis_bytes
from tests.servers.git import BareRepo

PASSWORD = "s3cr3t-value"


def sluice(gitops: GitOps, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``sluice`` command against the test's installation."""
    return subprocess.run(
        [SLUICE, *args], env=gitops.env, capture_output=True, text=True, timeout=180
    )


def _app(namespace: str, greeting: str = "${greeting}") -> dict[str, str]:
    return {
        "app/namespace.yaml": namespace_yaml(namespace),
        "app/config.yaml": configmap_yaml("settings", namespace, greeting=greeting),
        "app/secret.yaml": (
            f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: {namespace}\n"
            "stringData:\n  password: ${password}\n"
        ),
    }


def _variables() -> str:
    value = base64.b64encode(PASSWORD.encode()).decode()
    return (
        f"{configmap_yaml('vars', NAMESPACE, greeting='hello')}---\n"
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-vars\n"
        f"  namespace: {NAMESPACE}\ndata:\n  password: {value}\n---\n"
    )


def _greeting(info: ClusterInfo, namespace: str) -> str:
    with api_client(info.kubeconfig) as api:
        return str(
            k8s.CoreV1Api(api).read_namespaced_config_map("settings", namespace).data["greeting"]
        )


def test_reconcile_get_tree_build_diff_and_export_on_three_clusters(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane, tmp_path: Path
) -> None:
    namespace, name = unique("cli"), unique("app")
    revision = f"main@sha1:{git_repo.commit(_app(namespace), 'first')}"
    clusters = control_plane_3.cluster_info()
    for i, info in enumerate(clusters, start=1):
        gitops.register_cluster(info, f"c{i}", fleet=name)
    post_build = (
        f"  clusterSelector:\n    matchLabels:\n      fleet: {name}\n"
        "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: vars\n"
        "      - kind: Secret\n        name: secret-vars\n"
    )
    gitops.apply(
        source_yaml(name, git_repo.url, interval="10m")
        + _variables()
        + kustomization_yaml(name, source=name, path="./app", interval="10m", extra=post_build)
    )

    done = sluice(gitops, "reconcile", "ks", name, "--with-source", "--timeout", "90s")
    assert done.returncode == 0, done.stderr + gitops.logs()
    assert f"► annotating GitRepository {name} in flux-system namespace" in done.stderr
    assert f"► annotating Kustomization {name} in flux-system namespace" in done.stderr
    assert "◎ waiting for Kustomization reconciliation" in done.stderr
    assert done.stderr.rstrip().endswith(f"✔ applied revision {revision}")
    doc = gitops.get("Kustomization", name)
    token = doc["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    assert doc["status"]["lastHandledReconcileAt"] == token
    assert {_greeting(info, namespace) for info in clusters} == {"hello"}
    # The rendered Secret holds the substituted password: sealed wherever sluice keeps builds.
    for value in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode()):
        assert value.encode() not in redis_bytes(gitops.store_client)
        assert value.encode() not in file_bytes(gitops.settings.cache_dir)

    rows = sluice(gitops, "get", "ks", name, "--clusters").stdout.splitlines()
    assert rows[0].split() == ["NAME", "CLUSTER", "REVISION", "READY", "MESSAGE"]
    assert [r.split()[:4] for r in rows[1:]] == [
        [name, c, revision, "True"] for c in ("c1", "c2", "c3")
    ]
    sources = sluice(gitops, "get", "sources", "git").stdout.splitlines()
    assert sources[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert sources[1].split()[:4] == [name, revision, "False", "True"]

    tree = sluice(gitops, "tree", "ks", name).stdout.splitlines()
    objects = [f"    Namespace/{namespace}", f"    ConfigMap/{namespace}/settings",
               f"    Secret/{namespace}/token"]  # fmt: skip
    assert tree[0] == f"Kustomization/flux-system/{name}"
    assert tree[1:5] == ["  cluster c1", *objects]
    assert [line for line in tree if "cluster" in line] == [
        "  cluster c1",
        "  cluster c2",
        "  cluster c3",
    ]
    only = sluice(gitops, "tree", "ks", name, "--cluster", "c2").stdout.splitlines()
    assert only == [f"Kustomization/flux-system/{name}", "  cluster c2", *objects]

    built = sluice(gitops, "build", "ks", name)
    assert built.returncode == 0, built.stderr
    assert "greeting: hello" in built.stdout  # substituted from the ConfigMap
    assert f"kustomize.toolkit.fluxcd.io/name: {name}" in built.stdout
    assert "password: <redacted>" in built.stdout
    assert PASSWORD not in built.stdout
    assert built.stdout.count("---\n") == 3

    gitops.wait_idle()  # triggers still in flight would correct the drift made below
    in_sync = sluice(gitops, "diff", "ks", name)
    assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr
    assert in_sync.stdout.count(": no changes") == 3

    with api_client(clusters[1].kubeconfig) as api:
        k8s.CoreV1Api(api).patch_namespaced_config_map(
            "settings", namespace, {"data": {"greeting": "hola"}}
        )
    with api_client(clusters[2].kubeconfig) as api:
        other = base64.b64encode(b"changed-by-hand").decode()
        k8s.CoreV1Api(api).patch_namespaced_secret(
            "token", namespace, {"data": {"password": other}}
        )
    drifted = sluice(gitops, "diff", "ks", name)
    assert drifted.returncode == 1, drifted.stderr
    assert f"► ConfigMap/{namespace}/settings drifted" in drifted.stdout
    assert "-  greeting: hola" in drifted.stdout
    assert "+  greeting: hello" in drifted.stdout
    assert f"► Secret/{namespace}/token drifted" in drifted.stdout
    assert "-  password: '*** (before)'" in drifted.stdout
    assert "+  password: '*** (after)'" in drifted.stdout
    assert drifted.stdout.count(": no changes") == 1  # c1
    shown = drifted.stdout + drifted.stderr
    for value in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), other):
        assert value not in shown
    assert sluice(gitops, "diff", "ks", name, "--cluster", "c1").returncode == 0
    checkout = tmp_path / "checkout"
    for path, text in _app(namespace).items():
        if not path.endswith("secret.yaml"):  # removed in the local checkout
            (checkout / path).parent.mkdir(parents=True, exist_ok=True)
            (checkout / path).write_text(text)
    local = ["--cluster", "c1", "--path", str(checkout / "app")]
    pruned = sluice(gitops, "diff", "ks", name, *local)
    assert pruned.returncode == 1, pruned.stderr
    assert pruned.stdout.splitlines()[1:] == [f"► Secret/{namespace}/token deleted"]
    assert "kind: Secret" not in sluice(gitops, "build", "ks", name, "--path", local[-1]).stdout

    exported = sluice(gitops, "export", "ks", name)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("---\napiVersion: kustomize.toolkit.fluxcd.io/v1\n")
    for noise in ("status:", "uid:", "resourceVersion:", "generation:", "requestedAt"):
        assert noise not in exported.stdout
    secrets = sluice(gitops, "export", "secret", "secret-vars").stdout
    assert "password: <redacted>" in secrets
    assert base64.b64encode(PASSWORD.encode()).decode() not in secrets
    assert sluice(gitops, "export", "source", "git", name).stdout.count("kind: GitRepository") == 1


def test_reconcile_of_a_broken_path_fails_with_the_reason(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    name = unique("broken")
    git_repo.commit(_app(unique("cli")), "first")
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml(name, git_repo.url, interval="10m")
        + kustomization_yaml(name, source=name, path="./missing", interval="10m")
    )
    failed = sluice(gitops, "reconcile", "ks", name, "--with-source", "--timeout", "90s")
    assert failed.returncode == 1
    assert "✗ spec.path './missing' not found in the artifact" in failed.stderr, failed.stderr
    rows = sluice(gitops, "get", "ks", "--clusters").stdout.splitlines()
    assert rows[1].split()[:4] == [name, "-", "False", "spec.path"]


def test_suspend_holds_a_new_commit_back_and_resume_applies_it(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    namespace, name = unique("cli"), unique("app")
    first = f"main@sha1:{git_repo.commit(_app(namespace, greeting='one'), 'first')}"
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml(name, git_repo.url, interval="10m")
        + kustomization_yaml(name, source=name, path="./app", interval="10m",
                             extra="  postBuild:\n    substitute:\n      password: x\n")
    )  # fmt: skip
    done = sluice(gitops, "reconcile", "ks", name, "--with-source", "--timeout", "90s")
    assert done.returncode == 0, done.stderr + gitops.logs()

    suspended = sluice(gitops, "suspend", "ks", name)
    assert suspended.returncode == 0, suspended.stderr
    assert "✔ kustomization suspended" in suspended.stderr
    assert gitops.get("Kustomization", name)["spec"]["suspend"] is True
    row = sluice(gitops, "get", "ks", name, "-n", NAMESPACE).stdout.splitlines()[1].split()
    assert row[:3] == [name, first, "True"]  # NAME REVISION SUSPENDED

    second = f"main@sha1:{git_repo.commit(_app(namespace, greeting='two'), 'second')}"
    fetched = sluice(gitops, "reconcile", "source", "git", name, "--timeout", "60s")
    assert fetched.returncode == 0, fetched.stderr
    assert f"✔ fetched revision {second}" in fetched.stderr
    refused = sluice(gitops, "reconcile", "ks", name)
    assert refused.returncode == 1
    assert "is suspended" in refused.stderr
    # The new artifact's event reaches the kustomize worker at once: let it act on it.
    gitops.wait_idle()
    assert gitops.get("Kustomization", name)["status"]["lastAppliedRevision"] != second
    assert _greeting(sandbox_cluster, namespace) == "one"

    resumed = sluice(gitops, "resume", "ks", name, "--timeout", "90s")
    assert resumed.returncode == 0, resumed.stderr + gitops.logs()
    assert "✔ kustomization resumed" in resumed.stderr
    assert resumed.stderr.rstrip().endswith(f"✔ applied revision {second}")
    assert _greeting(sandbox_cluster, namespace) == "two"
