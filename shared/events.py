"""The event bus: events delivered durably to subscribed service queues and kept in a stream.

``publish`` sends one Celery message ``<service>.on_event`` per subscribed
service; the message sits in that service's Redis list until a worker takes
it, so a service that is down when an event is published handles it when it
comes back. Subscriptions live in Redis for the same reason: routing never
depends on which workers are running. Every event is also appended to the
bounded stream ``sluice:events`` that ``sluice events --watch`` tails and the
notify service reads.

Delivery is at least once: handlers dedupe on ``Event.id`` (``mark_handled``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

import redis
from celery import Celery

from shared.celeryapp import check_service, task_name
from shared.keys import ObjectKey
from shared.metrics import EVENTS_PUBLISHED, queue_count

__all__ = [
    "EVENT_TYPES",
    "STREAM",
    "SUBSCRIPTIONS",
    "Event",
    "EventBus",
    "Severity",
    "decode_entry",
    "event_handler",
    "mark_handled",
    "utc_now",
]

STREAM = "sluice:events"
SUBSCRIPTIONS = "sluice:subscriptions"
EVENT_TYPES = (
    "revision-changed",
    "artifact-ready",
    "applied",
    "health-changed",
    "reconcile-failed",
)

Severity = Literal["info", "error", "trace"]
_SEVERITIES = ("info", "error", "trace")
AllTypes = Literal["*"]


def utc_now() -> str:
    """The current time as RFC 3339 UTC with milliseconds: ``2025-01-31T12:00:00.000Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """Something that happened to one object; ``id`` is stable across re-deliveries."""

    type: str
    object: ObjectKey
    revision: str = ""
    severity: Severity = "info"
    reason: str = ""
    message: str = ""
    timestamp: str = field(default_factory=utc_now)
    cluster: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not self.type:
            raise ValueError("event type is empty")
        if self.severity not in _SEVERITIES:
            raise ValueError(f"event severity {self.severity!r}: expected one of {_SEVERITIES}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``object`` is ``{kind, namespace, name[, scope]}``.

        ``scope`` (the Cluster scope) is written only for a scoped object, so a
        fleet-wide event reads as before scopes.
        """
        obj = {"kind": self.object.kind, "namespace": self.object.namespace}
        obj["name"] = self.object.name
        if self.object.scope:
            obj["scope"] = self.object.scope
        return {
            "id": self.id,
            "type": self.type,
            "object": obj,
            "revision": self.revision,
            "severity": self.severity,
            "reason": self.reason,
            "message": self.message,
            "timestamp": self.timestamp,
            "cluster": self.cluster,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild an event written by ``to_dict``."""
        try:
            obj = data["object"]
            key = ObjectKey(
                str(obj["kind"]), str(obj["namespace"]), str(obj["name"]), str(obj.get("scope", ""))
            )
            severity = str(data.get("severity", "info"))
            if severity not in _SEVERITIES:
                raise ValueError(f"severity {severity!r}: expected one of {_SEVERITIES}")
            cluster = data.get("cluster")
            return cls(
                id=str(data["id"]),
                type=str(data["type"]),
                object=key,
                revision=str(data.get("revision", "")),
                severity=cast(Severity, severity),
                reason=str(data.get("reason", "")),
                message=str(data.get("message", "")),
                timestamp=str(data["timestamp"]),
                cluster=None if cluster is None else str(cluster),
                metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"event {dict(data)!r}: missing or malformed field {exc}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_entry(entry_id: bytes | str, fields: Mapping[Any, Any]) -> tuple[str, Event]:
    """One ``sluice:events`` entry as (stream id, Event); ValueError for a malformed one."""
    raw = fields.get(b"event", fields.get("event"))
    if raw is None:
        raise ValueError(f"stream entry {_text(entry_id)}: no 'event' field")
    try:
        data = json.loads(_text(raw))
    except ValueError as exc:
        raise ValueError(f"stream entry {_text(entry_id)}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"stream entry {_text(entry_id)}: not a JSON object")
    return _text(entry_id), Event.from_dict(data)


class EventBus:
    """Publish events to subscribed service queues and the event stream."""

    def __init__(
        self, client: redis.Redis, app: Celery, *, max_len: int = 10_000, stream: str = STREAM
    ) -> None:
        self._client = client
        self._app = app
        self._max_len = max_len
        self._stream = stream

    def subscribe(self, service: str, event_types: Sequence[str] | AllTypes) -> None:
        """Route events of ``event_types`` (or ``"*"``) to ``<service>.on_event``, persistently."""
        check_service(service)
        if event_types == "*":
            value = "*"
        elif isinstance(event_types, str):
            raise ValueError(f"event types {event_types!r}: expected a list of types or '*'")
        else:
            value = json.dumps(sorted(set(event_types)))
        self._client.hset(SUBSCRIPTIONS, service, value)

    def unsubscribe(self, service: str) -> None:
        """Stop routing events to ``service``."""
        self._client.hdel(SUBSCRIPTIONS, service)

    def subscriptions(self) -> dict[str, frozenset[str] | AllTypes]:
        """Each subscribed service and the event types it takes."""
        raw = self._client.hgetall(SUBSCRIPTIONS)
        result: dict[str, frozenset[str] | AllTypes] = {}
        for service, value in raw.items():
            text = _text(value)
            result[_text(service)] = "*" if text == "*" else frozenset(json.loads(text))
        return result

    def subscribers(self, event_type: str) -> list[str]:
        """The services an event of ``event_type`` goes to, sorted."""
        return sorted(
            service
            for service, types in self.subscriptions().items()
            if types == "*" or event_type in types
        )

    def publish(self, event: Event) -> str:
        """Queue ``event`` once per subscriber and append it to the stream; return its stream id."""
        payload = event.to_dict()
        for service in self.subscribers(event.type):
            self._app.send_task(
                task_name(service, "on_event"),
                args=[payload],
                task_id=f"{event.id}.{service}",
            )
        # The stream entry and its counter in one round trip; only the entry must land.
        pipe = self._client.pipeline(transaction=False)
        pipe.xadd(
            self._stream, {"event": json.dumps(payload)}, maxlen=self._max_len, approximate=True
        )
        queue_count(pipe, EVENTS_PUBLISHED, {"type": event.type})
        entry_id = pipe.execute(raise_on_error=False)[0]
        if isinstance(entry_id, Exception):
            raise entry_id
        return _text(entry_id)

    def read(self, since: str = "0", count: int = 100) -> list[tuple[str, Event]]:
        """Up to ``count`` events after stream id ``since``, oldest first."""
        start = "-" if since in ("0", "0-0") else f"({since}"
        entries = self._client.xrange(self._stream, min=start, max="+", count=count)
        return [self._decode(entry_id, fields) for entry_id, fields in cast(list[Any], entries)]

    def tail(
        self,
        since: str = "$",
        *,
        block_ms: int = 1000,
        count: int = 100,
        stop: threading.Event | None = None,
    ) -> Iterator[tuple[str, Event]]:
        """Events after ``since`` (``$``: from now on), waiting for new ones until ``stop``."""
        last = self._last_id() if since == "$" else since
        while stop is None or not stop.is_set():
            try:
                reply = self._client.xread({self._stream: last}, count=count, block=block_ms)
            except redis.ConnectionError:
                # Redis restarting: wait and resume from the last id seen.
                if stop is not None and stop.wait(1.0):
                    return
                continue
            for _stream, entries in cast(list[Any], reply or []):
                for entry_id, fields in entries:
                    item = self._decode(entry_id, fields)
                    last = item[0]
                    yield item

    def _last_id(self) -> str:
        newest = cast(list[Any], self._client.xrevrange(self._stream, count=1))
        return _text(newest[0][0]) if newest else "0-0"

    @staticmethod
    def _decode(entry_id: bytes | str, fields: Mapping[Any, Any]) -> tuple[str, Event]:
        return decode_entry(entry_id, fields)


def event_handler(app: Celery, service: str) -> Callable[[Callable[[Event], None]], Any]:
    """Decorator registering ``fn(event)`` as the task ``<service>.on_event``."""
    check_service(service)

    def register(fn: Callable[[Event], None]) -> Any:
        def on_event(payload: dict[str, Any]) -> None:
            fn(Event.from_dict(payload))

        on_event.__doc__ = fn.__doc__
        return app.task(name=task_name(service, "on_event"))(on_event)

    return register


def mark_handled(client: redis.Redis, service: str, event_id: str, *, ttl: int = 24 * 3600) -> bool:
    """Record that ``service`` handled ``event_id``; False if it already had (a re-delivery)."""
    return bool(client.set(f"sluice:handled:{service}:{event_id}", 1, nx=True, ex=ttl))
