"""Wiring for long-running processes: which objects the scheduler tracks and how it fires them.

Which services exist, which kinds each reconciles and which events each takes
come from the services' declarations (``shared/plugins.py``), never from a
list here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import redis
from celery import Celery

from shared.api import known_kinds
from shared.api.conditions import READY, TRUE, get_condition
from shared.celeryapp import create_app, task_name
from shared.events import EventBus
from shared.keys import FLEET, ObjectKey
from shared.lease import request_reconcile
from shared.plugins import kind_facts, load_attribute, load_services, reconciler_of, service_named
from shared.scheduler import Schedulable, Scheduler
from shared.settings import Settings
from shared.store import Store
from shared.watch import Watcher

__all__ = [
    "reconcile_task",
    "scheduler_for",
    "service_app",
    "store_schedulables",
    "subscribe_services",
    "watcher_for",
]


def service_app(service: str, settings: Settings) -> Celery:
    """The Celery app of a service: the ``app`` of its first tasks module, which reads ``SLUICE_*``.

    ValueError for an unknown service or one without tasks. ``settings`` must
    match the environment: the tasks module loads its own settings from it.
    """
    declared = service_named(service)
    if not declared.has_work:
        raise ValueError(f"service {service!r} has no tasks yet: there is nothing to run")
    app = load_attribute(f"{declared.tasks[0]}:app", service=service)
    for module in declared.tasks[1:]:
        load_attribute(f"{module}:__name__", service=service)
    if not isinstance(app, Celery):
        raise ValueError(f"service {service!r}: {declared.tasks[0]}.app is not a Celery app")
    return app


def reconcile_task(kind: str) -> str | None:
    """The task that reconciles ``kind``, or None when no service owns it."""
    service = reconciler_of(kind)
    return None if service is None else task_name(service.name, "reconcile")


def _in_every_scope(store: Store, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every stored object of ``kind``: the fleet-wide scope's, then each Cluster scope's."""
    for scope in (FLEET, *store.scopes()):
        for doc in store.list(kind, scope=scope):
            yield scope, doc


def store_schedulables(store: Store) -> Iterator[Schedulable]:
    """Every stored object that a service reconciles at an interval."""
    for info in known_kinds():
        if reconciler_of(info.kind) is None or not info.has_interval:
            continue
        for scope, doc in _in_every_scope(store, info.kind):
            model = info.model.model_validate(doc)
            spec = getattr(model, "spec", None)
            interval = getattr(spec, "interval_seconds", None)
            if interval is None:
                continue
            status = doc.get("status") or {}
            ready = get_condition(status, READY) or {}
            yield Schedulable(
                ObjectKey.of(doc, scope),
                float(interval),
                bool(getattr(spec, "suspend", False)),
                # Only a success: a failed first run's retry request came before the
                # scheduler knew the object and was dropped, so it must be due at once.
                reconciled=status.get("observedGeneration") == doc["metadata"].get("generation", 1)
                and ready.get("status") == TRUE,
            )


def _firer(settings: Settings, client: redis.Redis) -> Callable[[ObjectKey], None]:
    sender = create_app("scheduler", settings)

    def fire(key: ObjectKey) -> None:
        name = reconcile_task(key.kind)
        if name is not None:
            request_reconcile(
                client, sender, key, task_name=name, stale_after=settings.pending_stale_after
            )

    return fire


def scheduler_for(settings: Settings, client: redis.Redis) -> Scheduler:
    """A scheduler over the store that requests each object's reconcile, coalesced.

    Each sync also records the services' event subscriptions again: a Redis that
    lost its data has them back within one sync, with no process restarted.
    """
    store = Store.from_settings(settings)
    bus = EventBus(client, create_app("scheduler", settings))

    def source() -> Iterator[Schedulable]:
        subscribe_services(bus)
        return store_schedulables(store)

    return Scheduler(client, settings, source=source, fire=_firer(settings, client))


def watcher_for(settings: Settings, client: redis.Redis) -> Watcher:
    """A watcher that reconciles objects as soon as the store changes."""
    store = Store.from_settings(settings)

    def dependents(changed: ObjectKey) -> list[ObjectKey]:
        kind, scope = changed.kind, changed.scope
        rerun = [f.kind for s in load_services() for f in s.kinds if kind in f.reruns_on]
        found = [
            ObjectKey.of(doc, scope)
            for name in rerun
            for doc in store.list(name, changed.namespace, scope=scope)
        ]
        if kind == "Cluster" and scope == FLEET:
            # A Cluster is the default target of its own scope (shared.scopes).
            found += [
                ObjectKey.of(doc, changed.name)
                for name in rerun
                for doc in store.list(name, scope=changed.name)
            ]
        return found

    return Watcher(
        client,
        store,
        reconciled=lambda kind: kind_facts(kind) is not None,
        dependents=dependents,
        fire=_firer(settings, client),
    )


def subscribe_services(bus: EventBus) -> None:
    """Record which events each service takes, before any event is published."""
    for service in load_services():
        if service.subscriptions == ("*",):
            bus.subscribe(service.name, "*")
        elif service.subscriptions:
            bus.subscribe(service.name, service.subscriptions)
