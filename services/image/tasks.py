"""Celery entry points of sluice-image: decode arguments, take the lease, call the reconcile.

One reconcile task for the three kinds (``reconcile.py`` with each kind's
step), and the event handler that wakes the objects that follow a changed
one (``wake.py``): a scan with new tags reruns its ImagePolicies, a changed
choice its ImageUpdateAutomations. A push asks the GitRepository's own
service for a reconcile by task name (services never import each other).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from services.image.automation import IMAGE_UPDATE_AUTOMATION
from services.image.choose import IMAGE_POLICY
from services.image.reconcile import ImageKind, reconcile_image
from services.image.scan import IMAGE_REPOSITORY
from services.image.wake import followers
from shared.celeryapp import create_app, task_name
from shared.dependents import DependentsIndex
from shared.events import Event, event_handler
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.metrics import timed_reconcile
from shared.runtime import reconcile_task, subscribe_services
from shared.settings import load_settings
from shared.worker import WorkerContext

__all__ = ["app"]

SERVICE = "image"
RECONCILE = task_name(SERVICE, "reconcile")
IMAGE_KINDS: dict[str, ImageKind] = {
    kind.kind: kind for kind in (IMAGE_REPOSITORY, IMAGE_POLICY, IMAGE_UPDATE_AUTOMATION)
}

settings = load_settings()
app = create_app(SERVICE, settings)


@cache
def _context() -> WorkerContext:
    ctx = WorkerContext.create(settings, app)
    subscribe_services(ctx.events)
    return ctx


def _request(key: ObjectKey) -> None:
    """A coalesced reconcile request for ``key``, whichever service reconciles its kind."""
    name = RECONCILE if key.kind in IMAGE_KINDS else reconcile_task(key.kind)
    if name is None:
        return
    request_reconcile(
        _context().client, app, key, task_name=name, stale_after=settings.pending_stale_after
    )


def _retry(key: ObjectKey, delay: float) -> None:
    """Run ``key``'s reconcile again in ``delay`` seconds (the scheduler does not track it)."""
    app.send_task(RECONCILE, args=[str(key)], countdown=delay)


@app.task(name=RECONCILE, bind=True)
def reconcile(self: Any, key_text: str) -> None:
    """Reconcile one ImageRepository, ImagePolicy or ImageUpdateAutomation, one worker at a time."""
    key = ObjectKey.parse(key_text)
    kind = IMAGE_KINDS.get(key.kind)
    if kind is None:
        raise ValueError(f"{key}: sluice-image does not reconcile {key.kind}")
    ctx = _context()
    with ctx.exclusive(app, key, task_name=RECONCILE, holder=self.request.hostname) as lease:
        if lease is not None:
            with timed_reconcile(ctx.client, key.kind, lambda: ctx.store.get(key)):
                reconcile_image(ctx, key, kind, request=_request, retry=_retry)


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Reconcile the image objects that follow the one that changed (``wake.py``)."""
    if event.type != "revision-changed" or event.object.kind not in IMAGE_KINDS:
        return
    ctx = _context()
    for key in followers(ctx.store, DependentsIndex(ctx.client), event):
        _request(key)
