"""Reconcile one object of an image kind: the loop ImageRepository, ImagePolicy and
ImageUpdateAutomation share.

The shape is the source service's (``services/source/reconcile.py``) and
Flux's: guard clauses (deleted, suspended, stalled at this generation), then
the kind's own step (``scan.py``, ``choose.py``, ``automation.py``), then one
status write at the end. A failure is one of the three kinds of
``shared.reconcile`` (an unexpected exception is Transient,
ReconciliationFailed), recorded on Ready with the kind's Flux reason and
requeued by its kind.

The status is written only when it changed: a scan that found the same tags,
a policy that chose the same tag, leave the object as it was (no write, no
watcher wake-up, no event). What did change is announced after the write
with one ``revision-changed`` event (:class:`News`), which the image service
itself takes to wake the objects that follow this one (``tasks.on_event``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.api.conditions import SUCCEEDED, Outcome, summarize
from shared.api.meta import ApiObject
from shared.dependents import DependentsIndex
from shared.keys import ObjectKey
from shared.reconcile import (
    ReconcileError,
    Stalled,
    Waiting,
    as_failure,
    conclude,
    parse_or_stall,
    record_failure,
    stalled_at_generation,
    update_status,
)
from shared.scheduler import due_at
from shared.worker import WorkerContext, requested_at

__all__ = ["Done", "ImageKind", "ImageRun", "News", "Requester", "Retrier", "reconcile_image"]

log = logging.getLogger(__name__)

# The longest delay of a retry sent as a Celery countdown (held unacked until it
# runs, so well below the broker's visibility timeout).
UNTRACKED_RETRY_CAP = 300.0
# Requeue cap of a failed object without spec.interval (an ImagePolicy that
# reflects no digest: it runs again when its ImageRepository's tags change).
DEFAULT_RETRY_SECONDS = 600.0

Requester = Callable[[ObjectKey], None]
"""Asks for a reconcile of another object (a GitRepository after a push), coalesced."""
Retrier = Callable[[ObjectKey, float], None]
"""Runs this object's reconcile again in so many seconds (not coalesced)."""


@dataclass(frozen=True)
class News:
    """What changed in a run, for the ``revision-changed`` event sent after the status write."""

    message: str
    revision: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """A step's success: Ready's message (and reason), and the news, if anything changed."""

    message: str
    reason: str = SUCCEEDED
    news: News | None = None


@dataclass
class ImageRun:
    """One reconcile of one object, as a kind's step sees it.

    ``status`` is this run's copy, which the step fills; ``request`` asks for
    another object's reconcile.
    """

    ctx: WorkerContext
    key: ObjectKey
    obj: Any
    status: dict[str, Any]
    generation: int
    request: Requester


@dataclass(frozen=True)
class ImageKind:
    """One image kind: its model, its step, and what a deleted object leaves to clean up."""

    kind: str
    model: type[ApiObject]
    step: Callable[[ImageRun], Done]
    deleted: Callable[[WorkerContext, ObjectKey], None] | None = None


def reconcile_image(
    ctx: WorkerContext,
    key: ObjectKey,
    kind: ImageKind,
    *,
    request: Requester,
    retry: Retrier | None = None,
) -> None:
    """One reconcile of one image object; the status is written once, at the end, if changed.

    A failed object the scheduler does not track (an ImagePolicy without
    ``interval`` runs only when woken) is tried again through ``retry``, after
    its Waiting delay or ``requeue_dependency``: a registry that failed a
    digest read must not leave the policy failed until the tags change.
    """
    doc = ctx.store.get(key)
    if doc is None:
        DependentsIndex(ctx.client).drop(key)
        if kind.deleted is not None:
            kind.deleted(ctx, key)
        return
    obj = parse_or_stall(ctx, key, doc, kind.model)
    spec = getattr(obj, "spec", None)
    if obj is None or getattr(spec, "suspend", False) or stalled_at_generation(doc):
        return
    before: dict[str, Any] = doc.get("status") or {}
    status = copy.deepcopy(before)
    generation = int(doc["metadata"].get("generation", 1))
    token = requested_at(doc)
    failure: ReconcileError | None = None
    done: Done | None = None
    try:
        done = kind.step(ImageRun(ctx, key, obj, status, generation, request))
        summarize(
            status, Outcome.SUCCEEDED, message=done.message, reason=done.reason,
            generation=generation,
        )  # fmt: skip
    except Exception as err:
        failure = as_failure(err)
        if not isinstance(err, ReconcileError):
            log.exception("reconcile of %s failed unexpectedly", key)
        record_failure(status, failure, generation=generation)
    finally:
        if token is not None:
            status["lastHandledReconcileAt"] = token
        if status != before:
            _write(ctx, key, status)
    interval = getattr(spec, "interval_seconds", None)
    conclude(ctx, key, failure=failure, retry_interval=float(interval or DEFAULT_RETRY_SECONDS))
    if failure is not None and retry is not None and _untracked(ctx, key, failure):
        waited = failure.retry_after if isinstance(failure, Waiting) else None
        retry(key, min(waited or ctx.settings.requeue_dependency, UNTRACKED_RETRY_CAP))
    if done is not None and done.news is not None:
        news = done.news
        ctx.emit(
            "revision-changed",
            key,
            reason=done.reason,
            revision=news.revision,
            message=news.message,
            metadata=news.metadata,
        )


def _untracked(ctx: WorkerContext, key: ObjectKey, failure: ReconcileError) -> bool:
    """Whether nothing would run ``key`` again after ``failure`` (no stall, not scheduled)."""
    return not isinstance(failure, Stalled) and due_at(ctx.client, key) is None


def _write(ctx: WorkerContext, key: ObjectKey, status: dict[str, Any]) -> None:
    """The one status write, on the newest resourceVersion."""

    def change(_doc: dict[str, Any], current: dict[str, Any]) -> None:
        current.clear()
        current.update(status)

    update_status(ctx.store, key, change)
