"""Throughput: 200 Kustomizations of 10 objects each, reconciled by 1, 2 and 4 kustomize workers.

Each worker count gets a fresh stack. The source is fetched first; then all
Kustomizations (one path, a namePrefix each, all into ``default``) are stored
at once, which triggers all of them, and the clock runs until every one is
Ready at the revision. A reconcile here is the whole job: one kustomize build,
then the apply of its 10 objects. Every lease taken is recorded
(``bench.recorder``), to show that no object was ever held by two workers.

``throughput-remote`` (``run_remote``) is the same measurement with a round
trip added to every request to the cluster (``Topology.rtt_ms``, a delaying
proxy on loopback), as a remote cluster has: a worker then spends most of a
reconcile waiting, which is where more workers help even on few cores.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial

from bench.leases import LeaseReport, report
from bench.manifests import app_files, git_repository, kustomization
from bench.procstat import session_pids, snapshot
from bench.repo import GitRepo
from bench.scenarios.common import Context, Result, Row, seconds
from bench.stack import Stack, Topology

__all__ = ["run", "run_remote"]

NAME = "throughput"
REMOTE_RTT_MS = 20.0
OBJECTS = 10
CONCURRENCY = 2
OWNER_LABEL = "kustomize.toolkit.fluxcd.io/name"


@dataclass(frozen=True)
class Run:
    """One worker count's run: time, leases, objects in the cluster, where the CPU went."""

    seconds: float
    leases: LeaseReport
    objects: int
    cpu: dict[str, float]


def _groups(stack: Stack) -> dict[str, list[int]]:
    groups = {
        "sluice": session_pids(stack.sluice_pids()),
        "apiserver+etcd": stack.sandbox_pids(),
        "redis": stack.redis_pids(),
    }
    if stack.proxies:
        groups["latency proxy"] = stack.proxy_pids()
    return groups


def _one_run(ctx: Context, workers: int, count: int, rtt_ms: float) -> Run:
    """Store ``count`` Kustomizations at once and time them until all are Ready."""
    topology = Topology(
        clusters=1,
        kustomize_workers=workers,
        kustomize_concurrency=CONCURRENCY,
        record_leases=True,
        rtt_ms=rtt_ms,
    )
    work = ctx.work / f"workers-{workers}"
    with Stack(topology, work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        repo = GitRepo(work / "git", "many")
        push = repo.push(app_files(OBJECTS, "v0"), "v0")
        stack.register_clusters(lambda _n: {})
        stack.apply([git_repository("many", repo.url, interval="30m")])
        stack.wait(
            "GitRepository many Ready",
            partial(stack.is_ready, "GitRepository", "many", push.revision),
            timeout=ctx.timeout,
        )
        docs = [
            kustomization(f"k{i:03d}", source="many", interval="30m", name_prefix=f"k{i:03d}-")
            for i in range(count)
        ]
        before = snapshot(_groups(stack))
        began = time.monotonic()
        stack.apply(docs)
        shown = [began]

        def all_ready() -> bool:
            done = len(stack.ready("Kustomization", revision=push.revision))
            if time.monotonic() - shown[0] >= 15:
                shown[0] = time.monotonic()
                ctx.say(f"  {workers} worker(s): {done}/{count} Ready")
            return done == count

        stack.wait(
            f"{count} Kustomizations Ready",
            all_ready,
            timeout=max(ctx.timeout, count * 5.0),
            interval=0.25,
        )
        took = time.monotonic() - began
        cpu = snapshot(_groups(stack)).since(before)
        leases = report(stack.client)
        objects = stack.reader(1).count_configmaps("default", label=OWNER_LABEL)
    return Run(took, leases, objects, cpu)


def run_remote(ctx: Context) -> Result:
    """``run`` against a cluster REMOTE_RTT_MS away: 1, 2 and 4 workers, also with --quick."""
    count = 40 if ctx.quick else 100
    return run(ctx, rtt_ms=REMOTE_RTT_MS, count=count, worker_counts=(1, 2, 4))


def run(
    ctx: Context,
    *,
    rtt_ms: float = 0.0,
    count: int | None = None,
    worker_counts: tuple[int, ...] | None = None,
) -> Result:
    """Reconcile all Kustomizations with each worker count; reconciles per second."""
    if count is None:
        count = 40 if ctx.quick else 200
    if worker_counts is None:
        worker_counts = (1, 2) if ctx.quick else (1, 2, 4)
    runs: dict[int, dict[str, object]] = {}
    rows: list[Row] = []
    overlaps = 0
    base: float | None = None
    for workers in worker_counts:
        run_ = _one_run(ctx, workers, count, rtt_ms)
        took, leases, objects = run_.seconds, run_.leases, run_.objects
        rate = count / took
        base = base or rate
        overlaps += len(leases.overlaps)
        ctx.say(
            f"  {workers} worker(s): {count} Kustomizations Ready in {took:.1f}s "
            f"({rate:.2f}/s), {objects} objects in the cluster, "
            f"{len(leases.overlaps)} lease overlap(s) in {leases.spans} spans"
        )
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in run_.cpu.items() if k != "available")
        note = (
            f"{count} Kustomizations x {OBJECTS} ConfigMaps, all Ready in {seconds(took)}; "
            f"CPU s used: {cpu} (of {run_.cpu['available']:.0f} available); "
            f"lease holders: {len(leases.holders)} processes"
        )
        if workers == worker_counts[0]:
            note += f"; each worker concurrency {CONCURRENCY}, 1 cluster"
            if rtt_ms > 0:
                note += (
                    f"; {rtt_ms:g} ms round trip added to every cluster request "
                    "(a delaying proxy on loopback, as a remote cluster's network has)"
                )
        rows.append(Row(f"{workers} worker(s)", f"{rate:.2f} rec/s (x{rate / base:.2f})", note))
        runs[workers] = {
            "seconds": round(took, 3),
            "reconciles_per_second": round(rate, 3),
            "objects_in_cluster": objects,
            "cpu_seconds": {name: round(used, 2) for name, used in run_.cpu.items()},
            "lease_spans": leases.spans,
            "leased_objects": leases.objects,
            "lease_holders": leases.holders,
            "overlaps": len(leases.overlaps),
            "overlap_examples": [[asdict(a), asdict(b)] for a, b in leases.overlaps[:5]],
            "unreleased": leases.unreleased,
        }
    rows.append(
        Row(
            "overlaps",
            f"overlaps: {overlaps}",
            "no object's lease (Kustomization or Kustomization@cluster) held by two "
            "processes at once; every lease taken was recorded",
        )
    )
    return Result(
        name=NAME if rtt_ms <= 0 else f"{NAME}-remote",
        title="throughput" if rtt_ms <= 0 else f"throughput ({rtt_ms:g} ms away)",
        rows=rows,
        data={
            "round_trip_ms": rtt_ms,
            "kustomizations": count,
            "objects_each": OBJECTS,
            "worker_concurrency": CONCURRENCY,
            "runs": {str(k): v for k, v in runs.items()},
            "overlaps": overlaps,
        },
    )
