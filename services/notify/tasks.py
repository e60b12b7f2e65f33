"""Celery entry points of sluice-notify: reconcile its kinds, route events, deliver notices."""

from __future__ import annotations

from functools import cache
from typing import Any

from services.notify.delivery import deliver as deliver_outbox
from services.notify.dispatch import route_event
from services.notify.receiver.reconcile import reconcile_receiver
from services.notify.reconcile import reconcile_alert, reconcile_provider
from shared.celeryapp import create_app, task_name
from shared.events import Event, event_handler
from shared.keys import ObjectKey
from shared.lease import clear_pending, request_reconcile
from shared.runtime import subscribe_services
from shared.settings import load_settings
from shared.worker import WorkerContext

__all__ = ["app"]

SERVICE = "notify"
RECONCILE = task_name(SERVICE, "reconcile")
DELIVER = task_name(SERVICE, "deliver")

settings = load_settings()
app = create_app(SERVICE, settings)


@cache
def _context() -> WorkerContext:
    ctx = WorkerContext.create(settings, app)
    subscribe_services(ctx.events)
    return ctx


def _kick(key: ObjectKey) -> None:
    """Ask for one sender run of Provider ``key`` (coalesced with one already queued)."""
    request_reconcile(
        _context().client, app, key, task_name=DELIVER, stale_after=settings.pending_stale_after
    )


def _retry(key: ObjectKey, delay: float) -> None:
    app.send_task(DELIVER, args=[str(key), True], countdown=delay or None)


@app.task(name=RECONCILE, bind=True)
def reconcile(self: Any, key_text: str) -> None:
    """Reconcile one Provider, Alert or Receiver (Kind/namespace/name), one worker at a time."""
    key = ObjectKey.parse(key_text)
    ctx = _context()
    with ctx.exclusive(app, key, task_name=RECONCILE, holder=self.request.hostname) as lease:
        if lease is None:
            return
        if key.kind == "Provider":
            reconcile_provider(ctx, key, kick=_kick)
        elif key.kind == "Alert":
            reconcile_alert(ctx, key)
        elif key.kind == "Receiver":
            reconcile_receiver(ctx, key)
        else:
            raise ValueError(f"{key}: sluice-notify does not reconcile {key.kind}")


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Queue the event for the Providers whose Alerts take it."""
    route_event(_context(), event, kick=_kick)


@app.task(name=DELIVER)
def deliver(key_text: str, scheduled: bool = False) -> None:
    """Send the notices waiting for one Provider, in order (``scheduled``: the backoff's retry)."""
    key = ObjectKey.parse(key_text)
    ctx = _context()
    clear_pending(ctx.client, key, task_name=DELIVER)
    deliver_outbox(ctx, key, schedule=_retry, scheduled=scheduled)
