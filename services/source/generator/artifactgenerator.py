"""ArtifactGenerator: copy files out of source artifacts into ExternalArtifacts, as source-watcher.

One run: record which sources the generator reads (so their new artifacts
wake it), observe each source's artifact, and stop there when nothing drifted
(the same sources, every generated artifact still stored). Otherwise download
the sources (by url and digest), build every artifact in a scratch directory,
then publish each one: an artifact whose bytes did not change keeps its
revision and says nothing; a changed one gets ``latest@sha256:<digest>`` (or
the revision of the source ``revision: "@alias"`` names) and an
``artifact-ready`` event, which wakes the Kustomizations that consume it.
ExternalArtifacts no longer listed, and all of them when the generator is
deleted, are removed with their files. The generator keeps no artifact of its
own; its status has ``inventory`` and ``observedSourcesDigest`` as Flux's.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.source.generator.copying import apply_steps, content_hash, scan_tree
from services.source.generator.copyplan import CopyError, SourceTree, plan_copy
from services.source.generator.expand import ArtifactRequest, ExpandError, artifact_requests
from services.source.generator.externalartifacts import (
    EXTERNAL_ARTIFACT,
    ORIGIN_REVISION,
    Published,
    answer_request,
    delete_external_artifact,
    produced_by,
    publish,
)
from services.source.reconcile import Produced, SourceKind, SourceRun, storage_for
from shared.api import InvalidObjects, parse_as
from shared.api.artifactgenerator import ArtifactGenerator
from shared.api.conditions import BUILD_FAILED, READY, STORAGE_OPERATION_FAILED, is_true
from shared.artifacts import ArtifactError, fetch_artifact
from shared.dependents import DependentsIndex
from shared.keys import ObjectKey
from shared.reconcile import Stalled, Transient, Waiting
from shared.scopes import candidates, resolve
from shared.sourceignore import VCS_EXCLUDES, IgnoreMatcher, Layer
from shared.tarball import ArchiveError, build_tarball
from shared.tenancy import refuse_cross_namespace
from shared.worker import WorkerContext

__all__ = ["ARTIFACT_GENERATOR", "hash_sources", "index_generators", "source_keys"]

SOURCE_FETCH_FAILED = "SourceFetchFailed"
RECONCILE_ANNOTATION = "source.extensions.fluxcd.io/reconcile"
# What source-watcher's storage leaves out of a generated artifact: VCS files and
# CI / tool configuration (not the file types a GitRepository drops by default).
GENERATED_EXCLUDES = (
    *VCS_EXCLUDES,
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
    "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)  # fmt: skip
_MATCHER = IgnoreMatcher(layers=(Layer.parse(GENERATED_EXCLUDES),))


@dataclass(frozen=True)
class ObservedSource:
    """A source's artifact as read at the start of a run."""

    key: ObjectKey
    revision: str
    digest: str
    url: str
    origin_revision: str

    def line(self, alias: str) -> str:
        """source-watcher's text of one observed source, for the sources digest."""
        return f"{alias}=[digest={self.digest},revision={self.revision},url={self.url}]"


def hash_sources(sources: dict[str, ObservedSource]) -> str:
    """``sha256:<hex>`` over the observed sources (sorted), Flux's observedSourcesDigest."""
    text = "|".join(sorted(source.line(alias) for alias, source in sources.items()))
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def source_keys(generator: ArtifactGenerator, key: ObjectKey) -> dict[str, ObjectKey]:
    """The source each alias names, by the field that names it."""
    return {
        f"spec.sources[{i}]": ObjectKey(ref.kind, ref.namespace or key.namespace, ref.name)
        for i, ref in enumerate(generator.spec.sources)
    }


def _artifact_key(generator: ObjectKey, name: str) -> ObjectKey:
    return ObjectKey(EXTERNAL_ARTIFACT, generator.namespace, name, generator.scope)


def index_generators(ctx: WorkerContext) -> None:
    """Record every generator's sources once, at worker start.

    Each reconcile keeps its own edges current; this covers generators stored
    before the index existed, which would otherwise hear of no new artifact.
    """
    index = DependentsIndex(ctx.client)
    for scope in ("", *ctx.store.scopes()):
        for doc in ctx.store.list(ARTIFACT_GENERATOR.kind, scope=scope):
            try:
                generator = parse_as(doc, ArtifactGenerator)
            except InvalidObjects:
                continue  # its reconcile reports it
            key = ObjectKey.of(doc, scope)
            refs = source_keys(generator, key).values()
            index.set_uses(key, [c for ref in refs for c in candidates(ref, scope)])


def _observe(run: SourceRun, generator: ArtifactGenerator) -> dict[str, ObservedSource]:
    """Each alias's source artifact; Waiting, SourceFetchFailed, while one is missing or unready."""
    wait = run.ctx.settings.requeue_dependency
    observed = {}
    for ref, key in zip(
        generator.spec.sources, source_keys(generator, run.key).values(), strict=True
    ):
        found, doc = resolve(run.ctx.store, key, run.key.scope)
        where = f"{ref.kind} '{found.namespace}/{found.name}'"
        if doc is None:
            raise Waiting(
                SOURCE_FETCH_FAILED, f"get sources failed: {where} not found", retry_after=wait
            )
        artifact = (doc.get("status") or {}).get("artifact") or {}
        if not artifact.get("url") or not artifact.get("digest"):
            raise Waiting(
                SOURCE_FETCH_FAILED, f"get sources failed: {where} is not ready", retry_after=wait
            )
        observed[ref.alias] = ObservedSource(
            key=found,
            revision=str(artifact.get("revision", "")),
            digest=str(artifact["digest"]),
            url=str(artifact["url"]),
            origin_revision=str((artifact.get("metadata") or {}).get(ORIGIN_REVISION, "")),
        )
    return observed


def _up_to_date(run: SourceRun, generator: ArtifactGenerator, digest: str) -> bool:
    """Whether the last run built from these sources and every artifact is still as it left it."""
    status = run.status
    if status.get("observedSourcesDigest") != digest:
        return False
    # A failed run also observes its generation: only a successful one built this spec.
    if status.get("observedGeneration") != run.generation or not is_true(status, READY):
        return False
    inventory = {e.get("name"): e for e in status.get("inventory") or []}
    # With pathPattern the names come from the sources, whose digest is unchanged.
    listed = {a.name for a in generator.spec.artifacts}
    if not generator.spec.path_pattern and set(inventory) != listed:
        return False
    # An ExternalArtifact of this generator deleted or added by hand is drift too.
    if {k.name for k in produced_by(run.ctx.store, run.key)} != set(inventory):
        return False
    for name, entry in inventory.items():
        doc = run.ctx.store.get(_artifact_key(run.key, str(name)))
        artifact = ((doc or {}).get("status") or {}).get("artifact") or {}
        if artifact.get("digest") != entry.get("digest"):
            return False
        if not run.storage.verify(str(artifact.get("path", "")), str(artifact["digest"])):
            return False
    return True


def _fetch(run: SourceRun, observed: dict[str, ObservedSource]) -> dict[str, Path]:
    """Each source's extracted tree (shared, read-only), downloaded by url and verified digest."""
    trees = {}
    for alias, source in observed.items():
        try:
            trees[alias] = fetch_artifact(
                source.url, source.digest, cache_dir=run.ctx.settings.cache_dir
            )
        except ArtifactError as err:
            raise Transient(SOURCE_FETCH_FAILED, f"fetch sources failed: {alias}: {err}") from err
    return trees


@dataclass(frozen=True)
class _Built:
    """One artifact built in the scratch directory, not yet published."""

    name: str
    file: Path
    filename: str
    revision: str
    origin_revision: str
    labels: dict[str, str]


def _build(
    request: ArtifactRequest,
    *,
    trees: dict[str, Path],
    listings: dict[str, SourceTree],
    observed: dict[str, ObservedSource],
    scratch: Path,
) -> _Built:
    artifact = request.artifact
    staging = scratch / "staging" / artifact.name
    staging.mkdir(parents=True)
    try:
        for op in artifact.copy_:
            alias = op.source_alias
            steps = plan_copy(op, listings[alias], staged_dir=lambda p: (staging / p).is_dir())
            apply_steps(steps, source_root=trees[alias], staging=staging)
        filename = f"{content_hash(staging, prefix=artifact.name)}.tar.gz"
        tarball = build_tarball(
            staging, scratch / "out" / artifact.name / filename, matcher=_MATCHER
        )
    except CopyError as err:
        raise Transient(BUILD_FAILED, f"{artifact.name} build failed: {err}") from err
    except (ArchiveError, OSError) as err:
        raise Transient(
            BUILD_FAILED, f"{artifact.name} build failed: {err}", condition=STORAGE_OPERATION_FAILED
        ) from err
    revision = f"latest@{tarball.digest}"
    if artifact.revision:
        revision = observed[artifact.revision.removeprefix("@")].revision
    origin = ""
    if artifact.origin_revision:
        source = observed[artifact.origin_revision.removeprefix("@")]
        origin = source.origin_revision or source.revision
    return _Built(artifact.name, tarball.path, filename, revision, origin, request.labels)


def _disabled(generator: ArtifactGenerator) -> bool:
    return generator.metadata.annotations.get(RECONCILE_ANNOTATION, "").lower() == "disabled"


def _produce(run: SourceRun) -> Produced:
    generator: ArtifactGenerator = run.obj
    if _disabled(generator):
        said = f"reconciliation disabled by the annotation {RECONCILE_ANNOTATION}"
        return Produced("", changed=False, artifact=False, ready_message=said)
    refs = source_keys(generator, run.key)
    uses = [c for ref in refs.values() for c in candidates(ref, run.key.scope)]
    DependentsIndex(run.ctx.client).set_uses(run.key, uses)
    refuse_cross_namespace(run.ctx.settings, run.key, refs)
    observed = _observe(run, generator)
    digest = hash_sources(observed)
    if _up_to_date(run, generator, digest):
        names = [str(e.get("name")) for e in run.status.get("inventory") or []]
        for name in names:
            answer_request(run.ctx.store, _artifact_key(run.key, name))
        return Produced(digest, changed=False, artifact=False, ready_message=_succeeded(names))
    trees = _fetch(run, observed)
    try:
        listings = {alias: scan_tree(tree) for alias, tree in trees.items()}
    except CopyError as err:
        raise Transient(SOURCE_FETCH_FAILED, f"fetch sources failed: {err}") from err
    try:
        requests = artifact_requests(generator.spec, listings)
    except ExpandError as err:
        raise Stalled(BUILD_FAILED, f"failed to expand path pattern: {err}") from err
    with tempfile.TemporaryDirectory(prefix="sluice-generator-") as scratch:
        # Every artifact is built before any is published: a copy that fails
        # leaves all of them as they were.
        built = [
            _build(r, trees=trees, listings=listings, observed=observed, scratch=Path(scratch))
            for r in requests
        ]
        published = [
            publish(
                run,
                name=b.name,
                file=b.file,
                filename=b.filename,
                revision=b.revision,
                origin_revision=b.origin_revision,
                labels=b.labels,
            )
            for b in built
        ]
    _collect_orphans(run, keep={b.name for b in built})
    run.status["inventory"] = [_inventory_entry(p) for p in published]
    run.status["observedSourcesDigest"] = digest
    changed = [p for p in published if p.changed]
    for item in changed:
        _announce(run.ctx, item)
    message = _succeeded([b.name for b in built])
    return Produced(digest, changed=bool(changed), artifact=False, ready_message=message)


def _succeeded(names: list[str]) -> str:
    return f"reconciliation succeeded, generated {len(names)} artifact(s)"


def _inventory_entry(published: Published) -> dict[str, Any]:
    return {
        "name": published.key.name,
        "namespace": published.key.namespace,
        "digest": published.artifact["digest"],
        "filename": Path(str(published.artifact["path"])).name,
    }


def _collect_orphans(run: SourceRun, *, keep: set[str]) -> None:
    """Delete the ExternalArtifacts this generator made that it no longer lists."""
    for key in produced_by(run.ctx.store, run.key):
        if key.name not in keep:
            delete_external_artifact(run.ctx.store, run.storage, key)


def _announce(ctx: WorkerContext, published: Published) -> None:
    """Tell consumers (Kustomizations, generators) the ExternalArtifact has a new artifact."""
    revision = str(published.artifact["revision"])
    digest = str(published.artifact["digest"])
    meta = {"source.toolkit.fluxcd.io/revision": revision}
    ctx.emit(
        "revision-changed",
        published.key,
        reason="NewRevision",
        revision=revision,
        message=f"new revision '{revision}'",
        metadata=meta,
    )
    ctx.emit(
        "artifact-ready",
        published.key,
        reason="NewArtifact",
        revision=revision,
        message=f"stored artifact with digest '{digest}'",
        metadata={**meta, "source.toolkit.fluxcd.io/digest": digest},
    )


def _deleted(ctx: WorkerContext, key: ObjectKey) -> None:
    """The generator is gone: so are its ExternalArtifacts and files, as source-watcher's."""
    storage = storage_for(ctx)
    for artifact in produced_by(ctx.store, key):
        delete_external_artifact(ctx.store, storage, artifact)
    DependentsIndex(ctx.client).drop(key)


ARTIFACT_GENERATOR = SourceKind(
    kind="ArtifactGenerator", model=ArtifactGenerator, produce=_produce, deleted=_deleted
)
