"""Fan-out: one revision applied to 1, 3 and 10 clusters, and what it costs in kustomize builds.

One stack with the largest number of clusters runs one GitRepository and one
Kustomization per fan-out size, each selecting its clusters by label
(``fan3: "yes"`` is on clusters 1-3). Each size in turn gets commits; the
clock runs from the push to the new ConfigMap being in *every* selected
cluster. The source's reconcile is requested right after the push (as a
webhook Receiver does), so no polling phase blurs the comparison.
``FleetState.builds()`` counts real kustomize runs: one revision should
cost one build however many clusters it goes to.
"""

from __future__ import annotations

import time
from functools import partial

from bench.manifests import app_files, git_repository, kustomization
from bench.repo import GitRepo
from bench.scenarios.common import Context, Result, Row, median, seconds
from bench.stack import Stack, Topology
from shared.fleet.state import FleetState

__all__ = ["run"]

NAME = "fanout"
POLL = 0.05


def _name(size: int) -> str:
    return f"fan{size}"


def _measure(ctx: Context, stack: Stack, repo: GitRepo, size: int, value: str) -> list[float]:
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
        f"Kustomization {name} Ready at {push.revision}",
        partial(stack.is_ready, "Kustomization", name, push.revision),
        timeout=ctx.timeout,
    )
    return [seen[n] for n in sorted(seen)]


def run(ctx: Context) -> Result:
    """Commit to each fan-out size in turn; time until all its clusters are applied."""
    sizes = (1, 3) if ctx.quick else (1, 3, 10)
    repeats = 1 if ctx.quick else 3
    topology = Topology(clusters=max(sizes))
    took: dict[int, list[float]] = {size: [] for size in sizes}
    builds: dict[int, list[int]] = {size: [] for size in sizes}
    spread: dict[int, list[float]] = {size: [] for size in sizes}
    with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        stack.register_clusters(lambda n: {_name(s): "yes" for s in sizes if n <= s})
        repos = {size: GitRepo(ctx.work / "git", _name(size)) for size in sizes}
        firsts = {size: repo.push(app_files(1, "v0"), "v0") for size, repo in repos.items()}
        docs = []
        for size, repo in repos.items():
            name = _name(size)
            docs.append(git_repository(name, repo.url, interval="30m"))
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
            for r in range(1, repeats + 1):
                before = state.builds()
                each = _measure(ctx, stack, repos[size], size, f"v{r}")
                builds[size].append(state.builds() - before)
                took[size].append(max(each))
                spread[size].append(max(each) - min(each))
                ctx.say(
                    f"  {size} cluster(s), commit {r}/{repeats}: all applied after "
                    f"{max(each):.2f}s (first {min(each):.2f}s), {builds[size][-1]} build(s)"
                )
    return _result(sizes, repeats, topology, took, builds, spread)


def _result(
    sizes: tuple[int, ...],
    repeats: int,
    topology: Topology,
    took: dict[int, list[float]],
    builds: dict[int, list[int]],
    spread: dict[int, list[float]],
) -> Result:
    base = median(took[sizes[0]])
    rows = []
    for size in sizes:
        value = median(took[size])
        note = (
            f"median of {repeats} commit(s), push to applied on all; source reconcile "
            f"requested on push (webhook-like); {topology.describe()}"
        )
        if size != sizes[0]:
            note = f"first-to-last cluster {seconds(median(spread[size]))}"
        rows.append(Row(f"{size} cluster(s)", f"{seconds(value)} (x{value / base:.2f})", note))
    counts = " / ".join(str(max(builds[size])) for size in sizes)
    rows.append(
        Row(
            "kustomize builds per revision",
            counts,
            f"for {', '.join(map(str, sizes))} clusters; expected 1 (FleetState.builds())",
        )
    )
    return Result(
        name=NAME,
        title="fan-out",
        rows=rows,
        data={
            "topology": topology.describe(),
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
        },
    )
