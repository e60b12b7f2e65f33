"""Independent requests to one cluster sent side by side, a bounded number at a time.

A cluster 20 ms away costs 20 ms per request, whatever the request. The dry runs
of one revision, the patches of one apply stage, the reads of a health check and
adoption's lists do not depend on each other, so they go out together: a stage
of ten objects then costs one round trip instead of ten. Threads, because the
client is blocking (the ``kubernetes`` package's urllib3 REST layer) and the
time is spent waiting on the network, where the GIL is released.

The threads are the process's, started once (starting a thread per call cost a
reconcile more CPU than some of its requests). A call never waits for a free
thread: its caller takes the batch's calls itself too, so a batch started from
inside another batch, or while every thread is busy, still finishes, one call
after another at worst.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar, cast

__all__ = ["IN_FLIGHT", "POOL_SIZE", "run_all"]

# Calls one run_all keeps in flight.
IN_FLIGHT = 16
# Connections a client keeps open (kubeconfig.py), and the process's helper
# threads: a plan's reads and dry runs go out in pairs, and the runs of several
# Kustomizations on one cluster share the client.
POOL_SIZE = 4 * IN_FLIGHT
R = TypeVar("R")

_helpers = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="kube")


class _Batch(Generic[R]):
    """The calls of one run_all, taken one at a time by whichever thread is free."""

    def __init__(self, calls: Sequence[Callable[[], R]]) -> None:
        self.calls = calls
        self.results: list[R | None] = [None] * len(calls)
        self.errors: list[BaseException | None] = [None] * len(calls)
        self._next = 0
        self._left = len(calls)
        self._lock = threading.Lock()
        self.finished = threading.Event()

    def drain(self) -> None:
        """Run calls of this batch until none is left to start."""
        while True:
            with self._lock:
                index = self._next
                if index >= len(self.calls):
                    return
                self._next += 1
            try:
                self.results[index] = self.calls[index]()
            except BaseException as exc:  # handed to the caller, who raises it
                self.errors[index] = exc
            with self._lock:
                self._left -= 1
                if self._left == 0:
                    self.finished.set()


def run_all(calls: Sequence[Callable[[], R]], *, limit: int = IN_FLIGHT) -> list[R]:
    """Run ``calls`` concurrently, at most ``limit`` at a time; their results in order.

    Every call runs to its end before anything is raised, so no request is left
    in flight behind the caller's back; then the first exception, in the order
    of ``calls``, is raised.
    """
    if len(calls) <= 1:
        return [call() for call in calls]
    batch = _Batch(calls)
    for _ in range(min(limit, len(calls)) - 1):
        _helpers.submit(batch.drain)
    batch.drain()
    batch.finished.wait()
    for error in batch.errors:
        if error is not None:
            raise error
    return [cast(R, result) for result in batch.results]  # every call returned
