"""Apply, prune, drift correction and all-or-nothing revisions, through the running loop."""

from __future__ import annotations

from kubernetes import client as k8s

from shared.events import EventBus
from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data, namespaced_names
from tests.servers.git import BareRepo


def _start(gitops: GitOps, repo: BareRepo, cluster: ClusterInfo, *, interval: str = "1m") -> None:
    gitops.register_cluster(cluster, "default")
    gitops.apply(
        source_yaml("app", repo.url, interval=interval)
        + kustomization_yaml("app", source="app", path="./app", interval=interval)
    )


def test_objects_that_leave_the_revision_are_pruned_unless_marked(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("prune")
    keep = configmap_yaml("keep", ns, a="1")
    kept = configmap_yaml("kept", ns, a="1").replace(
        "metadata:\n",
        "metadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\n",
    )
    git_repo.commit(
        {
            "app/ns.yaml": namespace_yaml(ns),
            "app/keep.yaml": keep,
            "app/gone.yaml": configmap_yaml("gone", ns, a="1"),
            "app/kept.yaml": kept,
        }
    )
    _start(gitops, git_repo, sandbox_cluster)
    gitops.wait_ready("Kustomization", "app")
    assert namespaced_names(sandbox_cluster.kubeconfig, ns) == {"keep", "gone", "kept"}
    head = git_repo.commit({"app/gone.yaml": None, "app/kept.yaml": None})
    gitops.pushed("app")
    doc = gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{head}")
    assert namespaced_names(sandbox_cluster.kubeconfig, ns) == {"keep", "kept"}
    ids = {e["id"] for e in doc["status"]["inventory"]["entries"]}
    assert ids == {f"_{ns}__Namespace", f"{ns}_keep__ConfigMap"}


def test_manual_edits_are_reverted_at_the_next_interval_and_reported(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("drift")
    git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("cfg", ns, mode="safe")}
    )
    _start(gitops, git_repo, sandbox_cluster, interval="2s")
    gitops.wait_ready("Kustomization", "app")
    api = k8s.CoreV1Api(api_client(sandbox_cluster.kubeconfig))
    api.patch_namespaced_config_map(
        "cfg", ns, {"data": {"mode": "unsafe"}}, field_manager="kubectl-edit"
    )
    eventually(
        lambda: configmap_data(sandbox_cluster.kubeconfig, "cfg", ns) == {"mode": "safe"}, 30
    )
    bus = EventBus(gitops.store_client, gitops.workers_app)

    def drift_event() -> bool:
        return any(
            e.type == "applied"
            and "drift corrected" in e.message
            and f"ConfigMap/{ns}/cfg" in e.message
            for _, e in bus.read(count=1000)
        )

    eventually(drift_event, 15)


def test_a_revision_with_one_refused_object_applies_nothing_and_keeps_the_last_good_one(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("refuse")
    good = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("cfg", ns, v="1")}
    )
    _start(gitops, git_repo, sandbox_cluster)
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{good}")
    bad_service = (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  namespace: {ns}\n"
        "spec:\n  ports:\n  - port: 70000\n"
    )
    bad = git_repo.commit(
        {
            "app/cm.yaml": configmap_yaml("cfg", ns, v="2"),
            "app/new.yaml": configmap_yaml("new", ns, v="1"),
            "app/svc.yaml": bad_service,
        }
    )
    gitops.pushed("app")

    def refused() -> dict[str, str] | None:
        cond = gitops.ready("Kustomization", "app")
        return cond if cond and cond["status"] == "False" else None

    cond = eventually(refused, 30)
    assert f"Service/{ns}/broken" in cond["message"]
    assert "70000" in cond["message"]
    status = gitops.get("Kustomization", "app")["status"]
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert status["lastAttemptedRevision"] == f"main@sha1:{bad}"
    assert configmap_data(sandbox_cluster.kubeconfig, "cfg", ns) == {"v": "1"}
    assert configmap_data(sandbox_cluster.kubeconfig, "new", ns) is None
