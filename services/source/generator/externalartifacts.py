"""ExternalArtifacts in the store, as an ArtifactGenerator writes them (source-watcher's shape).

Each generated artifact is one ExternalArtifact in the generator's namespace
(and Cluster scope): ``spec.sourceRef`` names the generator, the labels say who
manages it, ``status.artifact`` has the url, digest and revision consumers
fetch by, and Ready is True once it is stored. Its file lives in the artifact
storage under ``externalartifact/<namespace>/<name>/``. An ExternalArtifact
another object produces is never taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.source.reconcile import SourceRun, storage_kind
from services.source.storage import Storage, StorageError
from shared.api.artifactgenerator import ArtifactGenerator
from shared.api.conditions import (
    READY,
    RECONCILIATION_FAILED,
    STORAGE_OPERATION_FAILED,
    SUCCEEDED,
    TRUE,
    format_time,
    set_condition,
)
from shared.api.kinds import GENERATOR_GROUP, SOURCE_GROUP
from shared.keys import ObjectKey
from shared.reconcile import Transient
from shared.store import Store
from shared.tarball import file_digest
from shared.worker import requested_at

__all__ = [
    "EXTERNAL_ARTIFACT",
    "GENERATOR_LABEL",
    "MANAGED_BY_LABEL",
    "Published",
    "answer_request",
    "delete_external_artifact",
    "produced_by",
    "producer_of",
    "producers_of",
    "publish",
]

EXTERNAL_ARTIFACT = "ExternalArtifact"
GENERATOR_KIND = "ArtifactGenerator"
GENERATOR_LABEL = "source.extensions.fluxcd.io/generator"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "sluice"
# Where Flux keeps a source's origin revision (a Git commit) in artifact metadata.
ORIGIN_REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class Published:
    """One ExternalArtifact after a run: its artifact, and whether consumers have news."""

    key: ObjectKey
    artifact: dict[str, Any]
    changed: bool


def producer_of(doc: dict[str, Any] | None, scope: str) -> ObjectKey | None:
    """The ArtifactGenerator an ExternalArtifact document names in spec.sourceRef, if any."""
    ref = ((doc or {}).get("spec") or {}).get("sourceRef") or {}
    if ref.get("kind") != GENERATOR_KIND or not ref.get("name"):
        return None
    namespace = ref.get("namespace") or (doc or {})["metadata"].get("namespace", "default")
    return ObjectKey(GENERATOR_KIND, namespace, ref["name"], scope)


def produced_by(store: Store, generator: ObjectKey) -> list[ObjectKey]:
    """The ExternalArtifacts of ``generator``'s namespace and scope that name it as producer."""
    docs = store.list(EXTERNAL_ARTIFACT, generator.namespace, scope=generator.scope)
    return [
        ObjectKey.of(doc, generator.scope)
        for doc in docs
        if producer_of(doc, generator.scope) == generator
    ]


def producers_of(store: Store, key: ObjectKey) -> list[ObjectKey]:
    """The generators to run for a request about ExternalArtifact ``key``.

    Its producer while it exists; once deleted by hand, the generators of its
    namespace that list it in their inventory (they make it again).
    """
    doc = store.get(key)
    if doc is not None:
        producer = producer_of(doc, key.scope)
        return [producer] if producer is not None else []
    return [
        ObjectKey.of(gen, key.scope)
        for gen in store.list(GENERATOR_KIND, key.namespace, scope=key.scope)
        if any(e.get("name") == key.name for e in (gen.get("status") or {}).get("inventory") or [])
    ]


def answer_request(store: Store, key: ObjectKey) -> None:
    """Record a pending ``reconcile.fluxcd.io/requestedAt`` of an unchanged ExternalArtifact."""
    doc = store.get(key)
    status = (doc or {}).get("status") or {}
    token = requested_at(doc) if doc else None
    if (
        token is not None
        and status.get("artifact")
        and token != status.get("lastHandledReconcileAt")
    ):
        write_status(store, key, status["artifact"])


def _document(
    generator: ArtifactGenerator, key: ObjectKey, name: str, captured: dict[str, str]
) -> dict[str, Any]:
    common = generator.spec.common_metadata
    labels = {**(common.labels if common else {}), **captured}
    # Reserved: common metadata cannot override who manages the object.
    labels[MANAGED_BY_LABEL] = MANAGER
    labels[GENERATOR_LABEL] = generator.metadata.uid or key.name
    metadata: dict[str, Any] = {"name": name, "namespace": key.namespace, "labels": labels}
    if common and common.annotations:
        metadata["annotations"] = dict(common.annotations)
    return {
        "apiVersion": f"{SOURCE_GROUP}/v1",
        "kind": EXTERNAL_ARTIFACT,
        "metadata": metadata,
        "spec": {
            "sourceRef": {
                "apiVersion": f"{GENERATOR_GROUP}/v1beta1",
                "kind": GENERATOR_KIND,
                "name": key.name,
                "namespace": key.namespace,
            }
        },
    }


def _store_file(
    run: SourceRun, key: ObjectKey, file: Path, *, filename: str
) -> tuple[str, str, int]:
    """Move the artifact file into storage; older files of this artifact are collected."""
    kind = storage_kind(key)
    try:
        stored = run.storage.store(
            file, kind=kind, namespace=key.namespace, name=key.name, filename=filename
        )
        run.storage.collect(kind=kind, namespace=key.namespace, name=key.name, keep=[stored.path])
    except (StorageError, OSError) as err:
        raise Transient(
            "ArchiveOperationFailed", str(err), condition=STORAGE_OPERATION_FAILED
        ) from err
    return stored.path, stored.digest, stored.size


def publish(
    run: SourceRun,
    *,
    name: str,
    file: Path,
    filename: str,
    revision: str,
    origin_revision: str,
    labels: dict[str, str],
) -> Published:
    """Store the artifact of ExternalArtifact ``name`` unless it holds these bytes already.

    The same digest and revision as the stored one make nothing new: no new
    file, no new ``lastUpdateTime``, ``changed`` False (only the origin revision
    in ``metadata`` is brought up to date).
    """
    key = ObjectKey(EXTERNAL_ARTIFACT, run.key.namespace, name, run.key.scope)
    current = run.ctx.store.get(key)
    owner = producer_of(current, key.scope)
    if current is not None and owner != run.key:
        by = f"{owner.kind} '{owner.namespace}/{owner.name}'" if owner else "another producer"
        raise Transient(
            RECONCILIATION_FAILED,
            f"ExternalArtifact '{key.namespace}/{name}' exists and is produced by {by}: "
            "rename the artifact or delete that object",
        )
    previous = ((current or {}).get("status") or {}).get("artifact") or {}
    metadata = {ORIGIN_REVISION: origin_revision} if origin_revision else {}
    digest = file_digest(file)
    unchanged = (
        previous.get("digest") == digest
        and previous.get("revision") == revision
        and run.storage.verify(str(previous.get("path", "")), digest)
    )
    if unchanged:
        # The origin revision (the monorepo's commit) follows the source, as in
        # source-watcher, without making the artifact new.
        artifact = {k: v for k, v in previous.items() if k != "metadata"}
        if metadata:
            artifact["metadata"] = metadata
    else:
        path, digest, size = _store_file(run, key, file, filename=filename)
        artifact = {
            "revision": revision,
            "path": path,
            "url": f"{run.ctx.settings.artifact_url.rstrip('/')}/{path}",
            "digest": digest,
            "size": size,
            "lastUpdateTime": format_time(datetime.now(UTC)),
        }
        if metadata:
            artifact["metadata"] = metadata
    run.ctx.store.apply(_document(run.obj, run.key, name, labels), scope=key.scope)
    write_status(run.ctx.store, key, artifact)
    changed = (previous.get("digest"), previous.get("revision")) != (digest, revision)
    return Published(key, artifact, changed)


def write_status(store: Store, key: ObjectKey, artifact: dict[str, Any]) -> None:
    """The ExternalArtifact's status: its artifact, Ready, and the reconcile request it answers."""

    def change(doc: dict[str, Any], status: dict[str, Any]) -> None:
        status["artifact"] = artifact
        generation = int(doc["metadata"].get("generation", 1))
        set_condition(status, READY, TRUE, SUCCEEDED, "Artifact is ready", generation)
        token = requested_at(doc)
        if token is not None:
            # `sluice reconcile source external` waits for this, as for any source.
            status["lastHandledReconcileAt"] = token

    store.change_status(key, change)


def delete_external_artifact(store: Store, storage: Storage, key: ObjectKey) -> None:
    """Remove an ExternalArtifact and its files."""
    store.delete(key)
    storage.remove_all(kind=storage_kind(key), namespace=key.namespace, name=key.name)
