"""deletionPolicy: what deleting a Kustomization does to the objects it applied."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from shared.events import EventBus
from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    NAMESPACE,
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data
from tests.servers.git import BareRepo

APP = ObjectKey("Kustomization", NAMESPACE, "app")


def app_yaml(*, policy: str, prune: bool, extra: str = "") -> str:
    text = kustomization_yaml(
        "app", source="repo", path="./app", extra=f"  deletionPolicy: {policy}\n{extra}"
    )
    return text.replace("prune: true", f"prune: {str(prune).lower()}")


def forgotten(gitops: GitOps) -> bool:
    """Whether sluice has finished with the deleted Kustomization on every cluster."""
    client = gitops.store_client
    return not any(
        client.exists(f"sluice:kustomize:{part}:{APP}") for part in ("desired", "clusters")
    )


@pytest.mark.parametrize(
    ("policy", "prune", "kept"),
    [
        ("Orphan", True, True),
        ("Delete", False, False),
        ("MirrorPrune", False, True),
        ("MirrorPrune", True, False),
    ],
)
def test_deleting_a_kustomization_follows_its_deletion_policy(
    gitops: GitOps,
    git_repo: BareRepo,
    sandbox_cluster: ClusterInfo,
    policy: str,
    prune: bool,
    kept: bool,
) -> None:
    ns = unique("del")
    git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("kept", ns, a="1")}
    )
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(source_yaml("repo", git_repo.url) + app_yaml(policy=policy, prune=prune))
    gitops.wait_ready("Kustomization", "app")
    assert configmap_data(sandbox_cluster.kubeconfig, "kept", ns) == {"a": "1"}

    assert gitops.store.delete(APP)
    eventually(lambda: forgotten(gitops), timeout=60, interval=0.3)
    expected = {"a": "1"} if kept else None
    assert configmap_data(sandbox_cluster.kubeconfig, "kept", ns) == expected


def test_wait_for_termination_waits_for_finalizers_up_to_the_timeout(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("del")
    held = configmap_yaml("held", ns, a="1").replace(
        "metadata:\n", "metadata:\n  finalizers:\n  - sluice.test/hold\n", 1
    )
    git_repo.commit({"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": held})
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("repo", git_repo.url)
        + app_yaml(policy="WaitForTermination", prune=False, extra="  timeout: 4s\n")
    )
    gitops.wait_ready("Kustomization", "app")
    bus = EventBus(gitops.store_client, gitops.workers_app)
    since = bus.read(count=10_000)[-1][0]
    api = k8s.CoreV1Api(api_client(sandbox_cluster.kubeconfig))
    try:
        assert gitops.store.delete(APP)
        eventually(lambda: forgotten(gitops), timeout=60, interval=0.3)
        # Deleted even though prune is off; the finalizer holds it, so the wait timed out.
        live = api.read_namespaced_config_map("held", ns)
        assert live.metadata.deletion_timestamp is not None
        messages = [e.message for _, e in bus.read(since) if e.object == APP]
        assert any("failed to wait for resources termination" in m for m in messages), messages
    finally:
        api.patch_namespaced_config_map("held", ns, {"metadata": {"finalizers": None}})
        api.api_client.close()
