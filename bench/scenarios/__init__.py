"""The benchmark scenarios, by name, in the order ``make bench`` runs them."""

from __future__ import annotations

from collections.abc import Callable

from bench.scenarios import (
    alerts,
    fanout,
    firstapply,
    footprint,
    helm,
    images,
    latency,
    steady,
    throughput,
)
from bench.scenarios.common import Context, Result, Row

__all__ = ["SCENARIOS", "Context", "Result", "Row"]

SCENARIOS: dict[str, Callable[[Context], Result]] = {
    "latency": latency.run,
    "fanout": fanout.run,
    "fan-out-remote": fanout.run_remote,
    "throughput": throughput.run,
    "throughput-remote": throughput.run_remote,
    "first-apply-remote": firstapply.run,
    "steady": steady.run,
    "footprint": footprint.run,
    "helm": helm.run,
    "helm-fanout": helm.run_fanout,
    "alerts": alerts.run,
    "images": images.run,
}
