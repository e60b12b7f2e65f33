"""The three ways a reconcile fails, as Flux has them, and what each does to status and schedule.

::

    ReconcileError   a step failed, with a Flux reason and a message
    ├── Stalled      terminal until the spec changes: Ready=False, Stalled=True,
    │                an error event, no requeue until the generation changes
    ├── Waiting      not an error: a dependency or the source is not ready yet;
    │                Ready=False, an info event, a fixed delay (retryInterval or given)
    └── Transient    worth retrying: Ready=False, an error event, exponential backoff
                     (shared/backoff.py) capped at retryInterval

Any other exception (Redis down, an OSError, a bug) is Transient with reason
ReconciliationFailed: a reconcile never ends with a stale status or a silent
stop until the next interval.

A reconcile writes its status once, at the end, with ``update_status``: a
read-modify-write on the newest resourceVersion, retried on a conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis

from shared.api import InvalidObjects, parse_as
from shared.api.conditions import (
    READY,
    RECONCILIATION_FAILED,
    STALLED,
    TRUE,
    Outcome,
    get_condition,
    summarize,
)
from shared.api.meta import ApiObject
from shared.backoff import failure_delay, reset_failures
from shared.events import Severity
from shared.keys import ObjectKey
from shared.store import Store
from shared.worker import WorkerContext, requested_at

__all__ = [
    "ReconcileError",
    "Stalled",
    "Transient",
    "Waiting",
    "as_failure",
    "conclude",
    "parse_or_stall",
    "record_failure",
    "retry_delay",
    "severity",
    "stalled_at_generation",
    "update_status",
]

T = TypeVar("T", bound=ApiObject)


class ReconcileError(Exception):
    """A step failed with a Flux ``reason``; ``condition`` is the step's own condition type."""

    def __init__(self, reason: str, message: str, *, condition: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.condition = condition
        # The revision the failed attempt was of, when the step that failed knew it.
        self.revision = ""


class Stalled(ReconcileError):
    """Only a change of the spec can fix this: no retry until the generation changes."""


class Waiting(ReconcileError):
    """Not a failure: something this object needs is not ready; look again after a delay."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        condition: str | None = None,
    ) -> None:
        super().__init__(reason, message, condition=condition)
        self.retry_after = retry_after


class Transient(ReconcileError):
    """Worth retrying as it is: exponential backoff."""


def as_failure(err: Exception) -> ReconcileError:
    """``err`` as one of the three kinds; an unexpected exception is Transient."""
    if isinstance(err, ReconcileError):
        return err
    return Transient(RECONCILIATION_FAILED, f"{type(err).__name__}: {err}")


def severity(failure: ReconcileError) -> Severity:
    """The event severity: waiting is news, not an alert."""
    return "info" if isinstance(failure, Waiting) else "error"


def record_failure(status: dict[str, Any], failure: ReconcileError, *, generation: int) -> None:
    """Set Ready (and Stalled or Reconciling) on ``status`` for ``failure``."""
    outcome = Outcome.STALLED if isinstance(failure, Stalled) else Outcome.FAILED
    summarize(
        status, outcome, message=failure.message, reason=failure.reason, generation=generation
    )


def retry_delay(
    client: redis.Redis,
    key: ObjectKey,
    *,
    failure: ReconcileError,
    retry_interval: float,
    scope: str = "reconcile",
) -> float | None:
    """Seconds until the next try after ``failure``; None when only a spec change helps."""
    if isinstance(failure, Stalled):
        return None
    if isinstance(failure, Waiting):
        return failure.retry_after if failure.retry_after is not None else retry_interval
    return failure_delay(client, key, cap=retry_interval, scope=scope)


def conclude(
    ctx: WorkerContext, key: ObjectKey, *, failure: ReconcileError | None, retry_interval: float
) -> None:
    """After the status write: emit a failure and requeue it by its kind, or reset the backoff."""
    if failure is None:
        reset_failures(ctx.client, key)
        return
    ctx.emit(
        "reconcile-failed",
        key,
        reason=failure.reason,
        message=failure.message,
        revision=failure.revision,
        severity=severity(failure),
    )
    delay = retry_delay(ctx.client, key, failure=failure, retry_interval=retry_interval)
    if delay is not None:
        ctx.requeue_after(key, delay)


def stalled_at_generation(doc: dict[str, Any]) -> bool:
    """Whether ``doc`` stalled at its current generation and no reconcile was asked for since.

    Such an object is not reconciled again until its spec changes (or
    ``sluice reconcile`` asks), as Flux does not requeue a stalled object.
    """
    status = doc.get("status") or {}
    stalled = get_condition(status, STALLED)
    ready = get_condition(status, READY)
    if not stalled or stalled.get("status") != TRUE or not ready:
        return False
    generation = doc["metadata"].get("generation", 1)
    if status.get("observedGeneration") != generation:
        return False
    token = requested_at(doc)
    return token is None or token == status.get("lastHandledReconcileAt")


def update_status(
    store: Store, key: ObjectKey, change: Callable[[dict[str, Any], dict[str, Any]], None]
) -> dict[str, Any] | None:
    """Read-modify-write ``status`` with ``change(doc, status)``, retrying on a conflict.

    Each write lands on the newest resourceVersion, so a concurrent writer (a
    fan-out's per-cluster runs, a ``sluice reconcile`` annotation, a spec
    change) is never overwritten with an older snapshot: the read and the write
    are one store transaction (``Store.change_status``), ``change`` run again when
    another write lands in between.
    """
    return store.change_status(key, change)


def parse_or_stall(
    ctx: WorkerContext, key: ObjectKey, doc: dict[str, Any], model: type[T]
) -> T | None:
    """The stored object as ``model``; None, after stalling it, when it no longer validates.

    Validation can tighten after an object was stored (credentials refused in a
    URL, a size limit): such an object is Stalled with the validation's message
    until its spec is fixed, instead of failing every run with no status at all.
    """
    try:
        return parse_as(doc, model, source=str(key))
    except InvalidObjects as err:
        if stalled_at_generation(doc):
            return None
        problems = "; ".join(f"{e.field}: {e.message}" for e in err.errors)
        failure = Stalled(
            RECONCILIATION_FAILED,
            f"the stored object is not valid any more: {problems}; fix it with sluice apply",
        )
        generation = int(doc["metadata"].get("generation", 1))
        update_status(
            ctx.store,
            key,
            lambda _doc, status: record_failure(status, failure, generation=generation),
        )
        conclude(ctx, key, failure=failure, retry_interval=0.0)
        return None
