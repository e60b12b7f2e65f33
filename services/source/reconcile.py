"""Reconcile one source object of any kind: the loop every source kind shares.

The steps follow source-controller's shape (FLUX-API §2.7): guard clauses
(deleted, suspended, stalled at this generation), then the kind's own
``produce`` step (fetch, build, store an artifact when the revision changed),
then one status write in the ``finally`` (on the newest resourceVersion). A
failure is one of the three kinds of ``shared.reconcile`` (an unexpected
exception is Transient, ReconciliationFailed) and is requeued by its kind;
events go out only when the artifact changed.

A kind plugs in as one :class:`SourceKind`: its model and a ``produce``
function that gets a :class:`SourceRun` (the object, its status copy and the
helpers every kind needs: stored artifact, storage, Secrets) and returns what
it :class:`Produced`.
"""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.source.storage import Storage, StorageError
from shared.api.conditions import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_UP_TO_DATE,
    AUTHENTICATION_FAILED,
    BUILD_FAILED,
    FETCH_FAILED,
    INCLUDE_UNAVAILABLE,
    STORAGE_OPERATION_FAILED,
    SUCCEEDED,
    TRUE,
    Outcome,
    format_time,
    remove_condition,
    set_condition,
    summarize,
)
from shared.api.meta import ApiObject
from shared.keys import ObjectKey
from shared.reconcile import (
    ReconcileError,
    Transient,
    as_failure,
    conclude,
    parse_or_stall,
    record_failure,
    stalled_at_generation,
    update_status,
)
from shared.scopes import resolve
from shared.worker import WorkerContext, requested_at

__all__ = [
    "Produced",
    "SourceKind",
    "SourceRun",
    "reconcile_source",
    "storage_for",
    "storage_kind",
]

log = logging.getLogger(__name__)

# For a kind without spec.interval (an ArtifactGenerator follows its sources).
_DEFAULT_RETRY_SECONDS = 600.0

# The negative conditions a step of some source kind sets; a successful run
# clears them all, as source-controller does at the end of a good reconcile.
_FAILURE_CONDITIONS = (
    FETCH_FAILED,
    BUILD_FAILED,
    STORAGE_OPERATION_FAILED,
    INCLUDE_UNAVAILABLE,
)


@dataclass(frozen=True)
class Produced:
    """What a kind's ``produce`` step made of one run.

    ``revision`` is the artifact's Flux revision; ``changed`` says a new
    artifact was stored this run; ``news`` is the revision-changed event's
    message then (``new commit 'fix'``, ``new chart version '1.2.3'``).
    """

    revision: str
    changed: bool
    news: str = ""
    # False for a kind that keeps no artifact of its own (a HelmRepository of
    # type oci, an ArtifactGenerator): Ready then says ``ready_message``.
    artifact: bool = True
    ready_message: str = ""
    # The kind's own success reason for Ready and ArtifactInStorage, as Flux's
    # HelmChart says ChartPullSucceeded / ChartPackageSucceeded ("": the generic ones).
    reason: str = ""

    @property
    def message(self) -> str:
        """The Ready message (and ArtifactInStorage's, for a kind with an artifact)."""
        return self.ready_message or f"stored artifact for revision '{self.revision}'"


def storage_for(ctx: WorkerContext) -> Storage:
    """The artifact store of this installation."""
    return Storage(ctx.settings.artifact_dir, retention=ctx.settings.artifact_retention)


def storage_kind(key: ObjectKey) -> str:
    """The kind folder of ``key``'s artifacts: ``gitrepository``, ``gitrepository.<scope>``.

    A lowercase kind holds no ``.``, so a Cluster scope's artifacts never share a
    folder with the fleet-wide object of the same namespace and name.
    """
    return f"{key.kind}.{key.scope}" if key.scope else key.kind


@dataclass
class SourceRun:
    """One reconcile of one source object, as a kind's ``produce`` step sees it.

    ``status`` is this run's copy: ``produce`` records what it observed in it
    (``observedIgnore``, ``url``...), :meth:`store` sets ``status.artifact``.
    """

    ctx: WorkerContext
    key: ObjectKey
    obj: Any
    status: dict[str, Any]
    generation: int
    storage: Storage

    def stored(self) -> dict[str, Any] | None:
        """``status.artifact`` when its file is still in storage with its digest, else None."""
        artifact = self.status.get("artifact") or {}
        if not artifact:
            return None
        try:
            if self.storage.verify(str(artifact.get("path", "")), str(artifact.get("digest", ""))):
                return dict(artifact)
        except StorageError:
            pass
        return None

    def store(self, file: Path, *, filename: str, revision: str) -> dict[str, Any]:
        """Move ``file`` into storage as this object's artifact; older ones are collected.

        Sets and returns ``status.artifact``; a storage failure is Transient,
        StorageOperationFailed.
        """
        kind = storage_kind(self.key)
        namespace, name = self.key.namespace, self.key.name
        try:
            stored = self.storage.store(
                file, kind=kind, namespace=namespace, name=name, filename=filename
            )
            self.storage.collect(kind=kind, namespace=namespace, name=name, keep=[stored.path])
        except (StorageError, OSError) as err:
            raise Transient(
                "ArchiveOperationFailed", str(err), condition=STORAGE_OPERATION_FAILED
            ) from err
        artifact = {
            "revision": revision,
            "path": stored.path,
            "url": f"{self.ctx.settings.artifact_url.rstrip('/')}/{stored.path}",
            "digest": stored.digest,
            "size": stored.size,
            "lastUpdateTime": format_time(datetime.now(UTC)),
        }
        self.status["artifact"] = artifact
        return artifact

    def secret(self, name: str, *, field: str) -> dict[str, bytes]:
        """The decoded data of Secret ``name`` in the object's namespace (and scope).

        ``field`` is the spec field naming it (``spec.secretRef``), for the
        message when it is missing: Transient, AuthenticationFailed.
        """
        ref = ObjectKey("Secret", self.key.namespace, name)
        _, doc = resolve(self.ctx.store, ref, self.key.scope)
        if doc is None:
            raise Transient(
                AUTHENTICATION_FAILED,
                f"secret '{self.key.namespace}/{name}' named in {field} not found",
                condition=FETCH_FAILED,
            )
        return {k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()}


@dataclass(frozen=True)
class SourceKind:
    """One source kind: its model and the step that produces its artifact.

    ``deleted`` runs once the object is gone, for a kind that made more than its
    own artifact (an ArtifactGenerator's ExternalArtifacts).
    """

    kind: str
    model: type[ApiObject]
    produce: Callable[[SourceRun], Produced]
    deleted: Callable[[WorkerContext, ObjectKey], None] | None = None


def reconcile_source(ctx: WorkerContext, key: ObjectKey, source: SourceKind) -> None:
    """One reconcile of one source object; the status is written once, at the end."""
    storage = storage_for(ctx)
    doc = ctx.store.get(key)
    if doc is None:
        storage.remove_all(kind=storage_kind(key), namespace=key.namespace, name=key.name)
        if source.deleted is not None:
            source.deleted(ctx, key)
        return
    obj = parse_or_stall(ctx, key, doc, source.model)
    spec = getattr(obj, "spec", None)
    if obj is None or getattr(spec, "suspend", False) or stalled_at_generation(doc):
        return
    status: dict[str, Any] = copy.deepcopy(doc.get("status") or {})
    generation = int(doc["metadata"].get("generation", 1))
    token = requested_at(doc)
    run = SourceRun(ctx, key, obj, status, generation, storage)
    failure: ReconcileError | None = None
    produced: Produced | None = None
    try:
        produced = source.produce(run)
        _succeeded(status, produced, generation)
    except Exception as err:
        failure = as_failure(err)
        if not isinstance(err, ReconcileError):
            log.exception("reconcile of %s failed unexpectedly", key)
        if failure.condition:
            set_condition(
                status, failure.condition, TRUE, failure.reason, failure.message, generation
            )
        record_failure(status, failure, generation=generation)
    finally:
        _finish(ctx, key, status, token)
    retry = float(getattr(spec, "interval_seconds", _DEFAULT_RETRY_SECONDS))
    conclude(ctx, key, failure=failure, retry_interval=retry)
    if produced is not None and produced.changed and produced.artifact:
        _announce(ctx, key, produced, status["artifact"])


def _succeeded(status: dict[str, Any], produced: Produced, generation: int) -> None:
    for condition in _FAILURE_CONDITIONS:
        remove_condition(status, condition)
    message = produced.message
    if produced.artifact:
        reason = produced.reason or SUCCEEDED
        set_condition(status, ARTIFACT_IN_STORAGE, TRUE, reason, message, generation)
    else:
        remove_condition(status, ARTIFACT_IN_STORAGE)
        status.pop("artifact", None)
    summarize(
        status,
        Outcome.SUCCEEDED,
        message=message,
        reason=produced.reason or (SUCCEEDED if produced.changed else ARTIFACT_UP_TO_DATE),
        generation=generation,
    )


def _announce(
    ctx: WorkerContext, key: ObjectKey, produced: Produced, artifact: dict[str, Any]
) -> None:
    revision = produced.revision
    meta = {"source.toolkit.fluxcd.io/revision": revision}
    ctx.emit(
        "revision-changed",
        key,
        reason="NewRevision",
        revision=revision,
        message=produced.news or f"new revision '{revision}'",
        metadata=meta,
    )
    digest = artifact["digest"]
    ctx.emit(
        "artifact-ready",
        key,
        reason="NewArtifact",
        revision=revision,
        message=f"stored artifact with digest '{digest}'",
        metadata={**meta, "source.toolkit.fluxcd.io/digest": digest},
    )


def _finish(ctx: WorkerContext, key: ObjectKey, status: dict[str, Any], token: str | None) -> None:
    """The one status write, on the newest resourceVersion."""
    if token is not None:
        status["lastHandledReconcileAt"] = token

    def change(_doc: dict[str, Any], current: dict[str, Any]) -> None:
        current.clear()
        current.update(status)

    update_status(ctx.store, key, change)
