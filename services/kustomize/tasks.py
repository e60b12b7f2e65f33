"""Celery entry points of sluice-kustomize: build once per Kustomization, apply per cluster."""

from __future__ import annotations

from functools import cache
from typing import Any

from services.kustomize.cluster import KUSTOMIZE
from services.kustomize.reconcile import index_all, reconcile_kustomization
from shared.celeryapp import create_app, task_name
from shared.dependents import DependentsIndex
from shared.events import Event, event_handler
from shared.fleet.run import run_on_cluster
from shared.fleet.state import cluster_key, split_cluster_key
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.metrics import timed_reconcile
from shared.runtime import subscribe_services
from shared.settings import load_settings
from shared.worker import WorkerContext

__all__ = ["app"]

SERVICE = "kustomize"
RECONCILE = task_name(SERVICE, "reconcile")
APPLY = task_name(SERVICE, "apply")

settings = load_settings()
app = create_app(SERVICE, settings)


@cache
def _context() -> WorkerContext:
    ctx = WorkerContext.create(settings, app)
    subscribe_services(ctx.events)
    index_all(ctx)
    return ctx


def _request_apply(key: ObjectKey, cluster: str) -> None:
    request_reconcile(
        _context().client,
        app,
        cluster_key(key, cluster),
        task_name=APPLY,
        stale_after=settings.pending_stale_after,
    )


def _retry_apply(key: ObjectKey, cluster: str, delay: float) -> None:
    # Not coalesced with a pending request: the run re-reads the desired build,
    # so an extra one is harmless. An ETA message is held unacked until it runs,
    # so the delay stays well below the visibility timeout.
    countdown = min(delay, settings.visibility_timeout / 2)
    app.send_task(APPLY, args=[str(cluster_key(key, cluster))], countdown=countdown)


@app.task(name=RECONCILE, bind=True)
def reconcile(self: Any, key_text: str) -> None:
    """Build a Kustomization's newest revision once and fan it out to its clusters."""
    key = ObjectKey.parse(key_text)
    ctx = _context()
    with ctx.exclusive(app, key, task_name=RECONCILE, holder=self.request.hostname) as lease:
        if lease is not None:
            with timed_reconcile(ctx.client, key.kind, lambda: ctx.store.get(key)):
                reconcile_kustomization(ctx, key, _request_apply)


@app.task(name=APPLY, bind=True)
def apply(self: Any, key_text: str) -> None:
    """Apply a Kustomization's desired build to one cluster (key ``Kind/ns/name@cluster``)."""
    leased = ObjectKey.parse(key_text)
    key, cluster = split_cluster_key(leased)
    ctx = _context()
    with ctx.exclusive(app, leased, task_name=APPLY, holder=self.request.hostname) as lease:
        if lease is not None:
            run_on_cluster(ctx, key, cluster=cluster, service=KUSTOMIZE, retry=_retry_apply)


def _trigger(ctx: WorkerContext, key: ObjectKey) -> None:
    request_reconcile(
        ctx.client, app, key, task_name=RECONCILE, stale_after=settings.pending_stale_after
    )


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Reconcile the Kustomizations that a new artifact or an applied dependency concerns."""
    # No dedupe on event.id: a redelivered event only re-requests reconciles,
    # which coalesce; marking it handled first would lose them on a crash.
    if event.type not in ("artifact-ready", "applied"):
        return
    if event.type == "applied" and event.object.kind != "Kustomization":
        return
    ctx = _context()
    # The index holds each Kustomization's source and dependsOn edges (reconcile.uses).
    for key in DependentsIndex(ctx.client).dependents(event.object):
        if key.kind == "Kustomization":
            _trigger(ctx, key)
