"""Prometheus metrics kept in Redis: written by every worker process, served by one exporter.

Celery's prefork workers are many processes on many machines, so no process
can hold the numbers in memory. Each helper here adds to one Redis hash
(``sluice:metrics``) in a single pipeline; ``sluice metrics`` serves the hash
with ``RedisCollector``, reading it (and the queue lengths) at scrape time.

A hash field is the metric name followed by its labels as compact, sorted
JSON: ``sluice_apply_total{"result":"success"}``. Histograms keep one
counter per bucket (not cumulative, so an observation is one increment) plus
``_sum``; the collector adds the buckets up (the last one is the count).

Recording never fails the caller: a metric lost while Redis is unreachable
is better than a reconcile that fails because of it.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from shared.api.conditions import is_failed

__all__ = [
    "APPLIES",
    "BUCKETS",
    "BUILD_CACHE",
    "EVENTS_PUBLISHED",
    "FAILURE",
    "HASH",
    "LEASE_WAITS",
    "METRICS",
    "NOTICES",
    "OBJECTS_APPLIED",
    "QUEUE_DEPTH",
    "RECONCILES",
    "RECONCILE_DURATION",
    "SUCCESS",
    "MetricInfo",
    "RedisCollector",
    "bucket_bound",
    "count",
    "count_each",
    "cumulative_buckets",
    "field_name",
    "format_bound",
    "parse_field",
    "queue_count",
    "reconcile_result",
    "record_reconcile",
    "timed_reconcile",
]

log = logging.getLogger(__name__)

HASH = "sluice:metrics"

RECONCILES = "sluice_reconcile_total"
RECONCILE_DURATION = "sluice_reconcile_duration_seconds"
APPLIES = "sluice_apply_total"
QUEUE_DEPTH = "sluice_queue_depth"
EVENTS_PUBLISHED = "sluice_events_published_total"
OBJECTS_APPLIED = "sluice_objects_applied_total"
BUILD_CACHE = "sluice_build_cache_total"
LEASE_WAITS = "sluice_lease_waits_total"
NOTICES = "sluice_notify_notices_total"

SUCCESS = "success"
FAILURE = "failure"

# Reconciles range from a cached no-op (tens of ms) to a slow clone or a
# health check that waits minutes, so the buckets span that whole range.
BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# kombu's Redis transport keeps priorities 3, 6 and 9 in lists beside the queue's own.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass(frozen=True)
class MetricInfo:
    """What the exporter says about one metric: its type, help text and label names."""

    name: str
    type: str  # "counter", "histogram" or "gauge"
    help: str
    labels: tuple[str, ...] = ()


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo(RECONCILES, "counter", "Reconciles by kind and result.", ("kind", "result")),
        MetricInfo(RECONCILE_DURATION, "histogram", "Reconcile duration by kind.", ("kind",)),
        MetricInfo(APPLIES, "counter", "Applies of a build to one cluster.", ("result",)),
        MetricInfo(QUEUE_DEPTH, "gauge", "Messages waiting in a service's queue.", ("service",)),
        MetricInfo(EVENTS_PUBLISHED, "counter", "Events published, by type.", ("type",)),
        MetricInfo(OBJECTS_APPLIED, "counter", "Objects applied, by action.", ("action",)),
        MetricInfo(BUILD_CACHE, "counter", "Kustomize build cache lookups.", ("result",)),
        MetricInfo(LEASE_WAITS, "counter", "Tasks that found their object's lease busy."),
        MetricInfo(NOTICES, "counter", "Alert notices, sent or dropped.", ("result",)),
    )
}


def field_name(name: str, labels: Mapping[str, str] | None = None) -> str:
    """The hash field of one series: ``name`` then its labels as sorted compact JSON."""
    return name + json.dumps(dict(labels or {}), sort_keys=True, separators=(",", ":"))


def parse_field(field: str | bytes) -> tuple[str, dict[str, str]]:
    """The (name, labels) of a hash field written by ``field_name``."""
    text = field.decode() if isinstance(field, bytes) else field
    name, brace, rest = text.partition("{")
    if not brace:
        raise ValueError(f"metric field {text!r}: expected name{{labels}}")
    labels = json.loads(brace + rest)
    return name, {str(k): str(v) for k, v in labels.items()}


def _check(name: str, labels: Mapping[str, str], *, kind: str) -> None:
    info = METRICS.get(name)
    if info is None or info.type != kind:
        raise ValueError(f"metric {name!r}: not a known {kind} of sluice")
    if set(labels) != set(info.labels):
        raise ValueError(f"metric {name!r}: labels {sorted(labels)}, expected {list(info.labels)}")


def bucket_bound(seconds: float, buckets: Sequence[float] = BUCKETS) -> float:
    """The upper bound of the one bucket ``seconds`` falls into (``inf`` past the last)."""
    index = bisect.bisect_left(buckets, seconds)
    return buckets[index] if index < len(buckets) else math.inf


def format_bound(bound: float) -> str:
    """A bucket bound as Prometheus writes ``le``: ``0.5``, ``1.0``, ``+Inf``."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def cumulative_buckets(
    counts: Mapping[str, float], buckets: Sequence[float] = BUCKETS
) -> list[tuple[str, float]]:
    """Per-bucket counts (by ``le``) summed into Prometheus's cumulative buckets, ``+Inf`` last."""
    total = 0.0
    result = []
    for bound in [*buckets, math.inf]:
        le = format_bound(bound)
        total += counts.get(le, 0.0)
        result.append((le, total))
    return result


def _execute(pipe: Any) -> None:
    try:
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("metrics not recorded: %s", exc)


def count(
    client: redis.Redis, name: str, labels: Mapping[str, str] | None = None, *, amount: int = 1
) -> None:
    """Add ``amount`` to one counter series."""
    count_each(client, name, [(dict(labels or {}), amount)])


def count_each(
    client: redis.Redis, name: str, increments: Sequence[tuple[Mapping[str, str], int]]
) -> None:
    """Add to several series of one counter, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for labels, amount in increments:
        queue_count(pipe, name, labels, amount=amount)
    _execute(pipe)


def queue_count(
    pipe: Any, name: str, labels: Mapping[str, str] | None = None, *, amount: int = 1
) -> None:
    """Queue ``count``'s increment on a caller's pipeline, to go with its other commands.

    Run it with ``execute(raise_on_error=False)``: a failed increment is not worth
    failing the caller's write for.
    """
    labels = dict(labels or {})
    _check(name, labels, kind="counter")
    if amount:
        pipe.hincrby(HASH, field_name(name, labels), amount)


def record_reconcile(client: redis.Redis, kind: str, result: str, seconds: float) -> None:
    """Count one reconcile of ``kind`` by result and observe its duration."""
    if result not in (SUCCESS, FAILURE):
        raise ValueError(f"reconcile result {result!r}: expected {SUCCESS!r} or {FAILURE!r}")
    le = format_bound(bucket_bound(seconds))
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(HASH, field_name(RECONCILES, {"kind": kind, "result": result}), 1)
    pipe.hincrby(HASH, field_name(f"{RECONCILE_DURATION}_bucket", {"kind": kind, "le": le}), 1)
    pipe.hincrbyfloat(HASH, field_name(f"{RECONCILE_DURATION}_sum", {"kind": kind}), seconds)
    _execute(pipe)


def reconcile_result(doc: Mapping[str, Any] | None) -> str:
    """``failure`` when the object's Ready condition is False, else ``success``."""
    return FAILURE if doc is not None and is_failed(doc.get("status") or {}) else SUCCESS


@contextmanager
def timed_reconcile(
    client: redis.Redis, kind: str, reread: Callable[[], Mapping[str, Any] | None]
) -> Iterator[None]:
    """Record the body as one reconcile of ``kind``; its result is the Ready of ``reread()``."""
    started = time.monotonic()
    try:
        yield
    except BaseException:
        record_reconcile(client, kind, FAILURE, time.monotonic() - started)
        raise
    elapsed = time.monotonic() - started
    try:
        result = reconcile_result(reread())
    except redis.RedisError:
        result = FAILURE
    record_reconcile(client, kind, result, elapsed)


def _series(raw: Mapping[Any, Any]) -> Iterator[tuple[str, dict[str, str], float]]:
    for field, value in raw.items():
        try:
            yield (*parse_field(field), float(value))
        except ValueError:
            # Not written by this module: one stray field must not break every scrape.
            log.warning("ignoring metrics hash field %r", field)


def _key(labels: Mapping[str, str], names: Sequence[str]) -> tuple[str, ...]:
    return tuple(labels.get(n, "") for n in names)


class RedisCollector(Collector):
    """Serves the metrics hash and the queue lengths, read from Redis at each scrape."""

    def __init__(self, client: redis.Redis, queues: Sequence[str]) -> None:
        self._client = client
        self._queues = tuple(queues)

    def describe(self) -> list[Metric]:
        # Nothing to describe up front: registering must not touch Redis.
        return []

    def collect(self) -> Iterator[Metric]:
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(HASH)
        for queue in self._queues:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        try:
            raw, *lengths = pipe.execute()
        except redis.RedisError as exc:
            log.warning("cannot read metrics from Redis: %s", exc)
            yield GaugeMetricFamily("sluice_metrics_redis_up", "Whether Redis answered.", 0)
            return
        yield GaugeMetricFamily("sluice_metrics_redis_up", "Whether Redis answered.", 1)
        series = list(_series(raw))
        for info in METRICS.values():
            if info.type == "counter":
                yield self._counter(info, series)
            elif info.type == "histogram":
                yield self._histogram(info, series)
        depth = GaugeMetricFamily(QUEUE_DEPTH, METRICS[QUEUE_DEPTH].help, labels=["service"])
        step = len(_PRIORITY_SUFFIXES)
        for index, queue in enumerate(self._queues):
            depth.add_metric([queue], float(sum(lengths[index * step : (index + 1) * step])))
        yield depth

    @staticmethod
    def _counter(info: MetricInfo, series: list[tuple[str, dict[str, str], float]]) -> Metric:
        family = CounterMetricFamily(info.name, info.help, labels=list(info.labels))
        for name, labels, value in sorted(series, key=lambda s: sorted(s[1].items())):
            if name == info.name:
                family.add_metric(list(_key(labels, info.labels)), value)
        if not info.labels and not family.samples:
            # A counter without labels has one series: show it from the start, at 0.
            family.add_metric([], 0.0)
        return family

    @staticmethod
    def _histogram(info: MetricInfo, series: list[tuple[str, dict[str, str], float]]) -> Metric:
        buckets: dict[tuple[str, ...], dict[str, float]] = {}
        sums: dict[tuple[str, ...], float] = {}
        for name, labels, value in series:
            key = _key(labels, info.labels)
            if name == f"{info.name}_bucket":
                buckets.setdefault(key, {})[labels.get("le", "+Inf")] = value
            elif name == f"{info.name}_sum":
                sums[key] = value
        family = HistogramMetricFamily(info.name, info.help, labels=list(info.labels))
        for key in sorted(buckets):
            family.add_metric(list(key), cumulative_buckets(buckets[key]), sums.get(key, 0.0))
        return family
