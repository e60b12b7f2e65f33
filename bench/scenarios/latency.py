"""Commit-to-applied latency: from ``git push`` returning to the new content being in the cluster.

Three ways a commit reaches sluice, measured one after the other in one stack:

- ``poll``: the GitRepository polls at a 1 s interval, which is how Flux sees
  commits without a webhook Receiver;
- ``hook``: the GitRepository polls only every 30 min; right after the push
  the benchmark asks for the source's reconcile, as a Receiver (or a
  post-receive hook running ``sluice reconcile source git``) does;
- ``webhook``: the GitRepository polls every 30 min; right after the push the
  benchmark POSTs the push event, signed as GitHub signs it, to ``sluice
  receiver``, whose github Receiver requests the source's reconcile (the
  clock includes the HTTP call). Flux is not run for this mode: its
  notification-controller is not part of the Flux peer.

Either way the Kustomization is reconciled on the source's ``artifact-ready``
event, never at its own 30 min interval. After each commit the Kustomization
is left to become Ready before the next one, so every commit is measured on
its own.

With ``--peer flux`` the same commits go to Flux (``bench.peers.fluxstack``):
the same intervals, and for ``hook`` the GitRepository gets
``reconcile.fluxcd.io/requestedAt`` right after the push, which is what
Flux's notification-controller Receiver does on a webhook call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from functools import partial

import httpx

from bench.compare import Compared
from bench.manifests import NAMESPACE, app_files, git_repository, kustomization, receiver_docs
from bench.peers import fluxdocs
from bench.peers.fluxstack import FluxStack, FluxTopology
from bench.repo import GitRepo
from bench.scenarios.common import Context, Result, Row, percentile, seconds
from bench.stack import Stack, Topology
from shared.api.conditions import get_condition
from shared.keys import ObjectKey

__all__ = ["run"]

NAME = "latency"
POLL = 0.05  # seconds between looks at the cluster while the clock runs
MODES = {"poll": "1s", "hook": "30m", "webhook": "30m"}  # GitRepository interval per mode
FLUX_MODES = ("poll", "hook")  # the Flux peer runs no notification-controller
TOKEN = secrets.token_hex(20)  # the webhook Receiver's token, this run only


def _push_webhook(stack: Stack, path: str, after: str) -> None:
    """POST a GitHub push event for ``after``, signed with the Receiver's token."""
    body = json.dumps({"ref": "refs/heads/main", "after": after}).encode()
    signature = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    answer = httpx.post(stack.receiver_url + path, content=body, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"the webhook receiver answered {answer.status_code}: {answer.text}")


def _webhook_path(stack: Stack) -> str | None:
    """The Receiver's webhook path once it is Ready."""
    doc = stack.store.get(ObjectKey("Receiver", NAMESPACE, "webhook")) or {}
    status = doc.get("status") or {}
    ready = get_condition(status, "Ready") or {}
    return str(status.get("webhookPath")) if ready.get("status") == "True" else None


def _commits(
    ctx: Context,
    stack: Stack | FluxStack,
    repo: GitRepo,
    mode: str,
    commits: int,
    *,
    webhook: str = "",
) -> list[float]:
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
        elif mode == "webhook" and isinstance(stack, Stack):
            _push_webhook(stack, webhook, push.revision.rpartition(":")[2])
        stack.wait(
            f"configmap {mode}-cm-0 value={value} in the cluster",
            partial(applied, value),
            timeout=ctx.timeout,
            interval=POLL,
        )
        times.append(time.monotonic() - push.pushed_at)
        tool = "Flux" if isinstance(stack, FluxStack) else "sluice"
        ctx.say(f"  {tool} {mode} commit {n}/{commits}: applied after {times[-1]:.2f}s")
        stack.wait(
            f"Kustomization {mode} Ready at {push.revision}",
            partial(stack.is_ready, "Kustomization", mode, push.revision),
            timeout=ctx.timeout,
        )
    return times


def _flux(ctx: Context, commits: int) -> dict[str, list[float]]:
    """The same commits, one repository per mode, on Flux."""
    times: dict[str, list[float]] = {}
    with FluxStack(FluxTopology(), ctx.work / "flux", timeout=ctx.timeout, say=ctx.say) as flux:
        repos = {mode: flux.repo(mode) for mode in FLUX_MODES}
        firsts = {mode: repo.push(app_files(1, "v0"), "v0") for mode, (repo, _) in repos.items()}
        docs = []
        for mode in FLUX_MODES:
            docs.append(git_repository(mode, repos[mode][1], interval=MODES[mode]))
            docs.append(
                fluxdocs.kustomization(
                    mode, source=mode, interval="30m", cluster=1, name_prefix=f"{mode}-"
                )
            )
        flux.apply(docs)
        for mode, first in firsts.items():
            flux.wait(
                f"Flux Kustomization {mode} Ready",
                partial(flux.is_ready, "Kustomization", mode, first.revision),
                timeout=ctx.timeout,
            )
        for mode in FLUX_MODES:
            times[mode] = _commits(ctx, flux, repos[mode][0], mode, commits)
    return times


def run(ctx: Context) -> Result:
    """Push ~20 commits per mode one after another and time each until the cluster holds it."""
    commits = 5 if ctx.quick else 20
    topology = Topology(clusters=1, git_http=ctx.flux, receiver=True)
    times: dict[str, list[float]] = {}
    with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        stack.register_clusters(lambda _n: {})
        served = {mode: stack.repo(ctx.work / "git", mode) for mode in MODES}
        repos = {mode: repo for mode, (repo, _) in served.items()}
        firsts = {mode: repo.push(app_files(1, "v0"), "v0") for mode, repo in repos.items()}
        docs = []
        for mode, interval in MODES.items():
            docs.append(git_repository(mode, served[mode][1], interval=interval))
            docs.append(kustomization(mode, source=mode, interval="30m", name_prefix=f"{mode}-"))
        docs += receiver_docs("webhook", source="webhook", token=TOKEN)
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
        path = stack.wait(
            "Receiver webhook Ready", partial(_webhook_path, stack), timeout=ctx.timeout
        )
        for mode in MODES:
            times[mode] = _commits(ctx, stack, repos[mode], mode, commits, webhook=path)
    flux = _flux(ctx, commits) if ctx.flux else None
    return _result(times, commits, topology, flux)


def _each(times: list[float], mode: str) -> dict[str, object]:
    return {
        "gitrepository_interval": MODES[mode],
        "p50_seconds": round(percentile(times, 50), 3),
        "p95_seconds": round(percentile(times, 95), 3),
        "min_seconds": round(min(times), 3),
        "max_seconds": round(max(times), 3),
        "each_seconds": [round(t, 3) for t in times],
    }


def _result(
    times: dict[str, list[float]],
    commits: int,
    topology: Topology,
    flux: dict[str, list[float]] | None,
) -> Result:
    notes = {
        "poll": f"{commits} commits, 1 ConfigMap each; GitRepository interval 1s (polling, no "
        f"webhook); Kustomization on artifact-ready; {topology.describe()}",
        "hook": "the same, GitRepository reconcile requested right after the push (as a "
        "webhook Receiver does; for Flux: reconcile.fluxcd.io/requestedAt set on it)",
        "webhook": "the same, the push's GitHub-signed webhook POSTed to sluice receiver "
        "(a github Receiver requests the GitRepository's reconcile); sluice only",
    }
    rows: list[Row] = []
    data: dict[str, object] = {"commits": commits, "topology": topology.describe()}
    for mode, each in times.items():
        p50, p95 = percentile(each, 50), percentile(each, 95)
        spread = f"min {seconds(min(each))}, max {seconds(max(each))}"
        if flux is None or mode not in flux:
            rows.append(Row(f"{mode}: p50", seconds(p50), notes[mode]))
            rows.append(Row(f"{mode}: p95", seconds(p95), spread))
        else:
            theirs = flux[mode]
            spread += f" (Flux: min {seconds(min(theirs))}, max {seconds(max(theirs))})"
            for label, p, note in (("p50", 50, notes[mode]), ("p95", 95, spread)):
                both = Compared.of(
                    percentile(each, p), percentile(theirs, p), higher_is_better=False, unit="s"
                )
                rows.append(
                    Row(f"{mode}: {label}", both.sluice, note, peer=both.peer, ratio=both.ratio)
                )
        data[mode] = _each(each, mode)
    if flux is not None:
        data["flux"] = {mode: _each(each, mode) for mode, each in flux.items()}
        data["flux_topology"] = FluxTopology().describe()
    return Result(name=NAME, title="commit-to-applied", rows=rows, data=data)
