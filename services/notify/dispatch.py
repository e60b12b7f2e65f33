"""Route one event to the outboxes of the Providers whose Alerts take it.

Runs as ``notify.on_event`` for every event sluice publishes. It only reads
the store and appends to Redis lists, so it never waits on an endpoint: the
sending is ``delivery.deliver``, one run per Provider. An Alert sees the
events of objects in its own Cluster scope, as a per-cluster
notification-controller sees its own cluster's. Identical events within
five minutes are forwarded once (Flux's rate limit), counted from the first.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from services.notify.matching import EventObject, alert_takes, notice_for, rate_limit_key
from services.notify.outbox import Outbox, Queued
from shared.api import InvalidObjects, parse_as
from shared.api.alert import EVENT_SOURCE_KINDS, Alert
from shared.events import Event
from shared.keys import ObjectKey
from shared.worker import WorkerContext

__all__ = ["RATE_LIMIT_SECONDS", "route_event"]

RATE_LIMIT_SECONDS = 300
_INSTANCE = socket.gethostname()

Kick = Callable[[ObjectKey], None]


# Parsed Alerts by key, with the resourceVersion they were parsed at: an
# event burst parses each Alert once, not once per event.
_PARSED: dict[ObjectKey, tuple[str, Alert | None]] = {}


def _alerts(ctx: WorkerContext, scope: str) -> list[Alert]:
    found = []
    for doc in ctx.store.list("Alert", scope=scope):
        key = ObjectKey.of(doc, scope)
        version = str(doc["metadata"].get("resourceVersion", ""))
        cached = _PARSED.get(key)
        if cached is None or cached[0] != version:
            try:
                cached = (version, parse_as(doc, Alert, source=str(key)))
            except InvalidObjects:
                cached = (version, None)  # its reconcile reports it
            _PARSED[key] = cached
        alert = cached[1]
        if alert is not None and not alert.spec.suspend:
            found.append(alert)
    return found


def _event_object(ctx: WorkerContext, key: ObjectKey) -> EventObject:
    doc = ctx.store.get(key)
    if doc is None:
        return EventObject()
    meta = doc.get("metadata") or {}
    return EventObject(
        uid=str(meta.get("uid", "")),
        labels=meta.get("labels") or {},
        annotations=meta.get("annotations") or {},
    )


def _first_in_window(ctx: WorkerContext, event: Event) -> bool:
    marker = f"sluice:notify:seen:{rate_limit_key(event)}"
    return bool(ctx.client.set(marker, 1, nx=True, ex=RATE_LIMIT_SECONDS))


def route_event(ctx: WorkerContext, event: Event, *, kick: Kick) -> None:
    """Queue ``event`` for each Provider an Alert sends it to, then wake their senders."""
    if event.severity == "trace" or event.object.kind not in EVENT_SOURCE_KINDS:
        return
    scope = event.object.scope
    alerts = _alerts(ctx, scope)
    if not alerts:
        return
    obj = _event_object(ctx, event.object)
    taking = [alert for alert in alerts if alert_takes(alert, event, obj)]
    if not taking or not _first_in_window(ctx, event):
        return
    by_provider: dict[ObjectKey, list[Queued]] = {}
    for alert in taking:
        provider = ObjectKey("Provider", alert.namespace, alert.spec.provider_ref.name, scope)
        notice = notice_for(alert, event, obj, instance=_INSTANCE)
        by_provider.setdefault(provider, []).append(Queued(alert.key.in_scope(scope), notice))
    for provider, items in by_provider.items():
        Outbox(ctx.client, provider).put(items)
        kick(provider)
