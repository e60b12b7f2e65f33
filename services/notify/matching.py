"""Which Alerts an event goes to, and the Notice each sends: Flux's rules, pure.

Flux's notification-controller (``internal/server/event_handlers.go``) is
followed: trace events never leave; an Alert of severity ``error`` takes only
errors; an event source matches by kind, namespace (the Alert's by default)
and name, or ``*`` with ``matchLabels``; at least one inclusion regexp must
match the message when any is given, and any exclusion regexp drops it.

Forwarded metadata is assembled as v1beta3 does, later sources winning: the
object's ``event.toolkit.fluxcd.io/*`` annotations, the Alert's
``eventMetadata``, its ``summary``, then the controller's own keys (those of
the object's API group, prefix stripped; ``checksum``, ``digest`` and
``token`` are not forwarded). sluice adds ``revision`` from the event when the
controller gave none, and ``cluster``: the target cluster a fan-out event is
about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from services.notify.notice import InvolvedObject, Notice
from shared.api.alert import Alert, EventSource
from shared.api.kinds import lookup_kind, split_api_version
from shared.events import Event
from shared.goregexp import compile_go

__all__ = [
    "EVENT_ANNOTATION_PREFIX",
    "EventObject",
    "alert_takes",
    "forwarded_metadata",
    "notice_for",
    "rate_limit_key",
    "reporting_controller",
]

EVENT_ANNOTATION_PREFIX = "event.toolkit.fluxcd.io/"
_NOT_FORWARDED = ("checksum", "digest", "token")
_CONTROLLERS = {
    "source.toolkit.fluxcd.io": "source-controller",
    "source.extensions.fluxcd.io": "source-watcher",
    "kustomize.toolkit.fluxcd.io": "kustomize-controller",
    "helm.toolkit.fluxcd.io": "helm-controller",
    "notification.toolkit.fluxcd.io": "notification-controller",
    "image.toolkit.fluxcd.io": "image-reflector-controller",
}


@dataclass(frozen=True)
class EventObject:
    """What the store says of the object an event is about (empty when it is gone)."""

    uid: str = ""
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None


def _source_matches(source: EventSource, alert: Alert, event: Event, obj: EventObject) -> bool:
    key = event.object
    if source.kind != key.kind or (source.namespace or alert.namespace) != key.namespace:
        return False
    if source.name == "*":
        labels = obj.labels or {}
        return all(labels.get(k) == v for k, v in source.match_labels.items())
    return source.name == key.name


def alert_takes(alert: Alert, event: Event, obj: EventObject) -> bool:
    """Whether ``alert`` forwards ``event`` (suspension is the caller's)."""
    if event.severity == "trace":
        return False
    if alert.spec.event_severity == "error" and event.severity != "error":
        return False
    if not any(_source_matches(s, alert, event, obj) for s in alert.spec.event_sources):
        return False
    included = alert.spec.inclusion_list
    if included and not any(compile_go(p).search(event.message) for p in included):
        return False
    return not any(compile_go(p).search(event.message) for p in alert.spec.exclusion_list)


def _group(kind: str) -> str:
    info = lookup_kind(kind)
    return info.group if info is not None else ""


def forwarded_metadata(alert: Alert, event: Event, obj: EventObject) -> dict[str, str]:
    """The metadata a provider receives, in v1beta3's order of precedence."""
    meta = {
        k.removeprefix(EVENT_ANNOTATION_PREFIX): v
        for k, v in (obj.annotations or {}).items()
        if k.startswith(EVENT_ANNOTATION_PREFIX)
    }
    meta |= alert.spec.event_metadata
    if alert.spec.summary:
        meta["summary"] = alert.spec.summary
    prefix = f"{_group(event.object.kind)}/"
    for key, value in event.metadata.items():
        short = key.removeprefix(prefix).removeprefix(EVENT_ANNOTATION_PREFIX)
        if short != key and short not in _NOT_FORWARDED:
            meta[short] = value
    if event.revision and "revision" not in meta:
        meta["revision"] = event.revision
    if event.cluster:
        meta["cluster"] = event.cluster
    return meta


def reporting_controller(kind: str) -> str:
    """The Flux controller that reports events of ``kind``."""
    if kind == "ImageUpdateAutomation":
        return "image-automation-controller"
    return _CONTROLLERS.get(_group(kind), "sluice")


def notice_for(alert: Alert, event: Event, obj: EventObject, *, instance: str) -> Notice:
    """``event`` as ``alert`` forwards it."""
    key = event.object
    info = lookup_kind(key.kind)
    involved = InvolvedObject(
        api_version=info.api_version if info is not None else "",
        kind=key.kind,
        name=key.name,
        namespace=key.namespace,
        uid=obj.uid,
    )
    return Notice(
        involved_object=involved,
        severity=event.severity,
        timestamp=event.timestamp,
        message=event.message,
        reason=event.reason,
        metadata=forwarded_metadata(alert, event, obj),
        reporting_controller=reporting_controller(key.kind),
        reporting_instance=instance,
        alert=alert.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


def rate_limit_key(event: Event) -> str:
    """What makes two events the same for Flux's rate limit (object, message, revisions, token)."""
    group = split_api_version(f"{_group(event.object.kind)}/v")[0]
    meta = event.metadata
    parts = (
        str(event.object),
        event.cluster or "",
        event.message,
        event.revision,
        meta.get(f"{group}/revision", ""),
        meta.get(f"{group}/originRevision", ""),
        meta.get(f"{group}/token", ""),
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
