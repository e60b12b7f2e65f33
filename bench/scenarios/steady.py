"""Steady state: what 1,000 managed objects at a 1-minute interval cost when nothing changes.

100 Kustomizations of 10 ConfigMaps each (one path, a namePrefix each) and
their GitRepository all run at ``interval: 1m``. Once all are Ready and a short
settling pause has passed, CPU seconds and memory are read from /proc over a
window of two minutes: summed over every sluice process (workers with their
pool processes and the kustomize builds they run, the scheduler, the artifact
server), and for redis-server on its own. The lease recorder counts the
reconciles and per-cluster applies that ran in the window.
"""

from __future__ import annotations

import threading
import time

from bench.leases import read_spans
from bench.manifests import app_files, git_repository, kustomization
from bench.procstat import Usage, measure
from bench.repo import GitRepo
from bench.scenarios.common import Context, Result, Row
from bench.stack import Stack, Topology
from shared.fleet.state import FleetState

__all__ = ["OBJECTS", "converge", "run"]

NAME = "steady"
OBJECTS = 10
SETTLE = 10.0
MIB = 1024 * 1024


def _usage(usage: Usage) -> dict[str, float]:
    return {
        "window_seconds": round(usage.seconds, 1),
        "cpu_seconds": round(usage.cpu_seconds, 2),
        "cpu_seconds_per_minute": round(usage.cpu_per_minute, 2),
        "rss_mib": round(usage.rss_bytes / MIB, 1),
        "pss_mib": round(usage.pss_bytes / MIB, 1),
        "processes": usage.processes,
    }


def converge(ctx: Context, stack: Stack, *, count: int) -> None:
    """``count`` Kustomizations of OBJECTS ConfigMaps each at a 1m interval, all Ready."""
    repo = GitRepo(ctx.work / "git", "fleet")
    push = repo.push(app_files(OBJECTS, "v0"), "v0")
    stack.register_clusters(lambda _n: {})
    docs = [git_repository("fleet", repo.url, interval="1m")]
    docs += [
        kustomization(f"s{i:03d}", source="fleet", interval="1m", name_prefix=f"s{i:03d}-")
        for i in range(count)
    ]
    stack.apply(docs)
    stack.wait(
        f"{count} Kustomizations Ready",
        lambda: len(stack.ready("Kustomization", revision=push.revision)) == count,
        timeout=max(ctx.timeout, count * 5.0),
        interval=0.5,
    )


def run(ctx: Context) -> Result:
    """Converge N x 10 objects, then measure an idle window of 1-minute intervals."""
    count = 20 if ctx.quick else 100
    window = 60.0 if ctx.quick else 120.0
    managed = count * OBJECTS
    topology = Topology(
        clusters=1, kustomize_workers=1, kustomize_concurrency=2, record_leases=True
    )
    with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        converge(ctx, stack, count=count)
        ctx.say(f"  {managed} objects converged; settling {SETTLE:.0f}s, measuring {window:.0f}s")
        time.sleep(SETTLE)
        state = FleetState(stack.client, service="kustomize")
        builds_before = state.builds()
        began = time.time()
        redis_usage: list[Usage] = []
        redis_thread = threading.Thread(
            target=lambda: redis_usage.append(measure(stack.redis_pids, window)), daemon=True
        )
        redis_thread.start()
        sluice = measure(stack.sluice_pids, window)
        redis_thread.join(timeout=window + 30)
        ended = time.time()
        builds = state.builds() - builds_before
        spans, _ = read_spans(stack.client)
    if not redis_usage:
        raise RuntimeError("the redis-server measurement did not finish")
    redis = redis_usage[0]
    in_window = [s for s in spans if began <= s.start <= ended]
    reconciles = sum(1 for s in in_window if "@" not in s.key)
    applies = len(in_window) - reconciles
    minutes = (ended - began) / 60.0
    per_1000 = sluice.cpu_per_minute * 1000 / managed
    setup = (
        f"{count} Kustomizations x {OBJECTS} ConfigMaps + 1 GitRepository, all interval 1m; "
        f"{window:.0f}s window after convergence; {topology.describe()}"
    )
    core = sluice.cpu_per_minute / 60 * 100
    scaled = f"scaled linearly from {managed} objects"
    per_1000_row = (
        []
        if managed == 1000
        else [Row("sluice CPU per 1,000 objects", f"{per_1000:.1f} s/min", scaled)]
    )
    return Result(
        name=NAME,
        title=f"steady state ({managed:,} objects)",
        rows=[
            Row("sluice CPU", f"{sluice.cpu_per_minute:.1f} s/min ({core:.0f}% of a core)", setup),
            *per_1000_row,
            Row(
                "work done in the window",
                f"{reconciles / minutes:.0f} + {applies / minutes:.0f} /min",
                f"Kustomization reconciles + per-cluster applies; {builds} kustomize builds "
                "(the rest were build cache hits)",
            ),
            Row(
                "sluice memory",
                f"{sluice.rss_bytes / MIB:.0f} MiB RSS",
                f"sum over {sluice.processes} processes (PSS {sluice.pss_bytes / MIB:.0f} MiB: "
                "pool processes share pages)",
            ),
            Row("redis CPU", f"{redis.cpu_per_minute:.2f} s/min", "redis-server alone"),
            Row("redis memory", f"{redis.rss_bytes / MIB:.0f} MiB RSS", ""),
        ],
        data={
            "kustomizations": count,
            "managed_objects": managed,
            "interval": "1m",
            "topology": topology.describe(),
            "sluice": _usage(sluice),
            "redis": _usage(redis),
            "sluice_cpu_seconds_per_minute_per_1000_objects": round(per_1000, 2),
            "reconciles_in_window": reconciles,
            "applies_in_window": applies,
            "kustomize_builds_in_window": builds,
        },
    )
