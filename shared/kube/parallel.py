"""Independent requests to one cluster sent side by side, a bounded number at a time.

A cluster 20 ms away costs 20 ms per request, whatever the request. The dry runs
of one revision, the patches of one apply stage, the reads of a health check and
adoption's lists do not depend on each other, so they go out together: a stage
of ten objects then costs one round trip instead of ten. Threads, because the
client is blocking (the ``kubernetes`` package's urllib3 REST layer) and the
time is spent waiting on the network, where the GIL is released. Each call gets
its own short-lived executor, so a call made from inside another never waits
for a slot the outer one holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["IN_FLIGHT", "POOL_SIZE", "run_all"]

# Calls one run_all keeps in flight.
IN_FLIGHT = 16
# Connections a client keeps open (kubeconfig.py): a plan's reads and dry runs go
# out in pairs, and the runs of several Kustomizations on one cluster share it.
POOL_SIZE = 4 * IN_FLIGHT
R = TypeVar("R")


def run_all(calls: Sequence[Callable[[], R]], *, limit: int = IN_FLIGHT) -> list[R]:
    """Run ``calls`` concurrently, at most ``limit`` at a time; their results in order.

    Every call runs to its end before anything is raised, so no request is left
    in flight behind the caller's back; then the first exception, in the order
    of ``calls``, is raised.
    """
    if len(calls) <= 1:
        return [call() for call in calls]
    *others, last = calls
    # The caller's thread makes the last call itself: one thread fewer to start.
    with ThreadPoolExecutor(max_workers=min(limit - 1, len(others)) or 1) as pool:
        futures = [pool.submit(call) for call in others]
        failure: Exception | None = None
        try:
            mine = last()
        except Exception as exc:  # raised below, in order, once every call ended
            failure = exc
    for future in futures:
        if (error := future.exception()) is not None:
            raise error
    if failure is not None:
        raise failure
    return [*(future.result() for future in futures), mine]
