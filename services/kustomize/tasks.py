"""Celery entry points of sluice-kustomize: build once per Kustomization, apply per cluster.

``kustomize.reconcile`` builds and routes; ``kustomize.apply`` applies one
cluster (``shared.fleet.tasks`` says how the two share the work). A new
artifact of a source wakes the Kustomizations that use it.
"""

from __future__ import annotations

from functools import cache

from services.kustomize.cluster import KUSTOMIZE
from services.kustomize.reconcile import index_all, reconcile_kustomization
from shared.celeryapp import create_app
from shared.events import Event, event_handler
from shared.fleet.tasks import FanOutTasks
from shared.runtime import subscribe_services
from shared.settings import load_settings
from shared.worker import WorkerContext

__all__ = ["app"]

SERVICE = "kustomize"

settings = load_settings()
app = create_app(SERVICE, settings)


@cache
def _context() -> WorkerContext:
    ctx = WorkerContext.create(settings, app)
    subscribe_services(ctx.events)
    index_all(ctx)
    return ctx


tasks = FanOutTasks(
    app,
    settings=settings,
    kind="Kustomization",
    fleet=KUSTOMIZE,
    context=_context,
    reconcile=reconcile_kustomization,
)


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Reconcile the Kustomizations that a new artifact concerns."""
    # No dedupe on event.id: a redelivered event only re-requests reconciles,
    # which coalesce; marking it handled first would lose them on a crash.
    if event.type == "artifact-ready":
        tasks.wake_dependents(event.object)
