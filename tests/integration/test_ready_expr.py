"""dependsOn[].readyExpr: a CEL rule over self and dep decides when a dependent goes ahead."""

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
from tests.kube import configmap_data
from tests.servers.git import BareRepo

SAME_VERSION = "dep.metadata.labels['app/version'] == self.metadata.labels['app/version']"


def labelled(text: str, version: str) -> str:
    """A Kustomization document with an ``app/version`` label."""
    return text.replace("metadata:\n", f"metadata:\n  labels:\n    app/version: {version}\n", 1)


def frontend(version: str) -> str:
    extra = f'  dependsOn:\n  - name: backend\n    readyExpr: "{SAME_VERSION}"\n'
    return labelled(
        kustomization_yaml("frontend", source="repo", path="./app", extra=extra), version
    )


def test_ready_expr_holds_a_dependent_back_until_it_is_true(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("ready")
    head = git_repo.commit(
        {"infra/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("front", ns, v="2")}
    )
    revision = f"main@sha1:{head}"
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("repo", git_repo.url)
        + labelled(kustomization_yaml("backend", source="repo", path="./infra"), "v1")
        + frontend("v2")
    )
    gitops.wait_ready("Kustomization", "backend", revision=revision)
    # The backend is Ready, which would do for the built-in check: the expression is not.
    cond = gitops.wait_failed("Kustomization", "frontend", reason="DependencyNotReady")
    assert "not ready according to readyExpr eval" in cond["message"]
    assert configmap_data(sandbox_cluster.kubeconfig, "front", ns) is None

    gitops.apply(frontend("v1"))
    gitops.wait_ready("Kustomization", "frontend", revision=revision)
    assert configmap_data(sandbox_cluster.kubeconfig, "front", ns) == {"v": "2"}


def test_ready_expr_replaces_the_built_in_check(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("ready")
    head = git_repo.commit({"app/ns.yaml": namespace_yaml(ns)})
    gitops.register_cluster(sandbox_cluster, "default")
    # A suspended backend never gets Ready; the expression only asks for matching versions.
    gitops.apply(
        source_yaml("repo", git_repo.url)
        + labelled(
            kustomization_yaml("backend", source="repo", path="./app", extra="  suspend: true\n"),
            "v1",
        )
        + frontend("v1")
    )
    gitops.wait_ready("Kustomization", "frontend", revision=f"main@sha1:{head}")
    assert (gitops.ready("Kustomization", "backend") or {}).get("status") != "True"
