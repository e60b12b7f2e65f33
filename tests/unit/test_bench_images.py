"""The images scenario's table rows: per-repository figures from what the registry served."""

from __future__ import annotations

from bench.scenarios.images import Scans, summarize
from bench.stack import Topology


def rows(rounds: dict[str, dict[str, Scans]]) -> dict[str, str]:
    result = summarize([0.5, 0.6, 1.0], rounds, 200, Topology(image_workers=1))
    return {row.metric: row.value for row in result.rows}


def scans(count: int, requests: int, *, tokens: int | None = None, cpu: float = 1.4) -> Scans:
    return Scans(
        scans=count,
        requests=requests,
        challenged=0,
        tokens=tokens,
        cpu_seconds=cpu,
        wall_seconds=2.0,
    )


def test_scans_are_counted_per_image_repository() -> None:
    # 200 first scans of 2 requests (401, then with the login) and 7 second scans of 1.
    basic = {"first": scans(207, 407, cpu=3.2), "unchanged": scans(200, 200)}
    token = {"first": scans(200, 400, tokens=200, cpu=4.0), "unchanged": scans(200, 200, tokens=0)}
    got = rows({"Basic login": basic, "token service": token})
    assert got["scan of 200, Basic login, first: per ImageRepository"] == (
        "2.04 requests, 16.0 ms CPU"
    )
    assert got["scan of 200, Basic login, unchanged: per ImageRepository"] == (
        "1.00 requests, 7.0 ms CPU"
    )
    assert got["scan of 200, token service, first: per ImageRepository"] == (
        "2.00 requests + 1.00 tokens, 20.0 ms CPU"
    )
    assert got["scan of 200, token service, unchanged: per ImageRepository"] == (
        "1.00 requests + 0.00 tokens, 7.0 ms CPU"
    )


def test_push_to_cluster_percentiles() -> None:
    got = rows({"Basic login": {"first": scans(200, 400), "unchanged": scans(200, 200)}})
    assert got["tag pushed -> image in the cluster: p50"] == "0.60 s"
    assert got["tag pushed -> image in the cluster: p95"] == "0.96 s"
