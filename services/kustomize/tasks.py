"""Celery entry points of sluice-kustomize: build once per Kustomization, apply per cluster.

``kustomize.reconcile`` builds and routes; each target cluster is then applied
under its own lease (``Kind/ns/name@cluster``). All but one of the clusters get a
``kustomize.apply`` task each, which any worker runs in parallel; the last one is
applied by the reconcile task itself once the object's lease is released: one
queue hop less for the common single-cluster case, and the same guarantees, as
the reconcile's message is acked only after that apply (``task_acks_late``), so a
worker lost during it re-delivers the reconcile, which asks for the apply again.

A Kustomization's ``applied`` events come only from this service, so the runs
that emit one wake its dependents (``dependsOn``) themselves, right after the
event, instead of a subscription sending every ``applied`` event back to this
queue as one more task.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from services.kustomize.cluster import KUSTOMIZE
from services.kustomize.reconcile import index_all, reconcile_kustomization
from shared.celeryapp import create_app, task_name
from shared.dependents import DependentsIndex
from shared.events import Event, event_handler
from shared.fleet.run import run_on_cluster, task_deadline
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


def _apply(leased: ObjectKey, *, holder: str, deadline: float | None = None) -> None:
    """One cluster's run under its lease; re-requested shortly when another worker holds it."""
    key, cluster = split_cluster_key(leased)
    ctx = _context()
    with ctx.exclusive(app, leased, task_name=APPLY, holder=holder) as lease:
        if lease is not None:
            run_on_cluster(
                ctx,
                key,
                cluster=cluster,
                service=KUSTOMIZE,
                retry=_retry_apply,
                deadline=deadline,
                on_applied=_wake_dependents,
            )


@app.task(name=RECONCILE, bind=True)
def reconcile(self: Any, key_text: str) -> None:
    """Build a Kustomization's newest revision once and fan it out to its clusters."""
    started = time.monotonic()
    key = ObjectKey.parse(key_text)
    ctx = _context()
    clusters: list[str] = []
    with ctx.exclusive(app, key, task_name=RECONCILE, holder=self.request.hostname) as lease:
        if lease is not None:
            with timed_reconcile(ctx.client, key.kind, lambda: ctx.store.get(key)):
                reconcile_kustomization(ctx, key, lambda _key, cluster: clusters.append(cluster))
    if not clusters:
        return
    *queued, here = clusters
    for cluster in queued:
        _request_apply(key, cluster)
    deadline = task_deadline(ctx, started)
    _apply(cluster_key(key, here), holder=self.request.hostname, deadline=deadline)


@app.task(name=APPLY, bind=True)
def apply(self: Any, key_text: str) -> None:
    """Apply a Kustomization's desired build to one cluster (key ``Kind/ns/name@cluster``)."""
    _apply(ObjectKey.parse(key_text), holder=self.request.hostname)


def _trigger(ctx: WorkerContext, key: ObjectKey) -> None:
    request_reconcile(
        ctx.client, app, key, task_name=RECONCILE, stale_after=settings.pending_stale_after
    )


def _wake_dependents(used: ObjectKey) -> None:
    """Reconcile the Kustomizations that use ``used`` (its source, or a dependsOn)."""
    ctx = _context()
    # The index holds each Kustomization's source and dependsOn edges (reconcile.uses).
    for key in DependentsIndex(ctx.client).dependents(used):
        if key.kind == "Kustomization":
            _trigger(ctx, key)


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Reconcile the Kustomizations that a new artifact concerns."""
    # No dedupe on event.id: a redelivered event only re-requests reconciles,
    # which coalesce; marking it handled first would lose them on a crash.
    if event.type == "artifact-ready":
        _wake_dependents(event.object)
