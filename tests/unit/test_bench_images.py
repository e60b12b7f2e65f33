"""The images scenario's table rows: per-repository figures from what the registry served."""

from __future__ import annotations

from bench.scenarios.images import Scans, summarize
from bench.stack import Topology


def rows(first: Scans, unchanged: Scans) -> dict[str, str]:
    result = summarize(
        [0.5, 0.6, 1.0], {"first": first, "unchanged": unchanged}, 200, Topology(image_workers=1)
    )
    return {row.metric: row.value for row in result.rows}


def test_scans_are_counted_per_image_repository() -> None:
    # 200 first scans of 2 requests (401, then with the login) and 7 second scans of 1.
    first = Scans(scans=207, requests=407, challenged=200, cpu_seconds=3.2, wall_seconds=4.7)
    unchanged = Scans(scans=200, requests=200, challenged=0, cpu_seconds=1.4, wall_seconds=2.2)
    got = rows(first, unchanged)
    assert got["scan of 200, first: per ImageRepository"] == "2.04 requests, 16.0 ms CPU"
    assert got["scan of 200, unchanged: per ImageRepository"] == "1.00 requests, 7.0 ms CPU"


def test_push_to_cluster_percentiles() -> None:
    scans = Scans(scans=200, requests=200, challenged=0, cpu_seconds=1.0, wall_seconds=1.0)
    got = rows(scans, scans)
    assert got["tag pushed -> image in the cluster: p50"] == "0.60 s"
    assert got["tag pushed -> image in the cluster: p95"] == "0.96 s"
