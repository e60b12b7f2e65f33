"""dependsOn: a Kustomization waits until its dependencies are Ready at the latest revision."""

from __future__ import annotations

from shared.sandbox import ClusterInfo
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


def test_dependent_waits_for_its_dependency_then_applies(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("deps")
    # The app lives in a namespace that only the dependency creates.
    head = git_repo.commit(
        {
            "infra/ns.yaml": namespace_yaml(ns),
            "app/cm.yaml": configmap_yaml("app", ns, ready="yes"),
        }
    )
    gitops.register_cluster(sandbox_cluster, "default")
    # The dependent comes first and its dependency is suspended: it must wait.
    gitops.apply(
        source_yaml("repo", git_repo.url)
        + kustomization_yaml(
            "app", source="repo", path="./app", extra="  dependsOn:\n  - name: infra\n"
        )
        + kustomization_yaml("infra", source="repo", path="./infra", extra="  suspend: true\n")
    )

    def waiting() -> dict[str, str] | None:
        cond = gitops.ready("Kustomization", "app")
        return cond if cond and cond["reason"] == "DependencyNotReady" else None

    cond = eventually(waiting, 30)
    assert "infra" in cond["message"]
    assert configmap_data(sandbox_cluster.kubeconfig, "app", ns) is None

    gitops.apply(kustomization_yaml("infra", source="repo", path="./infra"))
    revision = f"main@sha1:{head}"
    gitops.wait_ready("Kustomization", "infra", revision=revision)
    gitops.wait_ready("Kustomization", "app", revision=revision)
    assert configmap_data(sandbox_cluster.kubeconfig, "app", ns) == {"ready": "yes"}
