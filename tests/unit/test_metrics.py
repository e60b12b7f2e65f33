"""The Redis-free parts of shared.metrics: series naming, bucket math, results."""

from __future__ import annotations

import math
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared import metrics
from shared.metrics import (
    BUCKETS,
    METRICS,
    RedisCollector,
    bucket_bound,
    count,
    cumulative_buckets,
    field_name,
    format_bound,
    parse_field,
    reconcile_result,
    record_reconcile,
)

# Never connected: a pipeline only opens a connection when it executes.
NOWHERE = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))


@pytest.mark.parametrize(
    ("name", "labels", "field"),
    [
        ("sluice_lease_waits_total", {}, "sluice_lease_waits_total{}"),
        ("sluice_apply_total", {"result": "success"}, 'sluice_apply_total{"result":"success"}'),
        (
            "sluice_reconcile_total",
            {"result": "failure", "kind": "GitRepository"},
            'sluice_reconcile_total{"kind":"GitRepository","result":"failure"}',
        ),
        ("x_bucket", {"le": "+Inf", "kind": 'we"ird{'}, 'x_bucket{"kind":"we\\"ird{","le":"+Inf"}'),
    ],
)
def test_a_series_is_named_by_metric_and_sorted_labels_and_parses_back(
    name: str, labels: dict[str, str], field: str
) -> None:
    assert field_name(name, labels) == field
    assert parse_field(field.encode()) == (name, labels)


def test_a_field_without_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="expected name"):
        parse_field("sluice_apply_total")


@pytest.mark.parametrize(
    ("seconds", "bound"),
    [
        (0.0, 0.05),
        (0.05, 0.05),  # le is inclusive
        (0.0500001, 0.1),
        (0.7, 1),
        (1, 1),
        (299.9, 300),
        (300, 300),
        (300.1, math.inf),
        (1e9, math.inf),
    ],
)
def test_an_observation_falls_in_the_first_bucket_whose_bound_is_not_below_it(
    seconds: float, bound: float
) -> None:
    assert bucket_bound(seconds) == bound


@pytest.mark.parametrize(
    ("bound", "text"),
    [(0.05, "0.05"), (1, "1.0"), (2.5, "2.5"), (300, "300.0"), (math.inf, "+Inf")],
)
def test_bounds_are_written_as_prometheus_writes_le(bound: float, text: str) -> None:
    assert format_bound(bound) == text


def test_per_bucket_counts_add_up_to_cumulative_buckets_ending_in_the_total() -> None:
    counts = {"0.1": 2.0, "1.0": 1.0, "+Inf": 4.0}
    result = cumulative_buckets(counts, buckets=(0.1, 0.5, 1.0))
    assert result == [("0.1", 2.0), ("0.5", 2.0), ("1.0", 3.0), ("+Inf", 7.0)]


def test_every_bucket_is_served_even_when_empty() -> None:
    result = cumulative_buckets({})
    assert [le for le, _ in result] == [format_bound(b) for b in (*BUCKETS, math.inf)]
    assert all(value == 0 for _, value in result)


def test_buckets_are_sorted_for_bisect() -> None:
    assert list(BUCKETS) == sorted(set(BUCKETS))


@pytest.mark.parametrize(
    ("doc", "result"),
    [
        (None, "success"),  # deleted: nothing left to fail
        ({"status": {}}, "success"),
        ({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, "success"),
        ({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}, "success"),
        ({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}, "failure"),
    ],
)
def test_a_reconcile_fails_when_ready_ends_false(doc: dict[str, Any] | None, result: str) -> None:
    assert reconcile_result(doc) == result


@pytest.mark.parametrize(
    ("name", "labels", "error"),
    [
        ("sluice_unknown_total", {}, "not a known counter"),
        ("sluice_queue_depth", {"service": "source"}, "not a known counter"),
        ("sluice_apply_total", {}, "expected \\['result'\\]"),
        ("sluice_apply_total", {"result": "success", "cluster": "a"}, "expected \\['result'\\]"),
    ],
)
def test_counting_an_unknown_metric_or_wrong_labels_is_a_programming_error(
    name: str, labels: dict[str, str], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        count(NOWHERE, name, labels)


def test_a_reconcile_result_is_success_or_failure() -> None:
    with pytest.raises(ValueError, match="expected 'success' or 'failure'"):
        record_reconcile(NOWHERE, "GitRepository", "ok", 1.0)


def test_recording_without_redis_never_fails_the_caller() -> None:
    count(NOWHERE, metrics.APPLIES, {"result": "success"})
    record_reconcile(NOWHERE, "GitRepository", "success", 0.2)


def test_every_metric_is_named_as_prometheus_expects() -> None:
    for name, info in METRICS.items():
        assert name == info.name and name.startswith("sluice_")
        assert name.endswith("_total") == (info.type == "counter")


def test_the_exporter_says_redis_is_down_instead_of_failing_the_scrape() -> None:
    families = list(RedisCollector(NOWHERE, ["source"]).collect())
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [
        ("sluice_metrics_redis_up", [0.0])
    ]
