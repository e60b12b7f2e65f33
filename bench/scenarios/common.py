"""What every scenario takes (a Context) and gives back (a Result of table rows and raw data)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Context", "Result", "Row", "median", "percentile", "seconds"]


@dataclass(frozen=True)
class Context:
    """How a scenario should run: full or quick, where its files go, how long any wait may take."""

    quick: bool
    work: Path
    timeout: float
    say: Callable[[str], None]
    peer: str | None = None  # "flux": run the same workload on Flux too
    helm_releases: int | None = None  # the helm scenario's N (its default when None)

    @property
    def flux(self) -> bool:
        """Whether Flux runs beside sluice in this run."""
        return self.peer == "flux"


@dataclass(frozen=True)
class Row:
    """One line of the table: a measured value and what it was measured under."""

    metric: str
    value: str
    note: str = ""
    # With a peer (``--peer flux``): the peer's figure and the ratio (bench.compare).
    peer: str | None = None
    ratio: str | None = None


@dataclass
class Result:
    """A scenario's rows for the table and its figures for the JSON file."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100), linearly interpolated between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def seconds(value: float) -> str:
    """A duration for the table: ``0.84 s``, ``12.3 s``, ``245 s``."""
    if value < 10:
        return f"{value:.2f} s"
    if value < 100:
        return f"{value:.1f} s"
    return f"{value:.0f} s"


def median(values: Sequence[float]) -> float:
    """The median (a thin alias, so scenarios import their statistics from one place)."""
    return statistics.median(values)
