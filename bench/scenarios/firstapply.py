"""First apply on a remote cluster: one new Kustomization of 10 objects, 20 ms away, to Ready.

The source is fetched first; then, several times over, one new Kustomization
(a fresh name and namePrefix, so its 10 ConfigMaps do not exist yet) is
created, and the clock runs from its creation (which is the reconcile
request, for both tools) until it is Ready at the revision. The figure is
the median wall time, and that time in round trips to the cluster: with the
cluster 20 ms away, a reconcile that sends its requests one after another
pays one round trip for each. With ``--peer flux`` the same runs on Flux.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from bench.compare import Compared
from bench.manifests import app_files, git_repository, kustomization
from bench.peers import fluxdocs
from bench.peers.fluxstack import FluxStack, FluxTopology
from bench.scenarios.common import Context, Result, Row, median, seconds
from bench.stack import Stack, Topology

__all__ = ["round_trips", "run"]

NAME = "first-apply-remote"
RTT_MS = 20.0
OBJECTS = 10
POLL = 0.02  # seconds between looks at the Ready condition while the clock runs


def round_trips(took: float, rtt_ms: float) -> float:
    """How many round trips of ``rtt_ms`` fit in ``took`` seconds."""
    return took / (rtt_ms / 1000.0)


class _Applier(Protocol):
    """What both stacks offer a scenario: store objects, wait, read readiness."""

    def apply(self, docs: list[dict[str, Any]]) -> None: ...

    def wait(
        self, what: str, check: Callable[[], bool], *, timeout: float, interval: float = ...
    ) -> Any: ...

    def is_ready(self, kind: str, name: str, revision: str) -> bool: ...


def _time_first_applies(
    ctx: Context,
    stack: _Applier,
    *,
    url: str,
    revision: str,
    repeats: int,
    label: str,
    kustomization_of: Callable[[str], dict[str, Any]],
) -> list[float]:
    """Wait for the source, then time each new Kustomization from its creation to Ready."""
    stack.apply([git_repository("app", url, interval="30m")])
    stack.wait(
        f"{label} GitRepository app Ready",
        partial(stack.is_ready, "GitRepository", "app", revision),
        timeout=ctx.timeout,
    )
    times: list[float] = []
    for n in range(repeats):
        name = f"first{n}"
        doc = kustomization_of(name)
        began = time.monotonic()
        stack.apply([doc])
        stack.wait(
            f"{label} Kustomization {name} Ready",
            partial(stack.is_ready, "Kustomization", name, revision),
            timeout=ctx.timeout,
            interval=POLL,
        )
        times.append(time.monotonic() - began)
        ctx.say(f"  {label} {name}: Ready after {times[-1]:.2f}s")
    return times


def _sluice(ctx: Context, repeats: int) -> list[float]:
    topology = Topology(clusters=1, rtt_ms=RTT_MS, git_http=ctx.flux)
    with Stack(topology, ctx.work / "sluice", timeout=ctx.timeout, say=ctx.say) as stack:
        repo, url = stack.repo(ctx.work / "sluice-git", "app")
        push = repo.push(app_files(OBJECTS, "v0"), "v0")
        stack.register_clusters(lambda _n: {})
        return _time_first_applies(
            ctx,
            stack,
            url=url,
            revision=push.revision,
            repeats=repeats,
            label="sluice",
            kustomization_of=lambda name: kustomization(
                name, source="app", interval="30m", name_prefix=f"{name}-"
            ),
        )


def _flux(ctx: Context, repeats: int) -> list[float]:
    topology = FluxTopology(clusters=1, rtt_ms=RTT_MS)
    with FluxStack(topology, ctx.work / "flux", timeout=ctx.timeout, say=ctx.say) as flux:
        repo, url = flux.repo("app")
        push = repo.push(app_files(OBJECTS, "v0"), "v0")
        return _time_first_applies(
            ctx,
            flux,
            url=url,
            revision=push.revision,
            repeats=repeats,
            label="Flux",
            kustomization_of=lambda name: fluxdocs.kustomization(
                name, source="app", interval="30m", cluster=1, name_prefix=f"{name}-"
            ),
        )


def run(ctx: Context) -> Result:
    """Time several first applies per tool; the median, in seconds and in round trips."""
    repeats = 3 if ctx.quick else 7
    took = {"sluice": _sluice(ctx, repeats)}
    if ctx.flux:
        took["flux"] = _flux(ctx, repeats)
    mid = {tool: median(each) for tool, each in took.items()}
    note = (
        f"median of {repeats}; one new Kustomization of {OBJECTS} ConfigMaps (none existing), "
        f"cluster {RTT_MS:g} ms away; from its creation to Ready"
    )
    trips_note = f"wall time / {RTT_MS:g} ms"
    if "flux" in mid:
        wall = Compared.of(mid["sluice"], mid["flux"], higher_is_better=False, unit="s")
        trips = Compared.of(
            round_trips(mid["sluice"], RTT_MS),
            round_trips(mid["flux"], RTT_MS),
            higher_is_better=False,
            unit="",
            digits=0,
        )
        rows = [
            Row("wall time", wall.sluice, note, peer=wall.peer, ratio=wall.ratio),
            Row("round trips' worth", trips.sluice, trips_note, peer=trips.peer, ratio=trips.ratio),
        ]
    else:
        rows = [
            Row("wall time", seconds(mid["sluice"]), note),
            Row("round trips' worth", f"{round_trips(mid['sluice'], RTT_MS):.0f}", trips_note),
        ]
    return Result(
        name=NAME,
        title=f"first apply ({RTT_MS:g} ms away)",
        rows=rows,
        data={
            "round_trip_ms": RTT_MS,
            "objects": OBJECTS,
            "repeats": repeats,
            **{
                tool: {
                    "median_seconds": round(mid[tool], 3),
                    "round_trips": round(round_trips(mid[tool], RTT_MS), 1),
                    "each_seconds": [round(t, 3) for t in each],
                }
                for tool, each in took.items()
            },
        },
    )
