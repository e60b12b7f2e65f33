"""An ArtifactGenerator's reconcile in-process: real Git, a real artifact server and Redis.

The generator splits one GitRepository into ExternalArtifacts; each keeps its
revision until its own content changes, and only a changed one is announced.
"""

from __future__ import annotations

import copy
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.source.generator.artifactgenerator import ARTIFACT_GENERATOR
from services.source.git.gitrepository import GIT_REPOSITORY
from services.source.reconcile import reconcile_source
from shared import yaml
from shared.artifacts import fetch_artifact
from shared.artifactserver import serve_artifacts
from shared.celeryapp import create_app
from shared.keys import ObjectKey
from shared.settings import Settings
from shared.worker import WorkerContext
from tests.servers.git import BareRepo

NS = "apps"
REPO = ObjectKey("GitRepository", NS, "monorepo")
GEN = ObjectKey("ArtifactGenerator", NS, "split")
FRONTEND = ObjectKey("ExternalArtifact", NS, "frontend")
BACKEND = ObjectKey("ExternalArtifact", NS, "backend")

FILES = {
    "deploy/frontend/app.yaml": "kind: ConfigMap\nmetadata: {name: frontend}\n",
    "deploy/frontend/README.md": "docs\n",
    "deploy/backend/app.yaml": "kind: ConfigMap\nmetadata: {name: backend}\n",
    "deploy/backend/db/db.yaml": "kind: ConfigMap\nmetadata: {name: db}\n",
}


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> Iterator[WorkerContext]:
    artifacts = tmp_path / "artifacts"
    server = serve_artifacts(artifacts, port=0)
    local = settings.with_overrides(
        cache_dir=tmp_path / "cache",
        artifact_dir=artifacts,
        artifact_url=f"http://127.0.0.1:{server.server_address[1]}",
        requeue_dependency=1.0,
    )
    yield WorkerContext.create(local, create_app("source", local))
    server.shutdown()


def _split(*names: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "originRevision": "@repo",
            "copy": [{"from": f"@repo/deploy/{name}/**", "to": "@artifact/", "exclude": ["*.md"]}],
        }
        for name in names
    ]


def _apply(ctx: WorkerContext, url: str, artifacts: list[dict[str, Any]], **more: str) -> None:
    ctx.store.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": REPO.name, "namespace": NS},
            "spec": {"interval": "5m", "url": url, "ref": {"branch": "main"}},
        }
    )
    ctx.store.apply(
        {
            "apiVersion": "source.extensions.fluxcd.io/v1beta1",
            "kind": "ArtifactGenerator",
            "metadata": {"name": GEN.name, "namespace": NS},
            "spec": {
                "commonMetadata": {"labels": {"team": "web"}},
                "sources": [{"alias": "repo", "kind": "GitRepository", "name": REPO.name}],
                "artifacts": artifacts,
                **more,
            },
        }
    )


def _run(ctx: WorkerContext) -> None:
    reconcile_source(ctx, REPO, GIT_REPOSITORY)
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)


def _generated(ctx: WorkerContext, git_repo: BareRepo, *names: str) -> str:
    """FILES committed, split into ``names`` by a generator, both reconciled; the commit."""
    commit = git_repo.commit(FILES)
    _apply(ctx, git_repo.url, _split(*names))
    _run(ctx)
    return commit


def _artifact(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    doc = ctx.store.get(key)
    assert doc is not None, f"{key} not stored"
    return dict(doc["status"]["artifact"])


def _files(ctx: WorkerContext, key: ObjectKey) -> dict[str, str]:
    artifact = _artifact(ctx, key)
    root = fetch_artifact(artifact["url"], artifact["digest"], cache_dir=ctx.settings.cache_dir)
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _announced(ctx: WorkerContext, since: int = 0) -> list[str]:
    return [
        e.object.name
        for _, e in ctx.events.read(count=1000)[since:]
        if e.type == "artifact-ready" and e.object.kind == "ExternalArtifact"
    ]


def _ready(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    doc = ctx.store.get(key)
    assert doc is not None
    (ready,) = [c for c in doc["status"]["conditions"] if c["type"] == "Ready"]
    return dict(ready)


def test_one_repository_becomes_two_external_artifacts(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    commit = _generated(ctx, git_repo, "frontend", "backend")

    assert _files(ctx, FRONTEND) == {"app.yaml": FILES["deploy/frontend/app.yaml"]}
    assert _files(ctx, BACKEND) == {
        "app.yaml": FILES["deploy/backend/app.yaml"],
        "db/db.yaml": FILES["deploy/backend/db/db.yaml"],
    }
    frontend = ctx.store.get(FRONTEND)
    assert frontend is not None
    artifact = frontend["status"]["artifact"]
    assert artifact["revision"] == f"latest@{artifact['digest']}"
    assert artifact["metadata"] == {"org.opencontainers.image.revision": f"main@sha1:{commit}"}
    assert artifact["url"].endswith(
        f"/externalartifact/{NS}/frontend/{Path(artifact['path']).name}"
    )
    assert frontend["spec"]["sourceRef"] == {
        "apiVersion": "source.extensions.fluxcd.io/v1beta1",
        "kind": "ArtifactGenerator",
        "name": GEN.name,
        "namespace": NS,
    }
    labels = frontend["metadata"]["labels"]
    assert labels["team"] == "web" and labels["app.kubernetes.io/managed-by"] == "sluice"
    assert _ready(ctx, FRONTEND)["status"] == "True"

    generator = ctx.store.get(GEN)
    assert generator is not None
    status = generator["status"]
    assert [(e["name"], e["digest"]) for e in status["inventory"]] == [
        ("frontend", artifact["digest"]),
        ("backend", _artifact(ctx, BACKEND)["digest"]),
    ]
    assert status["observedSourcesDigest"].startswith("sha256:")
    assert "artifact" not in status
    assert _ready(ctx, GEN)["message"] == "reconciliation succeeded, generated 2 artifact(s)"
    assert sorted(_announced(ctx)) == ["backend", "frontend"]


def test_a_commit_touching_one_path_changes_only_that_artifact(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    _generated(ctx, git_repo, "frontend", "backend")
    backend = _artifact(ctx, BACKEND)
    frontend = _artifact(ctx, FRONTEND)
    seen = len(ctx.events.read(count=1000))

    second = git_repo.commit(
        {"deploy/frontend/app.yaml": "kind: ConfigMap\nmetadata: {name: fe2}\n"}
    )
    _run(ctx)
    after = _artifact(ctx, BACKEND)
    origin = after.pop("metadata")
    backend.pop("metadata")
    assert after == backend  # same revision, same file, same update time
    # The origin revision follows the monorepo, as source-watcher's does.
    assert origin == {"org.opencontainers.image.revision": f"main@sha1:{second}"}
    assert _artifact(ctx, FRONTEND)["revision"] != frontend["revision"]
    assert _announced(ctx, seen) == ["frontend"]

    # A commit outside both paths (and a README change, excluded) announces nothing.
    seen = len(ctx.events.read(count=1000))
    git_repo.commit({"docs/index.md": "x\n", "deploy/frontend/README.md": "more docs\n"})
    _run(ctx)
    assert _announced(ctx, seen) == []
    assert _artifact(ctx, FRONTEND)["revision"] != frontend["revision"]


def test_an_unchanged_generator_rebuilds_nothing(ctx: WorkerContext, git_repo: BareRepo) -> None:
    _generated(ctx, git_repo, "frontend")
    before = ctx.store.get(FRONTEND)
    seen = len(ctx.events.read(count=1000))
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    assert ctx.store.get(FRONTEND) == before
    assert [e.type for _, e in ctx.events.read(count=1000)[seen:]] == []


def test_an_external_artifact_deleted_or_added_by_hand_is_put_right(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    _generated(ctx, git_repo, "frontend")
    revision = _artifact(ctx, FRONTEND)["revision"]
    ctx.store.delete(FRONTEND)
    seen = len(ctx.events.read(count=1000))
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    assert _artifact(ctx, FRONTEND)["revision"] == revision
    assert _announced(ctx, seen) == ["frontend"]

    # One claiming to be the generator's, that it does not list, goes.
    stray = {**copy.deepcopy(ctx.store.get(FRONTEND)), "status": {}}
    stray["metadata"] = {"name": "stray", "namespace": NS}
    ctx.store.apply(stray)
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    assert ctx.store.get(ObjectKey("ExternalArtifact", NS, "stray")) is None


def test_dropped_artifacts_and_a_deleted_generator_take_their_external_artifacts(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    _generated(ctx, git_repo, "frontend", "backend")
    backend_file = ctx.settings.artifact_dir / _artifact(ctx, BACKEND)["path"]
    assert backend_file.is_file()

    _apply(ctx, git_repo.url, _split("frontend"))
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    assert ctx.store.get(BACKEND) is None and not backend_file.exists()
    generator = ctx.store.get(GEN)
    assert generator is not None
    assert [e["name"] for e in generator["status"]["inventory"]] == ["frontend"]

    frontend_file = ctx.settings.artifact_dir / _artifact(ctx, FRONTEND)["path"]
    ctx.store.delete(GEN)
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    assert ctx.store.get(FRONTEND) is None and not frontend_file.exists()


def test_a_missing_source_waits_with_source_fetch_failed(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    _apply(ctx, git_repo.url, _split("frontend"))
    ctx.store.delete(REPO)
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    ready = _ready(ctx, GEN)
    assert (ready["status"], ready["reason"]) == ("False", "SourceFetchFailed")
    assert ready["message"] == f"get sources failed: GitRepository '{NS}/monorepo' not found"


def test_a_copy_that_matches_nothing_fails_the_build_and_keeps_the_last_artifacts(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    _generated(ctx, git_repo, "frontend")
    kept = _artifact(ctx, FRONTEND)
    broken = _split("frontend")
    broken[0]["copy"].append({"from": "@repo/missing/*.yaml", "to": "@artifact/"})
    _apply(ctx, git_repo.url, broken)
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    ready = _ready(ctx, GEN)
    assert (ready["status"], ready["reason"]) == ("False", "BuildFailed")
    assert "no files match pattern 'missing/*.yaml' in source 'repo'" in ready["message"]
    assert _artifact(ctx, FRONTEND) == kept
    # Its retry builds again: the same sources are no reason to call a failed spec done.
    reconcile_source(ctx, GEN, ARTIFACT_GENERATOR)
    assert _ready(ctx, GEN)["reason"] == "BuildFailed"


def _chart() -> bytes:
    """A packaged chart as `helm package` lays it out: podinfo/Chart.yaml, podinfo/values.yaml."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in {
            "podinfo/Chart.yaml": "apiVersion: v2\nname: podinfo\nversion: 6.7.0\n",
            "podinfo/values.yaml": "replicas: 1\nimage: {tag: 6.7.0, pullPolicy: IfNotPresent}\n",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_extract_a_chart_and_merge_values_into_it(ctx: WorkerContext, git_repo: BareRepo) -> None:
    git_repo.commit(
        {
            "charts/podinfo-6.7.0.tgz": _chart(),
            "values/prod.yaml": "replicas: 3\nimage:\n  tag: 6.7.1\n",
        }
    )
    composite = {
        "name": "podinfo",
        "copy": [
            {"from": "@repo/charts/*.tgz", "to": "@artifact/", "strategy": "Extract"},
            {
                "from": "@repo/values/prod.yaml",
                "to": "@artifact/podinfo/values.yaml",
                "strategy": "Merge",
            },
        ],
    }
    _apply(ctx, git_repo.url, [composite])
    _run(ctx)
    files = _files(ctx, ObjectKey("ExternalArtifact", NS, "podinfo"))
    assert set(files) == {"podinfo/Chart.yaml", "podinfo/values.yaml"}
    assert yaml.load(files["podinfo/values.yaml"], source="values.yaml") == {
        "replicas": 3,
        "image": {"tag": "6.7.1", "pullPolicy": "IfNotPresent"},
    }


def test_a_path_pattern_makes_one_artifact_per_directory_and_drops_removed_ones(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    git_repo.commit(
        {
            "apps/web/envs/prod/app.yaml": "kind: ConfigMap\nmetadata: {name: web}\n",
            "apps/api/envs/prod/app.yaml": "kind: ConfigMap\nmetadata: {name: api}\n",
        }
    )
    template = {
        "name": "{app}-{env}",
        "copy": [{"from": "@repo/apps/{app}/envs/{env}/**", "to": "@artifact/"}],
    }
    _apply(ctx, git_repo.url, [template], pathPattern="@repo/apps/{app}/envs/{env}")
    _run(ctx)
    web = ctx.store.get(ObjectKey("ExternalArtifact", NS, "web-prod"))
    assert web is not None
    labels = web["metadata"]["labels"]
    assert (labels["app"], labels["env"], labels["team"]) == ("web", "prod", "web")
    assert _files(ctx, ObjectKey("ExternalArtifact", NS, "api-prod")) == {
        "app.yaml": "kind: ConfigMap\nmetadata: {name: api}\n"
    }

    git_repo.commit({"apps/api/envs/prod/app.yaml": None})
    _run(ctx)
    assert ctx.store.get(ObjectKey("ExternalArtifact", NS, "api-prod")) is None
    assert ctx.store.get(ObjectKey("ExternalArtifact", NS, "web-prod")) is not None
    assert _ready(ctx, GEN)["message"] == "reconciliation succeeded, generated 1 artifact(s)"


def test_two_directories_giving_one_name_stall_the_generator(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    git_repo.commit({"apps/Web/a.yaml": "a: 1\n", "apps/web/a.yaml": "a: 2\n"})
    template = {"name": "{app}", "copy": [{"from": "@repo/apps/{app}/**", "to": "@artifact/"}]}
    _apply(ctx, git_repo.url, [template], pathPattern="@repo/apps/{app}")
    _run(ctx)
    doc = ctx.store.get(GEN)
    assert doc is not None
    conditions = {c["type"]: c for c in doc["status"]["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "BuildFailed"
    assert 'both resolve to artifact name "web"' in conditions["Ready"]["message"]


def test_flux_reconcile_annotation_disabled_leaves_the_artifacts_alone(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    _generated(ctx, git_repo, "frontend")
    kept = _artifact(ctx, FRONTEND)
    doc = ctx.store.get(GEN)
    assert doc is not None
    doc["metadata"]["annotations"] = {"source.extensions.fluxcd.io/reconcile": "Disabled"}
    ctx.store.update(doc)
    git_repo.commit({"deploy/frontend/app.yaml": "kind: ConfigMap\nmetadata: {name: x}\n"})
    _run(ctx)
    assert _artifact(ctx, FRONTEND) == kept
    assert _ready(ctx, GEN)["message"] == (
        "reconciliation disabled by the annotation source.extensions.fluxcd.io/reconcile"
    )
