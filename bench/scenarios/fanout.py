"""Fan-out: one revision applied to 1, 3 and 10 clusters, and what it costs in kustomize builds.

One stack with the largest number of clusters runs one GitRepository and one
Kustomization per fan-out size, each selecting its clusters by label
(``fan3: "yes"`` is on clusters 1-3). Each size in turn gets commits; the
clock runs from the push to the new ConfigMap being in *every* selected
cluster. The source's reconcile is requested right after the push (as a
webhook Receiver does), so no polling phase blurs the comparison.
``FleetState.builds()`` counts real kustomize runs: one revision should
cost one build however many clusters it goes to.

``fan-out-remote`` (``run_remote``) is the same with every cluster 20 ms away
(one latency proxy each): ten remote clusters against one.

With ``--peer flux`` the same commits go to Flux, which has no cluster
selector: per size, one Kustomization per cluster (``fan3-c1`` ...), each
with ``spec.kubeConfig`` to its cluster, all on the size's one GitRepository,
whose reconcile is requested with ``reconcile.fluxcd.io/requestedAt``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from bench.compare import Compared
from bench.manifests import app_files, git_repository, kustomization
from bench.peers import fluxdocs
from bench.peers.fluxstack import FluxStack, FluxTopology
from bench.repo import GitRepo
from bench.scenarios.common import Context, Result, Row, median, seconds
from bench.stack import Stack, Topology
from shared.fleet.state import FleetState

__all__ = ["run", "run_remote"]

NAME = "fanout"
REMOTE_RTT_MS = 20.0
POLL = 0.05


def _name(size: int) -> str:
    return f"fan{size}"


def _measure(
    ctx: Context,
    stack: Stack | FluxStack,
    repo: GitRepo,
    size: int,
    value: str,
    settled: Callable[[str], bool],
) -> list[float]:
    """Push one commit; seconds until each of the ``size`` clusters holds it."""
    name = _name(size)
    push = repo.push(app_files(1, value), f"value {value}")
    stack.request("GitRepository", name)
    seen: dict[int, float] = {}

    def all_applied() -> bool:
        for n in range(1, size + 1):
            got = stack.reader(n).configmap_value("default", f"{name}-cm-0")
            if n not in seen and got == value:
                seen[n] = time.monotonic() - push.pushed_at
        return len(seen) == size

    what = f"{name}={value} in {size} clusters"
    stack.wait(what, all_applied, timeout=ctx.timeout, interval=POLL)
    stack.wait(
        f"Kustomization(s) {name} Ready at {push.revision}",
        partial(settled, push.revision),
        timeout=ctx.timeout,
    )
    return [seen[n] for n in sorted(seen)]


def _sluice(
    ctx: Context, sizes: tuple[int, ...], repeats: int, topology: Topology
) -> tuple[dict[int, list[float]], dict[int, list[float]], dict[int, list[int]]]:
    took: dict[int, list[float]] = {size: [] for size in sizes}
    builds: dict[int, list[int]] = {size: [] for size in sizes}
    spread: dict[int, list[float]] = {size: [] for size in sizes}
    with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        stack.register_clusters(lambda n: {_name(s): "yes" for s in sizes if n <= s})
        served = {size: stack.repo(ctx.work / "git", _name(size)) for size in sizes}
        repos = {size: repo for size, (repo, _) in served.items()}
        firsts = {size: repo.push(app_files(1, "v0"), "v0") for size, repo in repos.items()}
        docs = []
        for size, (_, url) in served.items():
            name = _name(size)
            docs.append(git_repository(name, url, interval="30m"))
            docs.append(
                kustomization(
                    name,
                    source=name,
                    interval="30m",
                    name_prefix=f"{name}-",
                    selector={name: "yes"},
                )
            )
        stack.apply(docs)

        for size, first in firsts.items():
            stack.wait(
                f"Kustomization {_name(size)} Ready on {size} clusters",
                partial(stack.is_ready, "Kustomization", _name(size), first.revision),
                timeout=ctx.timeout,
            )
        state = FleetState(stack.client, service="kustomize")
        for size in sizes:
            settled = partial(stack.is_ready, "Kustomization", _name(size))
            for r in range(1, repeats + 1):
                before = state.builds()
                each = _measure(ctx, stack, repos[size], size, f"v{r}", settled)
                builds[size].append(state.builds() - before)
                took[size].append(max(each))
                spread[size].append(max(each) - min(each))
                ctx.say(
                    f"  {size} cluster(s), commit {r}/{repeats}: all applied after "
                    f"{max(each):.2f}s (first {min(each):.2f}s), {builds[size][-1]} build(s)"
                )
    return took, spread, builds


def _flux_names(size: int) -> list[str]:
    return [f"{_name(size)}-c{n}" for n in range(1, size + 1)]


def _flux(
    ctx: Context, sizes: tuple[int, ...], repeats: int, topology: FluxTopology
) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    took: dict[int, list[float]] = {size: [] for size in sizes}
    spread: dict[int, list[float]] = {size: [] for size in sizes}
    with FluxStack(topology, ctx.work / "flux", timeout=ctx.timeout, say=ctx.say) as flux:
        repos = {size: flux.repo(_name(size)) for size in sizes}
        firsts = {size: repo.push(app_files(1, "v0"), "v0") for size, (repo, _) in repos.items()}
        docs = []
        for size, (_, url) in repos.items():
            name = _name(size)
            docs.append(git_repository(name, url, interval="30m"))
            docs += [
                fluxdocs.kustomization(
                    each, source=name, interval="30m", cluster=n, name_prefix=f"{name}-"
                )
                for n, each in enumerate(_flux_names(size), start=1)
            ]
        flux.apply(docs)

        def settled(size: int, revision: str) -> bool:
            return all(flux.is_ready("Kustomization", k, revision) for k in _flux_names(size))

        for size, first in firsts.items():
            flux.wait(
                f"Flux Kustomizations {_name(size)}-c* Ready on {size} clusters",
                partial(settled, size, first.revision),
                timeout=ctx.timeout,
            )
        for size in sizes:
            for r in range(1, repeats + 1):
                each = _measure(ctx, flux, repos[size][0], size, f"v{r}", partial(settled, size))
                took[size].append(max(each))
                spread[size].append(max(each) - min(each))
                ctx.say(
                    f"  Flux {size} cluster(s), commit {r}/{repeats}: all applied after "
                    f"{max(each):.2f}s (first {min(each):.2f}s)"
                )
    return took, spread


def run_remote(ctx: Context) -> Result:
    """``run`` with every cluster REMOTE_RTT_MS away: 1 and 10 clusters (1 and 3 with --quick)."""
    sizes = (1, 3) if ctx.quick else (1, 10)
    return run(ctx, rtt_ms=REMOTE_RTT_MS, sizes=sizes)


def run(ctx: Context, *, rtt_ms: float = 0.0, sizes: tuple[int, ...] | None = None) -> Result:
    """Commit to each fan-out size in turn; time until all its clusters are applied."""
    if sizes is None:
        sizes = (1, 3) if ctx.quick else (1, 3, 10)
    repeats = 1 if ctx.quick else 3
    topology = Topology(clusters=max(sizes), rtt_ms=rtt_ms, git_http=ctx.flux)
    took, spread, builds = _sluice(ctx, sizes, repeats, topology)
    flux = None
    if ctx.flux:
        flux = _flux(ctx, sizes, repeats, FluxTopology(clusters=max(sizes), rtt_ms=rtt_ms))
    return _result(sizes, repeats, topology, took, builds, spread, flux)


def _result(
    sizes: tuple[int, ...],
    repeats: int,
    topology: Topology,
    took: dict[int, list[float]],
    builds: dict[int, list[int]],
    spread: dict[int, list[float]],
    flux: tuple[dict[int, list[float]], dict[int, list[float]]] | None,
) -> Result:
    base = median(took[sizes[0]])
    rows = []
    for size in sizes:
        value = median(took[size])
        note = (
            f"median of {repeats} commit(s), push to applied on all; source reconcile "
            f"requested on push (webhook-like); {topology.describe()}"
        )
        if flux is not None:
            note += (
                "; Flux: one Kustomization per cluster (spec.kubeConfig), reconcile requested "
                "with reconcile.fluxcd.io/requestedAt"
            )
        if size != sizes[0]:
            note = f"first-to-last cluster {seconds(median(spread[size]))}"
        if flux is None:
            rows.append(Row(f"{size} cluster(s)", f"{seconds(value)} (x{value / base:.2f})", note))
            continue
        theirs = median(flux[0][size])
        both = Compared.of(value, theirs, higher_is_better=False, unit="s")
        if size != sizes[0]:
            note += f" (Flux {seconds(median(flux[1][size]))})"
        rows.append(Row(f"{size} cluster(s)", both.sluice, note, peer=both.peer, ratio=both.ratio))
    if flux is not None:
        flux_base = median(flux[0][sizes[0]])
        for size in sizes[1:]:
            slower = Compared.of(
                median(took[size]) / base,
                median(flux[0][size]) / flux_base,
                higher_is_better=False,
                unit="x",
            )
            rows.append(
                Row(
                    f"{size} / {sizes[0]} cluster(s)",
                    slower.sluice,
                    f"how much longer {size} clusters take than {sizes[0]}",
                    peer=slower.peer,
                    ratio=slower.ratio,
                )
            )
    counts = " / ".join(str(max(builds[size])) for size in sizes)
    rows.append(
        Row(
            "kustomize builds per revision",
            counts,
            f"for {', '.join(map(str, sizes))} clusters; expected 1 (FleetState.builds())",
            peer=None if flux is None else "-",
        )
    )
    remote = topology.rtt_ms > 0
    data: dict[str, object] = {
        "topology": topology.describe(),
        "round_trip_ms": topology.rtt_ms,
        "repeats": repeats,
        "trigger": "source reconcile requested right after the push",
        "sizes": {
            str(size): {
                "median_seconds": round(median(took[size]), 3),
                "ratio_to_1": round(median(took[size]) / base, 3),
                "each_seconds": [round(t, 3) for t in took[size]],
                "first_to_last_seconds": [round(t, 3) for t in spread[size]],
                "builds_per_revision": builds[size],
            }
            for size in sizes
        },
    }
    if flux is not None:
        flux_base = median(flux[0][sizes[0]])
        data["flux"] = {
            str(size): {
                "median_seconds": round(median(flux[0][size]), 3),
                "ratio_to_1": round(median(flux[0][size]) / flux_base, 3),
                "each_seconds": [round(t, 3) for t in flux[0][size]],
                "first_to_last_seconds": [round(t, 3) for t in flux[1][size]],
            }
            for size in sizes
        }
    return Result(
        name=f"{NAME}-remote" if remote else NAME,
        title=f"fan-out ({topology.rtt_ms:g} ms away)" if remote else "fan-out",
        rows=rows,
        data=data,
    )
