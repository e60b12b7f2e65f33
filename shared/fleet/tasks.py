"""The Celery tasks of a fan-out service: reconcile once per object, then apply per cluster.

``<service>.reconcile`` decides once (kustomize: builds; helm: resolves the chart
and values) and routes; each target cluster is then run under its own lease
(``Kind/ns/name@cluster``). All but one of the clusters get a ``<service>.apply``
task each, which any worker runs in parallel; the last one is run by the
reconcile task itself once the object's lease is released: one queue hop less
for the common single-cluster case, and the same guarantees, as the reconcile's
message is acked only after that run (``task_acks_late``), so a worker lost
during it re-delivers the reconcile, which asks for the run again.

An object's ``applied`` events come only from its own service, so the runs that
emit one wake its dependents (``dependsOn``) themselves, right after the event,
instead of a subscription sending every ``applied`` event back to the queue as
one more task; an ``artifact-ready`` event (a new source artifact) wakes the
objects that use that source.

A service's tasks module is then two lines: ``tasks = FanOutTasks(fleet=...,
kind=...)`` and ``app = tasks.app``.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from celery import Celery

from shared.celeryapp import create_app, task_name
from shared.dependents import DependentsIndex
from shared.events import Event, event_handler
from shared.fleet.reconcile import FanOutKind
from shared.fleet.run import FleetService, run_on_cluster, task_deadline
from shared.fleet.state import cluster_key, split_cluster_key
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.metrics import timed_reconcile
from shared.runtime import subscribe_services
from shared.settings import load_settings
from shared.worker import WorkerContext

__all__ = ["FanOutTasks"]


class FanOutTasks:
    """A fan-out service's Celery app with its ``reconcile``, ``apply`` and ``on_event`` tasks."""

    def __init__(self, *, fleet: FleetService, kind: FanOutKind[Any]) -> None:
        self.settings = load_settings()
        self.app: Celery = create_app(fleet.name, self.settings)
        self._fleet = fleet
        self._kind = kind
        self._kind_name = kind.model.__name__
        self.reconcile_task = task_name(fleet.name, "reconcile")
        self.apply_task = task_name(fleet.name, "apply")

        # Plain functions: Celery binds the task itself as their first argument.
        def reconcile_one(task: Any, key_text: str) -> None:
            self._reconcile_task(task, key_text)

        def apply_one(task: Any, key_text: str) -> None:
            self._apply_task(task, key_text)

        def on_event(event: Event) -> None:
            # No dedupe on event.id: a redelivered event only re-requests reconciles,
            # which coalesce; marking it handled first would lose them on a crash.
            if event.type == "artifact-ready":
                self.wake_dependents(event.object)

        self.app.task(name=self.reconcile_task, bind=True)(reconcile_one)
        self.app.task(name=self.apply_task, bind=True)(apply_one)
        event_handler(self.app, fleet.name)(on_event)

    @cached_property
    def _ctx(self) -> WorkerContext:
        ctx = WorkerContext.create(self.settings, self.app)
        subscribe_services(ctx.events)
        self._kind.index_all(ctx)
        return ctx

    def _context(self) -> WorkerContext:
        return self._ctx

    def _request_apply(self, key: ObjectKey, cluster: str) -> None:
        request_reconcile(
            self._context().client,
            self.app,
            cluster_key(key, cluster),
            task_name=self.apply_task,
            stale_after=self.settings.pending_stale_after,
        )

    def _retry_apply(self, key: ObjectKey, cluster: str, delay: float) -> None:
        # Not coalesced with a pending request: the run re-reads the desired state,
        # so an extra one is harmless. An ETA message is held unacked until it runs,
        # so the delay stays well below the visibility timeout.
        countdown = min(delay, self.settings.visibility_timeout / 2)
        self.app.send_task(
            self.apply_task, args=[str(cluster_key(key, cluster))], countdown=countdown
        )

    def _apply(self, leased: ObjectKey, *, holder: str, deadline: float | None = None) -> None:
        """One cluster's run under its lease; re-requested shortly when another worker holds it."""
        key, cluster = split_cluster_key(leased)
        ctx = self._context()
        with ctx.exclusive(self.app, leased, task_name=self.apply_task, holder=holder) as lease:
            if lease is not None:
                run_on_cluster(
                    ctx,
                    key,
                    cluster=cluster,
                    service=self._fleet,
                    retry=self._retry_apply,
                    deadline=deadline,
                    on_applied=self.wake_dependents,
                )

    def _reconcile_task(self, task: Any, key_text: str) -> None:
        """Decide an object's desired state once and fan it out to its clusters."""
        started = time.monotonic()
        key = ObjectKey.parse(key_text)
        ctx = self._context()
        clusters: list[str] = []
        holder = task.request.hostname
        with ctx.exclusive(self.app, key, task_name=self.reconcile_task, holder=holder) as lease:
            if lease is not None:
                with timed_reconcile(ctx.client, key.kind, lambda: ctx.store.get(key)):
                    self._kind.reconcile(ctx, key, lambda _key, cluster: clusters.append(cluster))
        if not clusters:
            return
        *queued, here = clusters
        for cluster in queued:
            self._request_apply(key, cluster)
        deadline = task_deadline(ctx, started)
        self._apply(cluster_key(key, here), holder=holder, deadline=deadline)

    def _apply_task(self, task: Any, key_text: str) -> None:
        """Bring one cluster to an object's desired state (key ``Kind/ns/name@cluster``)."""
        self._apply(ObjectKey.parse(key_text), holder=task.request.hostname)

    def trigger(self, key: ObjectKey) -> None:
        """Ask for a reconcile of ``key`` (coalesced with one already pending)."""
        request_reconcile(
            self._context().client,
            self.app,
            key,
            task_name=self.reconcile_task,
            stale_after=self.settings.pending_stale_after,
        )

    def wake_dependents(self, used: ObjectKey) -> None:
        """Reconcile this service's objects that use ``used`` (a source, a dependsOn)."""
        ctx = self._context()
        for key in DependentsIndex(ctx.client).dependents(used):
            if key.kind == self._kind_name:
                self.trigger(key)
