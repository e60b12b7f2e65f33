"""Alert dispatch: a burst of events to a live webhook, beside one that is dead.

A stack with the notify worker (as ``sluice worker notify`` runs it) and two
``generic`` Providers, each with an Alert taking every Kustomization event:
one Provider points at a live recording sink on loopback
(``tests.servers.sink.HttpSink``, a thread of the benchmark process), the
other at a dead endpoint. The benchmark publishes a burst of N distinct
Kustomization events (1,000; 200 with --quick) on the event bus, as the
services publish theirs, and times each one from just before its ``publish``
to its arrival at the live sink; also the whole burst, from the first publish
to the last arrival, and the notify worker's CPU seconds and peak memory
over it (its whole session: every pool thread and child).

Three variants, each on a stack of its own so that no backlog carries over:

- ``live only``: no second Provider, the baseline;
- ``+ refused``: the second Provider's port refuses every connection;
- ``+ hung``: the second Provider's endpoint accepts and never answers, with
  the Provider's ``timeout`` (5s), so each try holds a sender for 5 s.

The dead Provider must not slow the live one: its notices wait in an outbox
of their own and are retried with backoff (services/notify/delivery.py).
Before the clock runs one event goes through (the worker's first routing and
first send are not what a burst costs).
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial

from bench.deadends import SilentServer, refusing_url
from bench.manifests import NAMESPACE, alert, provider
from bench.procstat import PeakMemory, cpu_seconds, session_pids
from bench.scenarios.common import Context, Result, Row, percentile, seconds
from bench.stack import Stack, Topology
from shared.api.conditions import get_condition
from shared.events import Event
from shared.keys import ObjectKey
from shared.store import Store
from tests.servers.sink import HttpSink

__all__ = ["VARIANTS", "run"]

NAME = "alerts"
MIB = 1 << 20
KIND = "Kustomization"
HUNG_TIMEOUT = "5s"
# Variant -> what the second Provider points at (None: there is none).
VARIANTS: dict[str, str | None] = {"live only": None, "+ refused": "refused", "+ hung": "hung"}
NOTES = {
    "live only": "one generic Provider -> a recording HTTP sink on loopback",
    "+ refused": "a second Provider and Alert, its endpoint a loopback port that refuses",
    "+ hung": f"a second Provider and Alert, its endpoint accepts and never answers "
    f"(Provider timeout {HUNG_TIMEOUT})",
}


@dataclass(frozen=True)
class Burst:
    """One burst of events through the notify worker to the live sink."""

    latencies: list[float]  # seconds, publish -> arrival, per event
    total: float  # first publish -> last arrival
    publishing: float  # first publish -> last publish returned
    cpu_seconds: float
    rss_bytes: int
    dead_state: str  # the dead Provider's Ready condition at the end ("" without one)
    dead_tries: int | None  # connections the hung endpoint accepted (None when not counted)
    load: float  # the machine's 1-minute load average when the burst began


def _event(variant: str, index: int) -> Event:
    # Distinct messages: identical events within 5 minutes are forwarded once.
    return Event(
        type="applied",
        object=ObjectKey(KIND, NAMESPACE, f"app-{index % 10}"),
        severity="info",
        reason="ReconciliationSucceeded",
        message=f"{variant} event {index}",
        revision=f"main@sha1:{index:040x}",
    )


def _ready(store: Store, kind: str, name: str) -> bool:
    doc = store.get(ObjectKey(kind, NAMESPACE, name))
    cond = get_condition((doc or {}).get("status"), "Ready")
    return bool(cond and cond.get("status") == "True")


def _condition(stack: Stack, name: str) -> str:
    cond = stack.condition("Provider", name) or {}
    return f"Ready={cond.get('status', '?')} {cond.get('reason', '')}".strip()


def _burst(ctx: Context, variant: str, count: int, topology: Topology) -> Burst:
    """Set up the Providers, warm up, then publish ``count`` events and time them."""
    dead = VARIANTS[variant]
    with ExitStack() as stack_of:
        sink = HttpSink()
        sink.start()
        stack_of.callback(sink.stop)
        silent = stack_of.enter_context(SilentServer()) if dead == "hung" else None
        stack = stack_of.enter_context(
            Stack(topology, ctx.work / variant.strip("+ "), timeout=ctx.timeout, say=ctx.say)
        )
        stack.register_clusters(lambda _n: {})
        docs = [provider("live", f"{sink.url}/live"), alert("to-live", provider="live", kind=KIND)]
        if dead == "refused":
            docs.append(provider("dead", refusing_url()))
        elif silent is not None:
            docs.append(provider("dead", silent.url, timeout=HUNG_TIMEOUT))
        if dead is not None:
            docs.append(alert("to-dead", provider="dead", kind=KIND))
        stack.apply(docs)
        for doc in docs:
            kind, name = doc["kind"], doc["metadata"]["name"]
            stack.request(kind, name)
            stack.wait(
                f"{kind} {name} Ready",
                partial(_ready, stack.store, kind, name),
                timeout=ctx.timeout,
            )
        bus = stack.events
        bus.publish(_event(f"{variant} warm-up", 0))
        sink.wait_for(1, timeout=min(ctx.timeout, 60.0))
        sink.clear()

        notify = partial(stack.worker_pids, "notify-")
        cpu_before = cpu_seconds(session_pids(notify()))
        published: dict[str, float] = {}
        load = os.getloadavg()[0]
        with PeakMemory(notify) as peak:
            began = time.time()
            for index in range(1, count + 1):
                event = _event(variant, index)
                published[event.message] = time.time()
                bus.publish(event)
            publishing = time.time() - began
            received = sink.wait_for(count, timeout=max(ctx.timeout, count * 0.5))
        cpu = cpu_seconds(session_pids(notify())) - cpu_before
        arrived = {r.json()["message"]: r.time for r in received}
        if set(arrived) != set(published):
            raise RuntimeError(
                f"the live sink got {len(arrived)} distinct events of {count} "
                f"({len(received)} requests)"
            )
        burst = Burst(
            latencies=[arrived[m] - published[m] for m in published],
            total=max(arrived.values()) - began,
            publishing=publishing,
            cpu_seconds=cpu,
            rss_bytes=peak.rss_bytes,
            dead_state=_condition(stack, "dead") if dead is not None else "",
            dead_tries=silent.connections if silent is not None else None,
            load=load,
        )
    return burst


def run(ctx: Context) -> Result:
    """A burst of events to a live sink, alone and beside a refusing and a hung endpoint."""
    count = 200 if ctx.quick else 1000
    # No kustomize worker: nothing here is applied; the notify worker as `sluice worker` runs it.
    topology = Topology(clusters=1, kustomize_workers=0, notify_workers=1)
    bursts: dict[str, Burst] = {}
    for variant in VARIANTS:
        bursts[variant] = burst = _burst(ctx, variant, count, topology)
        ctx.say(
            f"  {variant}: {count} events at the live sink in {burst.total:.2f}s "
            f"(p50 {percentile(burst.latencies, 50):.3f}s, max {max(burst.latencies):.3f}s)"
        )
    return _result(bursts, count, topology)


def _result(bursts: dict[str, Burst], count: int, topology: Topology) -> Result:
    rows: list[Row] = []
    data: dict[str, object] = {"events": count, "topology": topology.describe()}
    for variant, burst in bursts.items():
        each = burst.latencies
        p50, p95, top = percentile(each, 50), percentile(each, 95), max(each)
        dead = ""
        if burst.dead_state:
            dead = f"; dead Provider at the end: {burst.dead_state}"
            if burst.dead_tries is not None:
                tries = "try" if burst.dead_tries == 1 else "tries"
                dead += f"; {burst.dead_tries} {tries} held by the hung endpoint"
        note = NOTES[variant]
        if variant == next(iter(VARIANTS)):
            note += (
                f"; {count:,} distinct Kustomization events published on the event bus in "
                f"a burst, each timed from publish to arrival; {topology.describe()}"
            )
        rows.append(
            Row(
                f"{variant}: publish -> live sink",
                f"p50 {seconds(p50)}, p95 {seconds(p95)}, max {seconds(top)}",
                note,
            )
        )
        rows.append(
            Row(
                f"{variant}: all {count:,} events",
                seconds(burst.total),
                f"first publish to last arrival (publishing took {seconds(burst.publishing)}; "
                f"load average {burst.load:.1f} at the start); "
                f"notify worker {burst.cpu_seconds:.1f} CPU s, peak RSS "
                f"{burst.rss_bytes / MIB:.0f} MiB{dead}",
            )
        )
        data[variant] = {
            "p50_seconds": round(p50, 4),
            "p95_seconds": round(p95, 4),
            "max_seconds": round(top, 4),
            "total_seconds": round(burst.total, 3),
            "publishing_seconds": round(burst.publishing, 3),
            "notify_cpu_seconds": round(burst.cpu_seconds, 2),
            "notify_peak_rss_bytes": burst.rss_bytes,
            "dead_provider": burst.dead_state or None,
            "hung_tries": burst.dead_tries,
            "load_average_at_start": round(burst.load, 2),
        }
    return Result(name=NAME, title="alert dispatch", rows=rows, data=data)
