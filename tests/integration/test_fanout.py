"""Fan-out: one build applied to many clusters, none holding another back."""

from __future__ import annotations

from shared.api.conditions import get_condition
from shared.sandbox import ControlPlane
from tests.fixtures.gitops import (
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


def _app(ns: str, value: str) -> dict[str, str]:
    return {
        "app/ns.yaml": namespace_yaml(ns),
        "app/cm.yaml": configmap_yaml("settings", ns, value=value),
    }


def test_a_stopped_cluster_delays_no_other_and_recovers_by_itself(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    ns = unique("fan")
    first = git_repo.commit(_app(ns, "one"))
    clusters = control_plane_3.cluster_info()
    for i, info in enumerate(clusters, start=1):
        gitops.register_cluster(info, f"c{i}", fleet="all")
    gitops.apply(
        source_yaml("app", git_repo.url)
        + kustomization_yaml(
            "app",
            source="app",
            path="./app",
            extra="  clusterSelector:\n    matchLabels:\n      fleet: all\n",
        )
    )
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{first}")

    control_plane_3.stop_cluster(2)
    try:
        second = git_repo.commit({"app/cm.yaml": configmap_yaml("settings", ns, value="two")})
        gitops.pushed("app")
        for n in (1, 3):
            info = clusters[n - 1]
            kubeconfig = info.kubeconfig
            eventually(
                lambda k=kubeconfig: configmap_data(k, "settings", ns) == {"value": "two"}, 30
            )

        def c2_failed() -> dict[str, object] | None:
            status = gitops.get("Kustomization", "app").get("status") or {}
            entry = {c["name"]: c for c in status.get("clusters", [])}.get("c2")
            cond = entry["conditions"][0] if entry else {}
            return entry if cond.get("status") == "False" else None

        entry = eventually(c2_failed, 30)
        message = entry["conditions"][0]["message"]  # type: ignore[index]
        assert "127.0.0.1" in message or "connect" in message.lower(), message

        def summed_up() -> dict[str, str] | None:
            # c1 and c3 write their results when their applies end, maybe after c2's.
            ready = gitops.ready("Kustomization", "app")
            return ready if ready and "2/3 clusters ready" in ready["message"] else None

        ready = eventually(summed_up, 30)
        assert ready["status"] == "False"
        assert "c2:" in ready["message"]
    finally:
        control_plane_3.start_cluster(2)
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{second}", timeout=60)
    assert configmap_data(clusters[1].kubeconfig, "settings", ns) == {"value": "two"}


def test_clusters_joining_and_leaving_the_selector(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    ns = unique("join")
    head = git_repo.commit(_app(ns, "x"))
    c1, c2, _ = control_plane_3.cluster_info()
    gitops.register_cluster(c1, "one", tier="web")
    gitops.register_cluster(c2, "two", tier="db")
    gitops.apply(
        source_yaml("app", git_repo.url)
        + kustomization_yaml(
            "app",
            source="app",
            path="./app",
            extra="  clusterSelector:\n    matchLabels:\n      tier: web\n",
        )
    )
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{head}")
    assert configmap_data(c2.kubeconfig, "settings", ns) is None

    # Relabel: two joins, one leaves. Nothing else changes.
    gitops.register_cluster(c1, "one", tier="db")
    gitops.register_cluster(c2, "two", tier="web")
    eventually(lambda: configmap_data(c2.kubeconfig, "settings", ns) is not None, 30)
    eventually(lambda: configmap_data(c1.kubeconfig, "settings", ns) is None, 30)

    def only_two() -> bool:
        status = gitops.get("Kustomization", "app")["status"]
        cond = get_condition(status, "Ready") or {}
        return [c["name"] for c in status["clusters"]] == ["two"] and cond.get("status") == "True"

    eventually(only_two, 30)


def test_three_clusters_cost_one_kustomize_build(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    from shared.fleet.state import FleetState

    ns = unique("once")
    head = git_repo.commit(_app(ns, "x"))
    for i, info in enumerate(control_plane_3.cluster_info(), start=1):
        gitops.register_cluster(info, f"b{i}", group="b")
    builds_before = FleetState(gitops.store_client, service="kustomize").builds()
    gitops.apply(
        source_yaml("app", git_repo.url)
        + kustomization_yaml(
            "app",
            source="app",
            path="./app",
            extra="  clusterSelector:\n    matchLabels:\n      group: b\n",
        )
    )
    doc = gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{head}")
    assert len(doc["status"]["clusters"]) == 3
    assert FleetState(gitops.store_client, service="kustomize").builds() - builds_before == 1
