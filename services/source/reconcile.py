"""Reconcile a GitRepository: resolve the ref, fetch into the mirror, store an artifact, report.

The steps follow source-controller: guard clauses (deleted, suspended, stalled
at this generation), then fetch (cheap when the commit is the one already
stored), archive, store, collect old artifacts. Whatever happens, the status is
written once in the ``finally`` (on the newest resourceVersion); a failure is one
of the three kinds of ``shared.reconcile`` (an unexpected exception is Transient,
ReconciliationFailed) and is requeued by its kind; events go out only when
something changed.
"""

from __future__ import annotations

import base64
import copy
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.source.artifact import artifact_filename, revision_commit
from services.source.git import FetchResult, archive_commit, fetch
from services.source.refs import GitRef
from services.source.storage import Storage, StorageError
from shared.api import GitRepository
from shared.api.conditions import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_UP_TO_DATE,
    FETCH_FAILED,
    STORAGE_OPERATION_FAILED,
    SUCCEEDED,
    TRUE,
    Outcome,
    format_time,
    remove_condition,
    set_condition,
    summarize,
)
from shared.git import GitAuth, GitError, InvalidSourceError
from shared.keys import ObjectKey
from shared.reconcile import (
    ReconcileError,
    Stalled,
    Transient,
    as_failure,
    conclude,
    parse_or_stall,
    record_failure,
    stalled_at_generation,
    update_status,
)
from shared.toolrun import ToolLimits
from shared.worker import WorkerContext, requested_at

__all__ = ["reconcile_git_repository", "storage_for"]

KIND = "GitRepository"

log = logging.getLogger(__name__)


def storage_for(ctx: WorkerContext) -> Storage:
    """The artifact store of this installation."""
    return Storage(ctx.settings.artifact_dir, retention=ctx.settings.artifact_retention)


def _auth(ctx: WorkerContext, repo: GitRepository) -> GitAuth | None:
    if repo.spec.secret_ref is None:
        return None
    key = ObjectKey("Secret", repo.namespace, repo.spec.secret_ref.name)
    doc = ctx.store.get(key)
    if doc is None:
        raise Transient(
            "AuthenticationFailed",
            f"secret '{repo.namespace}/{key.name}' named in spec.secretRef not found",
            condition=FETCH_FAILED,
        )
    data = {k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()}
    return GitAuth.from_secret(data)


def _ref(repo: GitRepository) -> GitRef:
    ref = repo.spec.ref
    if ref is None:
        return GitRef(branch="master")
    return GitRef(
        branch=ref.branch or "",
        tag=ref.tag or "",
        semver=ref.semver or "",
        name=ref.name or "",
        commit=ref.commit or "",
    )


def _stored_commit(storage: Storage, repo: GitRepository, status: dict[str, Any]) -> str:
    """The commit of the stored artifact, when it is still there and built the same way."""
    artifact = status.get("artifact") or {}
    if not artifact or status.get("observedIgnore") != repo.spec.ignore:
        return ""
    try:
        if not storage.verify(str(artifact.get("path", "")), str(artifact.get("digest", ""))):
            return ""
    except StorageError:
        return ""
    return revision_commit(str(artifact.get("revision", "")))


def _store_artifact(
    ctx: WorkerContext, storage: Storage, repo: GitRepository, mirror: Path, commit: str
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sluice-artifact-") as scratch:
        tarball = archive_commit(
            mirror,
            commit,
            Path(scratch) / "artifact.tar.gz",
            ignore=repo.spec.ignore,
            timeout=repo.spec.timeout_seconds,
        )
        stored = storage.store(
            tarball.path,
            kind=KIND,
            namespace=repo.namespace,
            name=repo.name,
            filename=artifact_filename(commit),
        )
    storage.collect(kind=KIND, namespace=repo.namespace, name=repo.name, keep=[stored.path])
    return {
        "path": stored.path,
        "url": f"{ctx.settings.artifact_url.rstrip('/')}/{stored.path}",
        "digest": stored.digest,
        "size": stored.size,
        "lastUpdateTime": format_time(datetime.now(UTC)),
    }


def reconcile_git_repository(ctx: WorkerContext, key: ObjectKey) -> None:
    """One reconcile of one GitRepository; the status is written once, at the end."""
    storage = storage_for(ctx)
    doc = ctx.store.get(key)
    if doc is None:
        storage.remove_all(kind=KIND, namespace=key.namespace, name=key.name)
        return
    repo = parse_or_stall(ctx, key, doc, GitRepository)
    if repo is None or repo.spec.suspend or stalled_at_generation(doc):
        return
    status: dict[str, Any] = copy.deepcopy(doc.get("status") or {})
    generation = int(doc["metadata"].get("generation", 1))
    token = requested_at(doc)
    failure: ReconcileError | None = None
    changed: FetchResult | None = None
    try:
        changed = _steps(ctx, storage, repo, status, generation)
    except Exception as err:
        failure = _git_failure(err) if isinstance(err, GitError) else as_failure(err)
        if not isinstance(err, GitError | ReconcileError):
            log.exception("reconcile of %s failed unexpectedly", key)
        if failure.condition:
            set_condition(
                status, failure.condition, TRUE, failure.reason, failure.message, generation
            )
        record_failure(status, failure, generation=generation)
    finally:
        _finish(ctx, key, status, token)
    conclude(ctx, key, failure=failure, retry_interval=repo.spec.interval_seconds)
    if changed is not None:
        _announce(ctx, key, changed, status["artifact"])


def _steps(
    ctx: WorkerContext,
    storage: Storage,
    repo: GitRepository,
    status: dict[str, Any],
    generation: int,
) -> FetchResult | None:
    """Fetch, and store a new artifact when the commit changed; the fetch when it did."""
    auth = _auth(ctx, repo)
    result = fetch(
        repo.spec.url,
        _ref(repo),
        cache_dir=ctx.settings.cache_dir / "git",
        auth=auth,
        last_commit=_stored_commit(storage, repo, status),
        timeout=repo.spec.timeout_seconds,
        limits=ToolLimits.from_settings(ctx.settings, timeout=repo.spec.timeout_seconds),
    )
    if result.changed:
        try:
            artifact = _store_artifact(ctx, storage, repo, result.mirror, result.commit)
        except (StorageError, OSError) as err:
            raise Transient(
                "ArchiveOperationFailed", str(err), condition=STORAGE_OPERATION_FAILED
            ) from err
        status["artifact"] = {"revision": result.revision, **artifact}
        status["observedIgnore"] = repo.spec.ignore
    message = f"stored artifact for revision '{result.revision}'"
    remove_condition(status, FETCH_FAILED)
    remove_condition(status, STORAGE_OPERATION_FAILED)
    set_condition(status, ARTIFACT_IN_STORAGE, TRUE, SUCCEEDED, message, generation)
    summarize(
        status,
        Outcome.SUCCEEDED,
        message=message,
        reason=SUCCEEDED if result.changed else ARTIFACT_UP_TO_DATE,
        generation=generation,
    )
    return result if result.changed else None


def _announce(
    ctx: WorkerContext, key: ObjectKey, result: FetchResult, artifact: dict[str, Any]
) -> None:
    revision = result.revision
    meta = {"source.toolkit.fluxcd.io/revision": revision}
    ctx.emit(
        "revision-changed",
        key,
        reason="NewRevision",
        revision=revision,
        message=f"new commit '{result.message}'",
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


def _git_failure(err: GitError) -> ReconcileError:
    kind = Stalled if isinstance(err, InvalidSourceError) else Transient
    return kind(err.reason, str(err), condition=FETCH_FAILED)


def _finish(ctx: WorkerContext, key: ObjectKey, status: dict[str, Any], token: str | None) -> None:
    """The one status write, on the newest resourceVersion."""
    if token is not None:
        status["lastHandledReconcileAt"] = token

    def change(_doc: dict[str, Any], current: dict[str, Any]) -> None:
        current.clear()
        current.update(status)

    update_status(ctx.store, key, change)
