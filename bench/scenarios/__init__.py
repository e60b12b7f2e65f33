"""The benchmark scenarios, by name, in the order ``make bench`` runs them."""

from __future__ import annotations

from collections.abc import Callable

from bench.scenarios import fanout, footprint, latency, steady, throughput
from bench.scenarios.common import Context, Result, Row

__all__ = ["SCENARIOS", "Context", "Result", "Row"]

SCENARIOS: dict[str, Callable[[Context], Result]] = {
    "latency": latency.run,
    "fanout": fanout.run,
    "throughput": throughput.run,
    "throughput-remote": throughput.run_remote,
    "steady": steady.run,
    "footprint": footprint.run,
}
