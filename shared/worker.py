"""What every service's tasks share in one worker process: settings, Redis, store, events."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from shared.events import Event, EventBus, Severity
from shared.keys import ObjectKey
from shared.lease import Lease, exclusive_run
from shared.redisconn import connect
from shared.scheduler import schedule_after
from shared.settings import Settings
from shared.store import Store

__all__ = ["WorkerContext", "requested_at"]

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


def requested_at(doc: dict[str, Any]) -> str | None:
    """The ``reconcile.fluxcd.io/requestedAt`` token of an object, if any."""
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(REQUESTED_AT)
    return str(value) if value is not None else None


@dataclass(frozen=True)
class WorkerContext:
    """One per worker process; tasks pass it to the service's reconcile functions."""

    settings: Settings
    client: redis.Redis
    store: Store
    events: EventBus

    @classmethod
    def create(cls, settings: Settings, app: Celery) -> WorkerContext:
        """Connect to the Redis of ``settings``; ``app`` sends the event messages."""
        client = connect(settings)
        return cls(
            settings=settings,
            client=client,
            store=Store.from_settings(settings),
            events=EventBus(client, app, max_len=settings.events_max_len),
        )

    def emit(
        self,
        type_: str,
        key: ObjectKey,
        *,
        reason: str,
        message: str,
        revision: str = "",
        severity: Severity = "info",
        cluster: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Publish one event about ``key``."""
        self.events.publish(
            Event(
                type=type_,
                object=key,
                revision=revision,
                severity=severity,
                reason=reason,
                message=message,
                cluster=cluster,
                metadata=metadata or {},
            )
        )

    def exclusive(
        self, app: Celery, key: ObjectKey, *, task_name: str, holder: str
    ) -> AbstractContextManager[Lease | None]:
        """The lease on ``key`` for this run, or None when another worker has it (re-requested)."""
        return exclusive_run(
            self.client, app, key, task_name=task_name, holder=holder, ttl=self.settings.lease_ttl
        )

    def requeue_after(self, key: ObjectKey, seconds: float) -> None:
        """Ask the scheduler to run ``key`` again in ``seconds`` (instead of its interval)."""
        schedule_after(self.client, key, seconds)
