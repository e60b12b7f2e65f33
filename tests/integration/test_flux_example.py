"""Flux's own example fleet repository (flux2-kustomize-helm-example, 2.7 layout) on sluice.

The repository is vendored unchanged in tests/data. ``sluice bootstrap git
--cluster staging`` runs clusters/staging as Flux would: its ArtifactGenerator
splits the repository into the ``infrastructure`` and ``apps``
ExternalArtifacts, and the Kustomizations build from them. The first kind the
helm service (not built yet) must serve, the HelmRelease, stops
``infra-controllers`` with a condition naming it. The OCIRepositories of
infrastructure/controllers, pointed at a local registry holding charts pushed
with ``helm push`` (no internet here), fetch their charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.api.conditions import get_condition
from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import GitOps, bootstrap, sluice
from tests.helpers import eventually
from tests.kube import namespace_exists
from tests.servers.git import BareRepo
from tests.servers.registry import OciRegistry
from tests.sources import push_chart

EXAMPLE = Path(__file__).parents[1] / "data" / "flux2-kustomize-helm-example"
FS = "flux-system"
SCOPE = "staging"
# Each OCIRepository's chart, at a version its spec.ref.semver takes.
CHARTS = {"cert-manager": "1.17.2", "gateway-helm": "1.8.1"}


def _files() -> dict[str, str]:
    return {
        path.relative_to(EXAMPLE).as_posix(): path.read_text()
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file() and path.name != "VENDORED.md"
    }


def _condition(gitops: GitOps, key: ObjectKey, wanted: str) -> dict[str, Any]:
    """The object's Ready condition once its status is ``wanted`` ("True"/"False")."""

    def check() -> dict[str, Any] | None:
        doc = gitops.store.get(key) or {}
        ready = get_condition(doc.get("status") or {}, "Ready") or {}
        return dict(ready) if ready.get("status") == wanted else None

    try:
        return eventually(check, timeout=180, interval=0.3)
    except AssertionError as exc:
        doc = gitops.store.get(key) or {}
        raise AssertionError(f"{key}: {doc.get('status')}\n{gitops.logs()}") from exc


def _oci_repositories(registry: OciRegistry) -> list[dict[str, Any]]:
    """infrastructure/controllers' OCIRepositories, their URLs moved to ``registry``."""
    found = []
    for path in sorted((EXAMPLE / "infrastructure" / "controllers").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "OCIRepository":
                upstream = doc["spec"]["url"].removeprefix("oci://")
                doc["spec"]["url"] = f"oci://{registry.host}/{upstream.split('/', 1)[1]}"
                found.append(doc)
    return found


def test_the_staging_cluster_of_flux_example_repository_runs_up_to_its_first_helm_release(
    gitops: GitOps,
    git_repo: BareRepo,
    sandbox_cluster: ClusterInfo,
    oci_registry: OciRegistry,
    tmp_path: Path,
) -> None:
    head = git_repo.commit(_files())
    gitops.register_cluster(sandbox_cluster, SCOPE)
    said = bootstrap(gitops, git_repo.url, SCOPE)
    assert "Kustomization reconciliation completed" in said

    # The ArtifactGenerator splits the repository; both ExternalArtifacts carry its commit.
    _condition(gitops, ObjectKey("ArtifactGenerator", FS, FS, SCOPE), "True")
    for name in ("infrastructure", "apps"):
        key = ObjectKey("ExternalArtifact", FS, name, SCOPE)
        _condition(gitops, key, "True")
        artifact = (gitops.store.get(key) or {})["status"]["artifact"]
        assert artifact["revision"].startswith("latest@sha256:")
        assert artifact["metadata"]["org.opencontainers.image.revision"] == f"main@sha1:{head}"

    # infra-controllers builds from the ExternalArtifact and stops at the HelmRelease;
    # nothing of its build reached the cluster, and its dependents wait.
    stopped = _condition(
        gitops, ObjectKey("Kustomization", FS, "infra-controllers", SCOPE), "False"
    )
    assert "HelmRelease" in stopped["message"], stopped
    assert "helm.toolkit.fluxcd.io" in stopped["message"], stopped
    assert not namespace_exists(sandbox_cluster.kubeconfig, "cert-manager")
    waiting = _condition(gitops, ObjectKey("Kustomization", FS, "infra-configs", SCOPE), "False")
    assert waiting["reason"] == "DependencyNotReady", waiting

    # Its OCIRepositories, as written (only the registry moved), fetch the charts.
    docs = _oci_repositories(oci_registry)
    assert {d["metadata"]["name"] for d in docs} == set(CHARTS)
    for doc in docs:
        name = doc["metadata"]["name"]
        repo = doc["spec"]["url"].split("/", 3)[3].rsplit("/", 1)[0]
        to = f"oci://{oci_registry.host}/{repo}"
        push_chart(tmp_path, name=name, version=CHARTS[name], to=to)
    applied = sluice(gitops, "-c", SCOPE, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for doc in docs:
        meta = doc["metadata"]
        key = ObjectKey("OCIRepository", meta["namespace"], meta["name"], SCOPE)
        _condition(gitops, key, "True")
        revision = (gitops.store.get(key) or {})["status"]["artifact"]["revision"]
        assert revision.startswith(f"{CHARTS[meta['name']]}@sha256:"), revision
