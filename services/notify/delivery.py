"""Drain one Provider's outbox: send each notice in order, retry with backoff, give up at five.

Runs as the task ``notify.deliver`` under the outbox's sender lease, so a
Provider is sent to by one worker thread at a time while other Providers go
on in parallel: a hanging endpoint holds one thread for at most its timeout
per try, and only its own notices. A failed try leaves the notice at the head,
frees the thread and schedules the next run after a backoff (1, 2, 4, 8 s);
after five tries, as many as Flux's retrying client makes, or at once for an
answer no retry can change (a 4xx), the notice is dropped and counted.

The Provider's ``Ready`` condition shows delivery: False with reason
``DeliveryFailed`` while its endpoint fails, True again once a notice lands;
each change is also an event on the Provider. Neither carries the address,
token or payload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.notify.notice import PayloadError
from services.notify.outbox import Outbox, Queued
from services.notify.providers import requests_for, response_check
from services.notify.send import Sender, Sent
from services.notify.targets import TargetError, resolve_provider
from shared.api import InvalidObjects, parse_as
from shared.api.conditions import READY, Outcome, get_condition, summarize
from shared.api.provider import Provider
from shared.keys import ObjectKey
from shared.lease import LeaseBusy, default_holder
from shared.metrics import NOTICES, count
from shared.reconcile import update_status
from shared.worker import WorkerContext

__all__ = ["DELIVERED", "DELIVERY_FAILED", "MAX_ATTEMPTS", "Schedule", "deliver", "retry_delay"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
DELIVERY_FAILED = "DeliveryFailed"
DELIVERED = "Succeeded"
# Seconds a sender's lease lives without renewal (renewed while it runs).
_SENDER_TTL = 30.0

Schedule = Callable[[ObjectKey, float], None]


def retry_delay(attempts: int) -> float:
    """Seconds before try ``attempts + 1``: 1, 2, 4, 8."""
    return float(min(2 ** max(0, attempts - 1), 60))


@dataclass
class _Health:
    """The Provider's delivery condition as last written, so only changes are written."""

    ctx: WorkerContext
    key: ObjectKey
    failing: bool

    def record(self, sent: Sent, *, detail: str = "") -> None:
        if sent.ok == (not self.failing):
            return
        self.failing = not sent.ok
        message = "notices are delivered" if sent.ok else f"{sent.message}{detail}"
        generation_reason = DELIVERED if sent.ok else DELIVERY_FAILED
        outcome = Outcome.SUCCEEDED if sent.ok else Outcome.FAILED

        def change(doc: dict, status: dict) -> None:  # type: ignore[type-arg]
            generation = int(doc["metadata"].get("generation", 1))
            summarize(
                status, outcome, message=message, reason=generation_reason, generation=generation
            )

        update_status(self.ctx.store, self.key, change)
        self.ctx.emit(
            "delivery-failed" if not sent.ok else "delivered",
            self.key,
            reason=generation_reason,
            message=message,
            severity="info" if sent.ok else "error",
        )


def _provider(ctx: WorkerContext, key: ObjectKey) -> tuple[dict[str, Any], Provider | None]:
    """The stored Provider document and its model (None when gone or no longer valid)."""
    doc = ctx.store.get(key)
    if doc is None:
        return {}, None
    try:
        return doc, parse_as(doc, Provider, source=str(key))
    except InvalidObjects:
        return doc, None


def deliver(
    ctx: WorkerContext, key: ObjectKey, *, schedule: Schedule, scheduled: bool = False
) -> None:
    """Send what waits in Provider ``key``'s outbox, unless another sender is at it.

    A run woken by a new notice while a retry is scheduled leaves it to that
    retry (``scheduled`` is True for it alone, so it never waits on its own
    back-off marker, however its timer and Redis' expiry fall).
    """
    outbox = Outbox(ctx.client, key)
    if (outbox.backing_off() and not scheduled) or not len(outbox):
        return
    try:
        with outbox.sender(default_holder(), _SENDER_TTL) as lease:
            _drain(ctx, key, outbox, lost=lease.lost.is_set, schedule=schedule)
    except LeaseBusy:
        return
    # A notice queued while this run was ending found the lease still held.
    if len(outbox) and not outbox.backing_off():
        schedule(key, 0.0)


def _drop(ctx: WorkerContext, item: Queued, why: str) -> None:
    count(ctx.client, NOTICES, {"result": "dropped"})
    log.warning(
        "dropped a notice of %s for %s: %s", item.alert, item.notice.involved_object.kind, why
    )


def _drain(
    ctx: WorkerContext,
    key: ObjectKey,
    outbox: Outbox,
    *,
    lost: Callable[[], bool],
    schedule: Schedule,
) -> None:
    doc, provider = _provider(ctx, key)
    if provider is None or provider.spec.suspend:
        # Flux drops the events of a suspended or missing Provider.
        dropped = outbox.clear()
        if dropped:
            count(ctx.client, NOTICES, {"result": "dropped"}, amount=dropped)
        return
    ready = get_condition(doc.get("status"), READY) or {}
    health = _Health(ctx, key, failing=ready.get("reason") == DELIVERY_FAILED)
    try:
        target, transport = resolve_provider(ctx.store, provider, scope=key.scope)
    except TargetError as err:
        item = outbox.head()
        if item is not None:
            _failed(
                ctx,
                key,
                outbox,
                item,
                Sent(ok=False, retryable=True, message=str(err)),
                health,
                schedule,
            )
        return
    check = response_check(provider.spec.type)
    with Sender(transport) as sender:
        while not lost():
            item = outbox.head()
            if item is None:
                return
            try:
                # None, for an event this provider sends nothing for (a commit
                # status without a commit); two for PagerDuty's info events.
                requests = requests_for(provider.spec.type, item.notice, target)
            except PayloadError as err:
                outbox.done()
                _drop(ctx, item, str(err))
                health.record(Sent(ok=False, message=str(err)))
                continue
            sent = Sent(ok=True)
            for request in requests:
                sent = sender.send(request, check=check)
                if not sent.ok:
                    break
            if not requests:
                outbox.done()
                continue
            if sent.ok:
                outbox.done()
                count(ctx.client, NOTICES, {"result": "sent"})
                health.record(sent)
                continue
            if _failed(ctx, key, outbox, item, sent, health, schedule):
                return


def _failed(
    ctx: WorkerContext,
    key: ObjectKey,
    outbox: Outbox,
    item: Queued,
    sent: Sent,
    health: _Health,
    schedule: Schedule,
) -> bool:
    """Record a failed try of the head; True when the run should stop and retry later."""
    attempts = item.attempts + 1
    if not sent.retryable or attempts >= MAX_ATTEMPTS:
        outbox.done()
        _drop(ctx, item, sent.message)
        health.record(sent, detail=f" (gave up on a notice after {attempts} tries)")
        return False
    outbox.retried(item)
    health.record(sent, detail=f" (try {attempts} of {MAX_ATTEMPTS}, retrying)")
    delay = retry_delay(attempts)
    outbox.back_off(delay)
    schedule(key, delay)
    return True
