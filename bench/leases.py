"""Who held which object's lease, and whether two holders ever held one at the same time.

Workers started from ``bench.recorder`` append one entry per lease taken and
given back to the Redis list ``RECORD``: the acquisition is stamped after
Redis granted it, the release before Redis deletes it, so a hand-over between
two workers can never look like an overlap, and a real one (a lease that
expired under a holder still working) always does.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import redis

__all__ = ["RECORD", "LeaseReport", "Span", "read_spans", "report"]

RECORD = "bench:leases"


@dataclass(frozen=True)
class Span:
    """One holder holding one object's lease from ``start`` to ``end`` (epoch seconds)."""

    key: str
    holder: str
    start: float
    end: float


@dataclass(frozen=True)
class LeaseReport:
    """Lease activity of a run."""

    spans: int
    objects: int
    holders: dict[str, int]
    overlaps: list[tuple[Span, Span]]
    unreleased: int


def read_spans(client: redis.Redis) -> tuple[list[Span], int]:
    """The recorded spans, and how many acquisitions have no release (yet)."""
    open_: dict[tuple[str, str, str], float] = {}
    spans: list[Span] = []
    for raw in client.lrange(RECORD, 0, -1):
        event, key, holder, token, at = json.loads(raw)
        ident = (key, holder, token)
        if event == "acquire":
            open_[ident] = at
        elif ident in open_:
            spans.append(Span(key, holder, open_.pop(ident), at))
    return spans, len(open_)


def report(client: redis.Redis) -> LeaseReport:
    """Count spans per holder process and find every pair that overlapped on one key."""
    spans, unreleased = read_spans(client)
    by_key: dict[str, list[Span]] = {}
    for span in spans:
        by_key.setdefault(span.key, []).append(span)
    overlaps: list[tuple[Span, Span]] = []
    for group in by_key.values():
        group.sort(key=lambda s: s.start)
        latest: Span | None = None
        for span in group:
            if latest is not None and span.start < latest.end:
                overlaps.append((latest, span))
            if latest is None or span.end > latest.end:
                latest = span
    holders = Counter(span.holder for span in spans)
    return LeaseReport(
        spans=len(spans),
        objects=len(by_key),
        holders=dict(sorted(holders.items())),
        overlaps=overlaps,
        unreleased=unreleased,
    )
