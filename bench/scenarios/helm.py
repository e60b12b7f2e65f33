"""HelmReleases: N releases of a small chart on one cluster, and one release fanned out to 10.

A HelmRepository on loopback (``tests.servers.helmrepo``, a thread of the
benchmark process, so its CPU is counted for no tool) serves chart ``hello``
(one ConfigMap), packaged by the pinned ``helm``. Every HelmRelease names it in
``spec.chart``, as Flux users write it: sluice makes one HelmChart per
HelmRelease (the source worker fetches and packages it), plans the release
once and runs ``helm install`` on each target cluster (the helm worker).

``helm`` (``run``): N HelmReleases (``--helm-releases``; 100, 20 with --quick)
are stored at once and the clock runs until every one is Ready. The table
gives releases per second, the CPU seconds of each sluice process group (helm
worker with the ``helm`` runs it starts, source worker, scheduler, Redis) and
the peak memory of all of them, sampled every half second. The anchor is
Flux's published helm-controller figure (``FLUX_*``, Flux v2.9.0 in
fluxcd/flux-benchmark's RESULTS.md: 1,000 HelmReleases in 4m39s with a 2-CPU
limit, 361 MiB at most), set against sluice's releases per second per core of
this machine and per CPU second its helm worker used. That run was on Kind
(16-core runner) with podinfo from an OCI repository (four objects per release)
and helm-controller --concurrent 10; it is a published figure, not a run on
this machine. Flux's published figure at the same N, when there is one
(``FLUX_PUBLISHED``: 100 and 500), is named in the notes too.

``helm-fanout`` (``run_fanout``): on a stack of 10 clusters, a HelmRelease
selecting one cluster and one selecting all ten (each new, so each makes its
HelmChart and installs), applied in turn; the clock runs from the apply until
the HelmRelease is Ready, i.e. released on every selected cluster.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.manifests import NAMESPACE, helm_release, helm_repository
from bench.procstat import PeakMemory, children_cpu_seconds, session_pids, snapshot
from bench.scenarios.common import Context, Result, Row, median, seconds
from bench.stack import Stack, Topology
from tests.servers.helmrepo import HelmRepoServer

__all__ = [
    "FLUX_MEMORY_MIB",
    "FLUX_PUBLISHED",
    "FLUX_RELEASES",
    "FLUX_SECONDS",
    "run",
    "run_fanout",
]

NAME = "helm"
CHART = "hello"
CHART_VERSION = "1.0.0"
REPOSITORY = "charts"
# Flux v2.9.0's published helm-controller figures (fluxcd/flux-benchmark RESULTS.md;
# helm-controller limited to 2 CPUs): HelmReleases -> (seconds, peak MiB).
FLUX_PUBLISHED = {100: (26, 286), 500: (2 * 60 + 14, 306), 1000: (4 * 60 + 39, 361)}
# The anchor: 1,000 HelmReleases in 4m39s, 361 MiB at most (3.58 releases/s).
FLUX_RELEASES = 1000
FLUX_SECONDS, FLUX_MEMORY_MIB = FLUX_PUBLISHED[FLUX_RELEASES]
FLUX_CPUS = 2
FANOUT_CLUSTERS = 10
# Helm keeps one Secret per revision, labelled so (storage.py).
HELM_STORAGE = "owner=helm"
MIB = 1 << 20
# CPU groups of a snapshot that are not sluice's own processes.
NOT_SLUICE = ("apiserver+etcd", "rest", "available")


@dataclass(frozen=True)
class Releases:
    """One run of N HelmReleases: time, CPU per process group, peak memory, revisions written."""

    count: int
    seconds: float
    cpu: dict[str, float]
    helm_runs_cpu: float  # of the helm worker's: the helm processes (and post-renderers) it ran
    rss_bytes: int
    pss_bytes: int
    helm_rss_bytes: int
    revisions: int

    @property
    def rate(self) -> float:
        """Releases per second."""
        return self.count / self.seconds


def _groups(stack: Stack) -> dict[str, list[int]]:
    return {
        "helm worker": session_pids(stack.worker_pids("helm-")),
        "source worker": session_pids(stack.worker_pids("source-")),
        "scheduler": session_pids(stack.worker_pids("scheduler")),
        "redis": stack.redis_pids(),
        "apiserver+etcd": stack.sandbox_pids(),
    }


def _sluice_leaders(stack: Stack) -> list[int]:
    # Every sluice process (workers and scheduler) and Redis: what Flux's figure would hold.
    return [*stack.sluice_pids(), *stack.redis_pids()]


def _chart_server(work: Path) -> HelmRepoServer:
    server = HelmRepoServer(work / "charts")
    server.start()
    try:
        server.add_chart(CHART, CHART_VERSION)
    except BaseException:
        server.stop()
        raise
    return server


def _repository_ready(ctx: Context, stack: Stack, url: str) -> None:
    stack.apply([helm_repository(REPOSITORY, url, interval="1h")])
    stack.wait(
        f"HelmRepository {REPOSITORY} Ready",
        lambda: REPOSITORY in stack.ready("HelmRepository"),
        timeout=ctx.timeout,
    )


def _releases(ctx: Context, count: int, topology: Topology) -> Releases:
    """Store ``count`` HelmReleases at once; time them until all are Ready."""
    server = _chart_server(ctx.work)
    try:
        with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
            stack.register_clusters(lambda _n: {})
            _repository_ready(ctx, stack, server.url)
            docs = [
                helm_release(f"hr{i:04d}", chart=CHART, repository=REPOSITORY, interval="1h")
                for i in range(count)
            ]
            before = snapshot(_groups(stack))
            runs_before = children_cpu_seconds(stack.worker_pids("helm-"))
            with (
                PeakMemory(partial(_sluice_leaders, stack)) as peak,
                PeakMemory(partial(stack.worker_pids, "helm-")) as helm_peak,
            ):
                began = time.monotonic()
                stack.apply(docs)
                shown = [began]

                def all_ready() -> bool:
                    done = len(stack.ready("HelmRelease", revision=CHART_VERSION))
                    if time.monotonic() - shown[0] >= 15:
                        shown[0] = time.monotonic()
                        ctx.say(f"  {done}/{count} HelmReleases Ready")
                    return done == count

                stack.wait(
                    f"{count} HelmReleases Ready",
                    all_ready,
                    timeout=max(ctx.timeout, count * 5.0),
                    interval=0.25,
                )
                took = time.monotonic() - began
            cpu = snapshot(_groups(stack)).since(before)
            runs = children_cpu_seconds(stack.worker_pids("helm-")) - runs_before
            revisions = stack.reader(1).count_secrets("default", label=HELM_STORAGE)
    finally:
        server.stop()
    return Releases(
        count=count,
        seconds=took,
        cpu=cpu,
        helm_runs_cpu=runs,
        rss_bytes=peak.rss_bytes,
        pss_bytes=peak.pss_bytes,
        helm_rss_bytes=helm_peak.rss_bytes,
        revisions=revisions,
    )


def anchor_rows(done: Releases, *, cores: int) -> list[Row]:
    """sluice's releases per core and per CPU second, and its memory, against Flux's figure."""
    flux_rate = FLUX_RELEASES / FLUX_SECONDS
    flux_per_core = flux_rate / FLUX_CPUS
    per_core = done.rate / cores
    helm_cpu = done.cpu["helm worker"]
    sluice_cpu = sum(v for k, v in done.cpu.items() if k not in NOT_SLUICE)
    flux_note = (
        f"Flux (published, not run here): {FLUX_RELEASES} HelmReleases in {FLUX_SECONDS} s "
        f"on {FLUX_CPUS} CPUs = {flux_rate:.2f} rel/s, {flux_per_core:.2f} rel/s per CPU"
    )
    same_n = FLUX_PUBLISHED.get(done.count)
    if same_n is not None and done.count != FLUX_RELEASES:
        flux_note += (
            f" (its {done.count}: {same_n[0]} s = {done.count / same_n[0]:.2f} rel/s, "
            f"{same_n[1]} MiB)"
        )
    return [
        Row(
            "releases/s per core",
            f"{per_core:.2f} rel/s per core (x{per_core / flux_per_core:.2f} Flux's)",
            f"{done.rate:.2f} rel/s on this machine's {cores} cores (shared with the "
            f"clusters' apiserver+etcd and the benchmark); {flux_note}",
        ),
        Row(
            "releases per CPU second",
            f"{done.count / helm_cpu:.2f} (helm worker), "
            f"{done.count / sluice_cpu:.2f} (all sluice)",
            f"helm worker {helm_cpu:.1f} CPU s, of which {done.helm_runs_cpu:.1f} in the "
            f"helm runs (helm and its post-renderer); all sluice processes and "
            f"Redis {sluice_cpu:.1f} CPU s; Flux's helm-controller at its 2-CPU limit: "
            f">= {flux_per_core:.2f} releases per CPU second",
        ),
        Row(
            "peak memory",
            f"{done.helm_rss_bytes / MIB:.0f} MiB helm worker",
            f"all sluice processes and Redis: {done.rss_bytes / MIB:.0f} MiB RSS, "
            f"{done.pss_bytes / MIB:.0f} MiB PSS (sampled every 0.5 s); Flux's "
            f"helm-controller: {FLUX_MEMORY_MIB} MiB for {FLUX_RELEASES} releases",
        ),
    ]


def run(ctx: Context) -> Result:
    """N HelmReleases on one cluster: releases per second, CPU, peak memory, against Flux."""
    count = ctx.helm_releases or (20 if ctx.quick else 100)
    topology = Topology(clusters=1, kustomize_workers=0, helm_workers=1)
    done = _releases(ctx, count, topology)
    cores = os.cpu_count() or 1
    ctx.say(
        f"  {count} HelmReleases Ready in {done.seconds:.1f}s ({done.rate:.2f}/s), "
        f"{done.revisions} Helm revisions in the cluster"
    )
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in done.cpu.items() if k != "available")
    rows = [
        Row(
            f"{count} HelmReleases",
            f"{done.rate:.2f} rel/s",
            f"chart {CHART} (1 ConfigMap) from an HTTP Helm repository, all Ready in "
            f"{seconds(done.seconds)}; CPU s used: {cpu} (of {done.cpu['available']:.0f} "
            f"available); {done.revisions} Helm revisions in the cluster; {topology.describe()}",
        ),
        *anchor_rows(done, cores=cores),
    ]
    return Result(
        name=NAME,
        title="HelmReleases",
        rows=rows,
        data={
            "topology": topology.describe(),
            "helm_releases": count,
            "seconds": round(done.seconds, 3),
            "releases_per_second": round(done.rate, 3),
            "releases_per_second_per_core": round(done.rate / cores, 3),
            "cpu_seconds": {k: round(v, 2) for k, v in done.cpu.items()},
            "helm_runs_cpu_seconds": round(done.helm_runs_cpu, 2),
            "peak_rss_bytes": done.rss_bytes,
            "peak_pss_bytes": done.pss_bytes,
            "helm_worker_peak_rss_bytes": done.helm_rss_bytes,
            "helm_revisions": done.revisions,
            "flux_published": {
                "releases": FLUX_RELEASES,
                "seconds": FLUX_SECONDS,
                "cpus": FLUX_CPUS,
                "memory_mib": FLUX_MEMORY_MIB,
            },
        },
    )


def _fan_label(size: int) -> str:
    return f"fan{size}"


def _released_everywhere(stack: Stack, name: str, size: int) -> bool:
    if name not in stack.ready("HelmRelease", revision=CHART_VERSION):
        return False
    # Ready sums every target's result; the release's ConfigMap is the user's own check.
    return all(stack.reader(n).has_configmap("default", name) for n in range(1, size + 1))


def run_fanout(ctx: Context) -> Result:
    """One HelmRelease on 1 cluster, then on 10: seconds until Ready on all of them."""
    sizes = (1, 3) if ctx.quick else (1, FANOUT_CLUSTERS)
    repeats = 1 if ctx.quick else 3
    topology = Topology(clusters=max(sizes), kustomize_workers=0, helm_workers=1)
    took: dict[int, list[float]] = {size: [] for size in sizes}
    server = _chart_server(ctx.work)
    try:
        with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
            stack.register_clusters(lambda n: {_fan_label(s): "yes" for s in sizes if n <= s})
            _repository_ready(ctx, stack, server.url)
            for r in range(1, repeats + 1):
                for size in sizes:
                    name = f"{_fan_label(size)}-r{r}"
                    doc = helm_release(
                        name,
                        chart=CHART,
                        repository=REPOSITORY,
                        interval="1h",
                        selector={_fan_label(size): "yes"},
                    )
                    began = time.monotonic()
                    stack.apply([doc])
                    stack.wait(
                        f"HelmRelease {NAMESPACE}/{name} Ready on {size} cluster(s)",
                        partial(_released_everywhere, stack, name, size),
                        timeout=ctx.timeout,
                        interval=0.1,
                    )
                    took[size].append(time.monotonic() - began)
                    ctx.say(f"  {size} cluster(s), run {r}/{repeats}: {took[size][-1]:.2f}s")
    finally:
        server.stop()
    base = median(took[sizes[0]])
    rows = [
        Row(
            f"{size} cluster(s)",
            f"{seconds(median(took[size]))} (x{median(took[size]) / base:.2f})",
            f"median of {repeats}; apply of a new HelmRelease to Ready with its ConfigMap "
            f"on every selected cluster (HelmChart made and fetched, one plan, one helm "
            f"install per cluster); {topology.describe()}"
            if size == sizes[0]
            else f"each run: {', '.join(seconds(t) for t in took[size])}",
        )
        for size in sizes
    ]
    return Result(
        name=f"{NAME}-fanout",
        title="HelmRelease fan-out",
        rows=rows,
        data={
            "topology": topology.describe(),
            "repeats": repeats,
            "sizes": {
                str(size): {
                    "median_seconds": round(median(took[size]), 3),
                    "ratio_to_1": round(median(took[size]) / base, 3),
                    "each_seconds": [round(t, 3) for t in took[size]],
                }
                for size in sizes
            },
        },
    )
