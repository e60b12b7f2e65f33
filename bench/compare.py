"""sluice's figure beside a peer's (Flux's): the ratio, always read "higher = sluice better".

For a rate (reconciles per second) that is sluice / peer; for a cost (seconds,
CPU, memory) it is peer / sluice. So 1.50x means sluice did 1.5 times
better, 0.50x half as well, whatever the figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["RATIO_HEADER", "Compared", "best_within", "ratio", "ratio_text"]

RATIO_HEADER = "ratio (higher = sluice better)"
K = TypeVar("K")


def ratio(sluice: float, peer: float, *, higher_is_better: bool) -> float | None:
    """How many times better sluice did than the peer; None when either figure is unusable."""
    if sluice <= 0 or peer <= 0:
        return None
    return sluice / peer if higher_is_better else peer / sluice


def ratio_text(value: float | None) -> str:
    """A ratio for the table: ``1.15x``, ``0.26x``; ``-`` when there is none."""
    if value is None:
        return "-"
    return f"{value:.2f}x" if value < 100 else f"{value:.0f}x"


@dataclass(frozen=True)
class Compared:
    """One figure for both tools, as the table shows it."""

    sluice: str
    peer: str
    ratio: str

    @classmethod
    def of(
        cls,
        sluice: float,
        peer: float,
        *,
        higher_is_better: bool,
        unit: str,
        digits: int = 2,
    ) -> Compared:
        """Both values with ``unit`` and ``digits`` decimals, and their ratio."""

        # A factor reads "x1.67", as the sluice-only rows write it; a unit follows a space.
        def text(value: float) -> str:
            if unit == "x":
                return f"x{value:.{digits}f}"
            return f"{value:.{digits}f} {unit}".strip()

        return cls(
            text(sluice),
            text(peer),
            ratio_text(ratio(sluice, peer, higher_is_better=higher_is_better)),
        )


def best_within(rates: Mapping[K, float], costs: Mapping[K, float], budget: float) -> K | None:
    """The key with the highest rate among those whose cost is at most ``budget``."""
    fitting = [key for key in rates if costs[key] <= budget]
    return max(fitting, key=lambda key: rates[key]) if fitting else None
