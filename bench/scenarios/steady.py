"""Steady state: what 1,000 managed objects at a 1-minute interval cost when nothing changes.

100 Kustomizations of 10 ConfigMaps each (one path, a namePrefix each) and
their GitRepository all run at ``interval: 1m``. Once all are Ready and a short
settling pause has passed, CPU seconds and memory are read from /proc over a
window of two minutes: summed over every sluice process (workers with their
pool processes and the kustomize builds they run, the scheduler, the artifact
server), and for redis-server on its own. The lease recorder counts the
reconciles and per-cluster applies that ran in the window.

With ``--peer flux`` the same objects run on Flux (``bench.peers.fluxstack``)
and the same window is read for its two controllers (and, apart, for the hub
apiserver and etcd that hold its objects, as Redis holds sluice's).
"""

from __future__ import annotations

import threading
import time

from bench.compare import Compared
from bench.leases import read_spans
from bench.manifests import app_files, git_repository, kustomization
from bench.peers import fluxdocs
from bench.peers.fluxstack import FluxStack, FluxTopology
from bench.procstat import Usage, measure
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
    repo, url = stack.repo(ctx.work / "git", "fleet")
    push = repo.push(app_files(OBJECTS, "v0"), "v0")
    stack.register_clusters(lambda _n: {})
    docs = [git_repository("fleet", url, interval="1m")]
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


def _flux(ctx: Context, count: int, window: float) -> tuple[Usage, Usage]:
    """The same objects on Flux: its controllers' usage and its hub's over the same window."""
    with FluxStack(FluxTopology(), ctx.work / "flux", timeout=ctx.timeout, say=ctx.say) as flux:
        repo, url = flux.repo("fleet")
        push = repo.push(app_files(OBJECTS, "v0"), "v0")
        docs = [git_repository("fleet", url, interval="1m")]
        docs += [
            fluxdocs.kustomization(
                f"s{i:03d}", source="fleet", interval="1m", cluster=1, name_prefix=f"s{i:03d}-"
            )
            for i in range(count)
        ]
        flux.apply(docs)
        flux.wait(
            f"{count} Flux Kustomizations Ready",
            lambda: len(flux.ready("Kustomization", revision=push.revision)) == count,
            timeout=max(ctx.timeout, count * 5.0),
            interval=0.5,
        )
        ctx.say(f"  Flux: converged; settling {SETTLE:.0f}s, measuring {window:.0f}s")
        time.sleep(SETTLE)
        hub_usage: list[Usage] = []
        hub_thread = threading.Thread(
            target=lambda: hub_usage.append(measure(flux.hub_pids, window)), daemon=True
        )
        hub_thread.start()
        controllers = measure(flux.controller_pids, window)
        hub_thread.join(timeout=window + 30)
    if not hub_usage:
        raise RuntimeError("the hub apiserver measurement did not finish")
    return controllers, hub_usage[0]


def _flux_rows(sluice: Usage, redis: Usage, flux: Usage, hub: Usage) -> list[Row]:
    cpu = Compared.of(
        sluice.cpu_per_minute, flux.cpu_per_minute, higher_is_better=False, unit="s/min", digits=1
    )
    pss = Compared.of(
        sluice.pss_bytes / MIB, flux.pss_bytes / MIB, higher_is_better=False, unit="MiB", digits=0
    )
    store = Compared.of(
        redis.cpu_per_minute, hub.cpu_per_minute, higher_is_better=False, unit="s/min"
    )
    return [
        Row(
            "controller CPU",
            cpu.sluice,
            "every sluice process vs Flux's source- and kustomize-controller",
            peer=cpu.peer,
            ratio=cpu.ratio,
        ),
        Row(
            "controller memory (PSS)",
            pss.sluice,
            f"sluice {sluice.processes} processes, Flux {flux.processes}",
            peer=pss.peer,
            ratio=pss.ratio,
        ),
        Row(
            "store CPU",
            store.sluice,
            "redis-server vs the hub's kube-apiserver + etcd that hold Flux's objects",
            peer=store.peer,
            ratio=store.ratio,
        ),
    ]


def run(ctx: Context) -> Result:
    """Converge N x 10 objects, then measure an idle window of 1-minute intervals."""
    count = 20 if ctx.quick else 100
    window = 60.0 if ctx.quick else 120.0
    managed = count * OBJECTS
    topology = Topology(
        clusters=1,
        kustomize_workers=1,
        kustomize_concurrency=2,
        record_leases=True,
        git_http=ctx.flux,
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
    flux = _flux(ctx, count, window) if ctx.flux else None
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
    peer_rows = [] if flux is None else _flux_rows(sluice, redis, *flux)
    peer_data = {} if flux is None else {"flux": _usage(flux[0]), "flux_hub": _usage(flux[1])}
    return Result(
        name=NAME,
        title=f"steady state ({managed:,} objects)",
        rows=[
            *peer_rows,
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
            **peer_data,
        },
    )
