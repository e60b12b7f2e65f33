"""Wiring for long-running processes: which objects the scheduler tracks and how it fires them."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import redis
from celery import Celery

from shared.api import known_kinds, lookup_kind
from shared.api.conditions import READY, TRUE, get_condition
from shared.celeryapp import create_app, task_name
from shared.events import EventBus
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.scheduler import Schedulable, Scheduler
from shared.settings import Settings
from shared.store import Store
from shared.watch import Watcher

__all__ = [
    "SERVICES",
    "SUBSCRIPTIONS",
    "reconcile_task",
    "scheduler_for",
    "service_app",
    "store_schedulables",
    "subscribe_services",
    "watcher_for",
]

SERVICES = ("source", "kustomize", "helm", "image", "notify")
# Which events each service's on_event task takes; kept in Redis so an event
# sent while a service is down still waits in its queue.
SUBSCRIPTIONS: dict[str, list[str]] = {"kustomize": ["artifact-ready", "applied"]}


def service_app(service: str, settings: Settings) -> Celery:
    """The Celery app of a service: the ``app`` of its tasks module, which reads ``SLUICE_*``.

    A service without tasks yet gets a bare app on its queue. ``settings`` must
    match the environment: the tasks module loads its own settings from it.
    """
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: expected one of {', '.join(SERVICES)}")
    module = f"services.{service}.tasks"
    if importlib.util.find_spec(module) is None:
        return create_app(service, settings)
    app: Celery = importlib.import_module(module).app
    return app


def reconcile_task(kind: str) -> str | None:
    """The task that reconciles ``kind``, or None when no service owns it."""
    info = lookup_kind(kind)
    if info is None or info.service is None:
        return None
    return task_name(info.service, "reconcile")


def store_schedulables(store: Store) -> Iterator[Schedulable]:
    """Every stored object that a service reconciles at an interval."""
    for info in known_kinds():
        if info.service is None or not info.has_interval:
            continue
        for doc in store.list(info.kind):
            model = info.model.model_validate(doc)
            spec = getattr(model, "spec", None)
            interval = getattr(spec, "interval_seconds", None)
            if interval is None:
                continue
            status = doc.get("status") or {}
            ready = get_condition(status, READY) or {}
            yield Schedulable(
                ObjectKey.of(doc),
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
    return Watcher(
        client,
        Store.from_settings(settings),
        reconciled=lambda kind: reconcile_task(kind) is not None,
        fire=_firer(settings, client),
    )


def subscribe_services(bus: EventBus) -> None:
    """Record which events each service takes, before any event is published."""
    for service, types in SUBSCRIPTIONS.items():
        bus.subscribe(service, types)
