"""A Celery app for tests: service ``sluicetest``, whose tasks record what they do in Redis.

Worker subprocesses load it with ``celery -A tests.workerapp worker`` and read
their settings from ``SLUICE_*`` variables (tests/fixtures/workers.py).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from shared.celeryapp import create_app, task_name
from shared.events import Event, event_handler, mark_handled
from shared.keys import ObjectKey
from shared.lease import exclusive_run
from shared.redisconn import connect
from shared.settings import load_settings

__all__ = ["SERVICE", "app"]

SERVICE = "sluicetest"

settings = load_settings()
app = create_app(SERVICE, settings)
client = connect(settings)


@app.task(name=task_name(SERVICE, "slow"), bind=True)
def slow(self: Any, run_id: str, seconds: float) -> None:
    """Record start, sleep ``seconds``, record finish (both with the worker's name)."""
    client.rpush(f"test:{run_id}:started", self.request.hostname)
    time.sleep(seconds)
    client.rpush(f"test:{run_id}:finished", self.request.hostname)


@app.task(name=task_name(SERVICE, "die-once"), bind=True)
def die_once(self: Any, run_id: str) -> None:
    """Kill the pool process on the first attempt; record the finish on the next."""
    if client.incr(f"test:{run_id}:attempts") == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    client.rpush(f"test:{run_id}:finished", self.request.hostname)


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Record each event id once, and every delivery."""
    client.rpush("test:events:deliveries", event.id)
    if mark_handled(client, SERVICE, event.id):
        client.rpush("test:events:handled", event.id)


@app.task(name=task_name(SERVICE, "reconcile"), bind=True)
def reconcile(self: Any, key_text: str) -> None:
    """A coalesced, leased run that records how many runs happened and how many overlapped."""
    key = ObjectKey.parse(key_text)
    client.incr(f"test:tasks:{key}")
    with exclusive_run(
        client,
        app,
        key,
        task_name=task_name(SERVICE, "reconcile"),
        holder=self.request.hostname,
        ttl=settings.lease_ttl,
        retry_after=0.2,
    ) as lease:
        if lease is None:
            return
        active = client.incr(f"test:active:{key}")
        client.rpush(f"test:active-seen:{key}", active)
        client.rpush(f"test:runs:{key}", self.request.hostname)
        time.sleep(float(client.get(f"test:run-seconds:{key}") or 0.3))
        client.decr(f"test:active:{key}")
        client.rpush(f"test:done:{key}", self.request.hostname)
