"""Celery entry points of sluice-helm: plan once per HelmRelease, release per cluster.

``helm.reconcile`` resolves the chart and values; ``helm.apply`` runs the
release loop on one cluster (``shared.fleet.tasks`` says how the two share the
work). A new chart artifact (a HelmChart's, an OCIRepository's) wakes the
HelmReleases that use it.
"""

from __future__ import annotations

from functools import cache

from services.helm.reconcile import index_all, reconcile_helmrelease
from services.helm.release import HELM, SERVICE
from shared.celeryapp import create_app
from shared.events import Event, event_handler
from shared.fleet.tasks import FanOutTasks
from shared.runtime import subscribe_services
from shared.settings import load_settings
from shared.worker import WorkerContext

__all__ = ["app"]

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
    kind="HelmRelease",
    fleet=HELM,
    context=_context,
    reconcile=reconcile_helmrelease,
)


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Reconcile the HelmReleases that a new chart artifact concerns."""
    if event.type == "artifact-ready":
        tasks.wake_dependents(event.object)
