"""Commit-to-applied latency: from ``git push`` returning to the new content being in the cluster.

Two ways a commit reaches sluice, measured one after the other in one stack:

- ``poll``: the GitRepository polls at a 1 s interval, which is how Flux sees
  commits without a webhook Receiver;
- ``hook``: the GitRepository polls only every 30 min; right after the push
  the benchmark asks for the source's reconcile, as a Receiver (or a
  post-receive hook running ``sluice reconcile source git``) does.

Either way the Kustomization is reconciled on the source's ``artifact-ready``
event, never at its own 30 min interval. After each commit the Kustomization
is left to become Ready before the next one, so every commit is measured on
its own.
"""

from __future__ import annotations

import time
from functools import partial

from bench.manifests import app_files, git_repository, kustomization
from bench.repo import GitRepo
from bench.scenarios.common import Context, Result, Row, percentile, seconds
from bench.stack import Stack, Topology

__all__ = ["run"]

NAME = "latency"
POLL = 0.05  # seconds between looks at the cluster while the clock runs
MODES = {"poll": "1s", "hook": "30m"}  # GitRepository interval per mode


def _commits(ctx: Context, stack: Stack, repo: GitRepo, mode: str, commits: int) -> list[float]:
    """Push ``commits`` changes to ``mode``'s repository; seconds until each is applied."""
    reader = stack.reader(1)

    def applied(value: str) -> bool:
        return reader.configmap_value("default", f"{mode}-cm-0") == value

    times: list[float] = []
    for n in range(1, commits + 1):
        value = f"v{n}"
        push = repo.push(app_files(1, value), f"value {value}")
        if mode == "hook":
            stack.request("GitRepository", mode)
        stack.wait(
            f"configmap {mode}-cm-0 value={value} in the cluster",
            partial(applied, value),
            timeout=ctx.timeout,
            interval=POLL,
        )
        times.append(time.monotonic() - push.pushed_at)
        ctx.say(f"  {mode} commit {n}/{commits}: applied after {times[-1]:.2f}s")
        stack.wait(
            f"Kustomization {mode} Ready at {push.revision}",
            partial(stack.is_ready, "Kustomization", mode, push.revision),
            timeout=ctx.timeout,
        )
    return times


def run(ctx: Context) -> Result:
    """Push ~20 commits per mode one after another and time each until the cluster holds it."""
    commits = 5 if ctx.quick else 20
    topology = Topology(clusters=1)
    times: dict[str, list[float]] = {}
    with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        stack.register_clusters(lambda _n: {})
        repos = {mode: GitRepo(ctx.work / "git", mode) for mode in MODES}
        firsts = {mode: repo.push(app_files(1, "v0"), "v0") for mode, repo in repos.items()}
        docs = []
        for mode, interval in MODES.items():
            docs.append(git_repository(mode, repos[mode].url, interval=interval))
            docs.append(kustomization(mode, source=mode, interval="30m", name_prefix=f"{mode}-"))
        stack.apply(docs)
        for mode, first in firsts.items():
            stack.wait(
                f"Kustomization {mode} Ready",
                partial(stack.is_ready, "Kustomization", mode, first.revision),
                timeout=ctx.timeout,
            )
        # A new GitRepository is polled from the scheduler's next store sync (up to 5 s
        # after it is created); the figures are for a source already on its interval.
        stack.wait(
            "GitRepository poll on the schedule",
            partial(stack.scheduled, "GitRepository", "poll"),
            timeout=ctx.timeout,
        )
        for mode in MODES:
            times[mode] = _commits(ctx, stack, repos[mode], mode, commits)
    return _result(times, commits, topology)


def _result(times: dict[str, list[float]], commits: int, topology: Topology) -> Result:
    notes = {
        "poll": f"{commits} commits, 1 ConfigMap each; GitRepository interval 1s (polling, no "
        f"webhook); Kustomization on artifact-ready; {topology.describe()}",
        "hook": "the same, GitRepository reconcile requested right after the push (as a "
        "webhook Receiver does)",
    }
    rows: list[Row] = []
    data: dict[str, object] = {"commits": commits, "topology": topology.describe()}
    for mode, each in times.items():
        p50, p95 = percentile(each, 50), percentile(each, 95)
        spread = f"min {seconds(min(each))}, max {seconds(max(each))}"
        rows.append(Row(f"{mode}: p50", seconds(p50), notes[mode]))
        rows.append(Row(f"{mode}: p95", seconds(p95), spread))
        data[mode] = {
            "gitrepository_interval": MODES[mode],
            "p50_seconds": round(p50, 3),
            "p95_seconds": round(p95, 3),
            "min_seconds": round(min(each), 3),
            "max_seconds": round(max(each), 3),
            "each_seconds": [round(t, 3) for t in each],
        }
    return Result(name=NAME, title="commit-to-applied", rows=rows, data=data)
