"""An ArtifactGenerator in the running loop: one repository, two ExternalArtifacts, two
Kustomizations; a commit to one app's path re-applies that app only."""

from __future__ import annotations

from shared.events import EventBus
from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import (
    NAMESPACE,
    GitOps,
    configmap_yaml,
    flux_yaml,
    kustomization_yaml,
    namespace_yaml,
    sluice,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data
from tests.servers.git import BareRepo

NS = NAMESPACE


def _generator(*apps: str) -> str:
    artifacts = "".join(
        f"""\
    - name: {app}
      originRevision: "@repo"
      copy:
        - from: "@repo/deploy/{app}/**"
          to: "@artifact/"
"""
        for app in apps
    )
    spec = f"""\
  sources:
    - alias: repo
      kind: GitRepository
      name: monorepo
  artifacts:
{artifacts}"""
    return flux_yaml(
        "ArtifactGenerator", "apps", spec, api_version="source.extensions.fluxcd.io/v1beta1"
    )


def _kustomization(name: str, artifact: str) -> str:
    return kustomization_yaml(
        name, source=artifact, path="./", interval="10m", source_kind="ExternalArtifact"
    )


def _applies(gitops: GitOps, name: str) -> int:
    bus = EventBus(gitops.store_client, gitops.workers_app)
    return sum(
        1
        for _, e in bus.read(count=10_000)
        if e.type == "applied" and e.object.kind == "Kustomization" and e.object.name == name
    )


def _sluice(gitops: GitOps, *args: str) -> str:
    result = sluice(gitops, *args)
    assert result.returncode == 0, result.stderr + gitops.logs()
    return result.stdout + result.stderr


def test_a_commit_to_one_path_reapplies_only_the_kustomization_of_that_path(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    fe, be = unique("fe"), unique("be")
    first = git_repo.commit(
        {
            "deploy/frontend/ns.yaml": namespace_yaml(fe),
            "deploy/frontend/app.yaml": configmap_yaml("app", fe, version="1"),
            "deploy/backend/ns.yaml": namespace_yaml(be),
            "deploy/backend/app.yaml": configmap_yaml("app", be, version="1"),
        }
    )
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("monorepo", git_repo.url)
        + _generator("frontend", "backend")
        + _kustomization("frontend", "frontend")
        + _kustomization("backend", "backend")
        + _kustomization("orphan", "not-generated")
    )
    frontend = gitops.wait_ready("Kustomization", "frontend", timeout=90)
    backend = gitops.wait_ready("Kustomization", "backend", timeout=90)
    assert configmap_data(sandbox_cluster.kubeconfig, "app", fe) == {"version": "1"}
    assert configmap_data(sandbox_cluster.kubeconfig, "app", be) == {"version": "1"}
    revision = gitops.get("ExternalArtifact", "frontend")["status"]["artifact"]["revision"]
    assert frontend["status"]["lastAppliedRevision"] == revision
    # The monorepo's commit, from the artifact's originRevision, as Flux reports it.
    assert frontend["status"]["lastAppliedOriginRevision"] == f"main@sha1:{first}"
    assert revision.startswith("latest@sha256:")
    # A Kustomization whose ExternalArtifact no generator makes says so.
    gitops.wait_failed(
        "Kustomization",
        "orphan",
        reason="ArtifactFailed",
        containing="ExternalArtifact 'flux-system/not-generated' not found: an ArtifactGenerator",
    )

    listing = _sluice(gitops, "get", "externalartifacts", "-n", NS)
    assert "frontend" in listing and "backend" in listing and revision in listing
    assert "generated 2 artifact(s)" in _sluice(gitops, "get", "artifactgenerators", "-n", NS)
    # flux's words: `reconcile artifact generator`; an ExternalArtifact asks its producer.
    _sluice(gitops, "reconcile", "artifact", "generator", "apps", "-n", NS, "--timeout", "60s")
    said = _sluice(gitops, "reconcile", "source", "external", "frontend", "-n", NS)
    assert revision in said

    gitops.wait_idle(not_due_within=0)
    backend_applies = _applies(gitops, "backend")
    before = gitops.get("Kustomization", "backend")["status"]
    git_repo.commit({"deploy/frontend/app.yaml": configmap_yaml("app", fe, version="2")})
    gitops.pushed("monorepo")

    kubeconfig = sandbox_cluster.kubeconfig
    eventually(lambda: configmap_data(kubeconfig, "app", fe) == {"version": "2"}, 60)
    changed = gitops.get("ExternalArtifact", "frontend")["status"]["artifact"]["revision"]
    assert changed != revision
    gitops.wait_ready("Kustomization", "frontend", revision=changed)
    gitops.wait_idle(not_due_within=0)
    after = gitops.get("Kustomization", "backend")["status"]
    assert after["lastAppliedRevision"] == backend["status"]["lastAppliedRevision"]
    # No apply run at all: each one records its time in the cluster's entry.
    assert after["clusters"] == before["clusters"]
    assert _applies(gitops, "backend") == backend_applies
    assert configmap_data(sandbox_cluster.kubeconfig, "app", be) == {"version": "1"}
