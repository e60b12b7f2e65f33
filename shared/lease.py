"""Per-object leases and coalesced reconcile requests.

A lease lets one worker reconcile one object at a time across all workers;
it expires ``ttl`` seconds after its holder stops renewing it (a dead holder
blocks the object for at most that long). Each acquisition has its own token,
and renew/release compare it in Lua, so a holder whose lease expired and was
taken over can never renew or release the new holder's lease.

Coalescing: ``request_reconcile`` sends a task only when none is pending for
that object. The pending marker is cleared when the task starts, so a request
arriving during a run queues exactly one more run, and a burst of requests
gives one task and one run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from types import TracebackType

import redis
from celery import Celery

from shared.keys import ObjectKey
from shared.metrics import LEASE_WAITS, count

__all__ = [
    "Lease",
    "LeaseBusy",
    "clear_pending",
    "current_holder",
    "default_holder",
    "exclusive_run",
    "lease_key",
    "pending_key",
    "request_reconcile",
]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseBusy(RuntimeError):
    """Another holder has the object's lease."""

    def __init__(self, key: ObjectKey, holder: str | None) -> None:
        super().__init__(f"{key}: lease held by {holder or 'another worker'}")
        self.key = key
        self.holder = holder


def lease_key(key: ObjectKey) -> str:
    """The Redis key of an object's lease."""
    return f"sluice:lease:{key}"


def pending_key(task_name: str, key: ObjectKey) -> str:
    """The Redis key marking a queued, not yet started ``task_name`` for ``key``."""
    return f"sluice:pending:{task_name}:{key}"


def default_holder() -> str:
    """A holder name for this process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def current_holder(client: redis.Redis, key: ObjectKey) -> str | None:
    """The holder name of ``key``'s lease, or None when it is free."""
    token = client.get(lease_key(key))
    if token is None:
        return None
    text = token.decode() if isinstance(token, bytes) else str(token)
    return text.rpartition("/")[0]


class Lease:
    """One attempt to hold ``key``'s lease; as a context manager it renews in the background."""

    def __init__(
        self,
        client: redis.Redis,
        key: ObjectKey,
        holder: str,
        ttl: float,
        *,
        clearing: str | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"lease ttl {ttl}: must be positive")
        self.key = key
        # A key deleted just before each acquisition, in the same round trip (a
        # task's pending marker), whether or not the lease is free.
        self.clearing = clearing
        self.holder = holder
        self.ttl = ttl
        self.token = f"{holder}/{uuid.uuid4().hex}"
        # Set when renewal fails: the body should stop, someone else may hold it now.
        self.lost = threading.Event()
        self._client = client
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def acquire(self) -> bool:
        """Take the lease if it is free (SET NX PX), after deleting ``clearing`` if given."""
        if self.clearing is None:
            return bool(self._client.set(lease_key(self.key), self.token, nx=True, px=self._ttl_ms))
        pipe = self._client.pipeline(transaction=False)
        pipe.delete(self.clearing)
        pipe.set(lease_key(self.key), self.token, nx=True, px=self._ttl_ms)
        return bool(pipe.execute()[-1])

    def renew(self) -> bool:
        """Extend the lease by ``ttl``; False if it is no longer ours."""
        return bool(self._renew(keys=[lease_key(self.key)], args=[self.token, self._ttl_ms]))

    def release(self) -> bool:
        """Give the lease up; False if it was no longer ours (nothing is deleted then)."""
        return bool(self._release(keys=[lease_key(self.key)], args=[self.token]))

    def __enter__(self) -> Lease:
        if not self.acquire():
            raise LeaseBusy(self.key, current_holder(self._client, self.key))
        self._stop.clear()
        self.lost.clear()
        self._thread = threading.Thread(
            target=self._keep_renewed, name=f"lease:{self.key}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with suppress(redis.RedisError):  # unreleased, the lease expires within ttl
            self.release()

    def _keep_renewed(self) -> None:
        expires = time.monotonic() + self.ttl
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.renew():
                    self.lost.set()
                    return
                expires = time.monotonic() + self.ttl
            except redis.RedisError:
                # Redis unreachable: keep trying until the lease would have expired.
                if time.monotonic() >= expires:
                    self.lost.set()
                    return


def request_reconcile(
    client: redis.Redis,
    app: Celery,
    key: ObjectKey,
    *,
    task_name: str,
    countdown: float = 0,
    pending_ttl: float = 900,
    stale_after: float = 30.0,
) -> bool:
    """Send ``task_name(str(key))`` unless a request is pending (sent < ``stale_after`` ago).

    kombu's Redis transport pops a message before it records it as unacked, so
    a worker killed in between loses it for good while its marker stays. A
    marker older than ``stale_after`` is therefore taken as possibly lost and
    the task is sent again: a duplicate run is harmless, a missing one is not.
    """
    # An ETA message is held unacked until it runs, so countdown must stay well
    # below the visibility timeout; longer delays go through schedule_after.
    marker = pending_key(task_name, key)
    now = time.time()
    ttl_ms = max(1, int(pending_ttl * 1000))
    if not client.set(marker, repr(now), nx=True, px=ttl_ms):
        sent_at = client.get(marker)
        try:
            fresh = sent_at is not None and now - float(sent_at) < stale_after
        except ValueError:
            fresh = False
        if fresh:
            return False
        client.set(marker, repr(now), px=ttl_ms)
    try:
        app.send_task(task_name, args=[str(key)], countdown=countdown or None)
    except BaseException:
        client.delete(marker)
        raise
    return True


def clear_pending(client: redis.Redis, key: ObjectKey, *, task_name: str) -> None:
    """Mark ``task_name`` for ``key`` as started, so the next request queues another run."""
    client.delete(pending_key(task_name, key))


@contextmanager
def exclusive_run(
    client: redis.Redis,
    app: Celery,
    key: ObjectKey,
    *,
    task_name: str,
    holder: str,
    ttl: float,
    retry_after: float = 1.0,
) -> Iterator[Lease | None]:
    """Start a coalesced task: yield the held lease, or None once the run is re-requested.

    The task's pending marker is cleared first (``clear_pending``), in the same
    round trip as the lease's acquisition.
    """
    clearing = pending_key(task_name, key)
    with ExitStack() as stack:
        try:
            lease: Lease | None = stack.enter_context(
                Lease(client, key, holder, ttl, clearing=clearing)
            )
        except LeaseBusy:
            lease = None
        if lease is None:
            count(client, LEASE_WAITS)
            # Another worker runs this object: ask again shortly (coalesced), so
            # the request that brought us here is never lost.
            request_reconcile(client, app, key, task_name=task_name, countdown=retry_after)
        yield lease
