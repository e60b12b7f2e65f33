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

With ``--peer flux`` the same Kustomizations run on Flux
(``bench.peers.fluxstack``) at kustomize-controller ``--concurrent`` 4 (its
default), 10 and 20, each on a fresh stack; the table adds sluice's best
against Flux's default and best, and sluice's best setup that used no more
controller CPU than Flux's best run did.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial

from bench.compare import Compared, best_within
from bench.leases import LeaseReport, report
from bench.manifests import app_files, git_repository, kustomization
from bench.peers import fluxdocs
from bench.peers.fluxstack import FluxStack, FluxTopology
from bench.procstat import session_pids, snapshot
from bench.scenarios.common import Context, Result, Row, seconds
from bench.stack import Stack, Topology

__all__ = ["run", "run_remote"]

NAME = "throughput"
REMOTE_RTT_MS = 20.0
OBJECTS = 10
CONCURRENCY = 2
FLUX_CONCURRENCY = (4, 10, 20)  # kustomize-controller --concurrent: its default, then more
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
        git_http=ctx.flux,
    )
    work = ctx.work / f"workers-{workers}"
    with Stack(topology, work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        repo, url = stack.repo(work / "git", "many")
        push = repo.push(app_files(OBJECTS, "v0"), "v0")
        stack.register_clusters(lambda _n: {})
        stack.apply([git_repository("many", url, interval="30m")])
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


@dataclass(frozen=True)
class FluxRun:
    """One Flux concurrency's run: time, objects in the cluster, where the CPU went."""

    seconds: float
    objects: int
    cpu: dict[str, float]


def _flux_groups(flux: FluxStack) -> dict[str, list[int]]:
    groups = {
        "Flux": session_pids(flux.controller_pids()),
        "apiserver+etcd": flux.sandbox_pids(),
        "hub apiserver+etcd": flux.hub_pids(),
    }
    if flux.proxies:
        groups["latency proxy"] = flux.proxy_pids()
    return groups


def _flux_run(ctx: Context, concurrency: int, count: int, rtt_ms: float) -> FluxRun:
    """The same ``count`` Kustomizations on Flux, created at once, timed until all are Ready."""
    topology = FluxTopology(clusters=1, concurrency=concurrency, rtt_ms=rtt_ms)
    work = ctx.work / f"flux-c{concurrency}"
    with FluxStack(topology, work, timeout=ctx.timeout, say=ctx.say) as flux:
        repo, url = flux.repo("many")
        push = repo.push(app_files(OBJECTS, "v0"), "v0")
        flux.apply([git_repository("many", url, interval="30m")])
        flux.wait(
            "GitRepository many Ready",
            partial(flux.is_ready, "GitRepository", "many", push.revision),
            timeout=ctx.timeout,
        )
        docs = [
            fluxdocs.kustomization(
                f"k{i:03d}", source="many", interval="30m", cluster=1, name_prefix=f"k{i:03d}-"
            )
            for i in range(count)
        ]
        before = snapshot(_flux_groups(flux))
        began = time.monotonic()
        flux.apply(docs)
        shown = [began]

        def all_ready() -> bool:
            done = len(flux.ready("Kustomization", revision=push.revision))
            if time.monotonic() - shown[0] >= 15:
                shown[0] = time.monotonic()
                ctx.say(f"  Flux c={concurrency}: {done}/{count} Ready")
            return done == count

        flux.wait(
            f"{count} Flux Kustomizations Ready",
            all_ready,
            timeout=max(ctx.timeout, count * 5.0),
            interval=0.25,
        )
        took = time.monotonic() - began
        cpu = snapshot(_flux_groups(flux)).since(before)
        objects = flux.reader(1).count_configmaps("default", label=OWNER_LABEL)
    return FluxRun(took, objects, cpu)


def _flux_rows(
    ctx: Context, count: int, rtt_ms: float, sluice: dict[int, Run]
) -> tuple[list[Row], dict[str, object]]:
    """Run Flux at each concurrency; its rows, and the comparison rows against sluice."""
    rows: list[Row] = []
    runs: dict[int, FluxRun] = {}
    for concurrency in FLUX_CONCURRENCY:
        run_ = runs[concurrency] = _flux_run(ctx, concurrency, count, rtt_ms)
        rate = count / run_.seconds
        ctx.say(
            f"  Flux c={concurrency}: {count} Kustomizations Ready in {run_.seconds:.1f}s "
            f"({rate:.2f}/s), {run_.objects} objects in the cluster"
        )
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in run_.cpu.items() if k != "available")
        note = (
            f"all Ready in {seconds(run_.seconds)}; CPU s used: {cpu} "
            f"(of {run_.cpu['available']:.0f} available); {run_.objects} objects"
        )
        if concurrency == FLUX_CONCURRENCY[0]:
            topology = FluxTopology(concurrency=concurrency, rtt_ms=rtt_ms)
            note += f"; {topology.describe()}"
        rows.append(Row(f"Flux --concurrent {concurrency}", "-", note, peer=f"{rate:.2f} rec/s"))
    flux_rate = {c: count / r.seconds for c, r in runs.items()}
    flux_cpu = {c: r.cpu["Flux"] for c, r in runs.items()}
    sluice_rate = {w: count / r.seconds for w, r in sluice.items()}
    sluice_cpu = {w: r.cpu["sluice"] for w, r in sluice.items()}
    best_w = max(sluice_rate, key=sluice_rate.__getitem__)
    best_c = max(flux_rate, key=flux_rate.__getitem__)
    default_c = FLUX_CONCURRENCY[0]

    def compare(metric: str, workers: int, concurrency: int, note: str) -> Row:
        both = Compared.of(
            sluice_rate[workers], flux_rate[concurrency], higher_is_better=True, unit="rec/s"
        )
        return Row(metric, both.sluice, note, peer=both.peer, ratio=both.ratio)

    rows.append(
        compare(
            "best vs Flux default",
            best_w,
            default_c,
            f"sluice {best_w} worker(s) vs Flux --concurrent {default_c}",
        )
    )
    rows.append(
        compare(
            "best vs Flux best",
            best_w,
            best_c,
            f"sluice {best_w} worker(s) vs Flux --concurrent {best_c}",
        )
    )
    within = best_within(sluice_rate, sluice_cpu, flux_cpu[best_c])
    if within is None:
        rows.append(
            Row(
                "best within Flux's CPU",
                "none",
                f"every sluice setup used more CPU than Flux --concurrent {best_c} "
                f"({flux_cpu[best_c]:.1f} s); sluice: "
                + ", ".join(f"{w} worker(s) {c:.1f} s" for w, c in sluice_cpu.items()),
                peer=f"{flux_rate[best_c]:.2f} rec/s",
                ratio="-",
            )
        )
    else:
        rows.append(
            compare(
                "best within Flux's CPU",
                within,
                best_c,
                f"sluice {within} worker(s), {sluice_cpu[within]:.1f} CPU s, vs Flux "
                f"--concurrent {best_c}, {flux_cpu[best_c]:.1f} CPU s (controllers only)",
            )
        )
    used = Compared.of(
        sluice_cpu[best_w], flux_cpu[best_c], higher_is_better=False, unit="s", digits=1
    )
    rows.append(
        Row(
            "controller CPU for the run",
            used.sluice,
            f"sluice {best_w} worker(s) (all its processes) vs Flux --concurrent {best_c} "
            "(both controllers); stores apart (Redis vs the hub's apiserver+etcd)",
            peer=used.peer,
            ratio=used.ratio,
        )
    )
    data: dict[str, object] = {
        "flux_runs": {
            str(c): {
                "seconds": round(r.seconds, 3),
                "reconciles_per_second": round(count / r.seconds, 3),
                "objects_in_cluster": r.objects,
                "cpu_seconds": {name: round(used, 2) for name, used in r.cpu.items()},
            }
            for c, r in runs.items()
        },
        "flux_topology": FluxTopology(rtt_ms=rtt_ms).describe(),
    }
    return rows, data


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
    sluice_runs: dict[int, Run] = {}
    rows: list[Row] = []
    overlaps = 0
    base: float | None = None
    for workers in worker_counts:
        run_ = sluice_runs[workers] = _one_run(ctx, workers, count, rtt_ms)
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
        rows.append(
            Row(
                f"{workers} worker(s)",
                f"{rate:.2f} rec/s (x{rate / base:.2f})",
                note,
                peer="-" if ctx.flux else None,
            )
        )
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
    peer_data: dict[str, object] = {}
    if ctx.flux:
        flux_rows, peer_data = _flux_rows(ctx, count, rtt_ms, sluice_runs)
        rows += flux_rows
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
            **peer_data,
        },
    )
