"""Image automation: a pushed tag's way to the cluster, and the cost of scanning many registries.

Both parts run on one stack with the image worker (as ``sluice worker image``
runs it), a real docker-registry on loopback behind a Basic login (pull
credentials in a dockerconfigjson Secret, as ``kubectl create secret
docker-registry`` makes it; every request in its access log) and a Git
server over smart HTTP that takes pushes (``tests.servers.githttp``, a
thread of the benchmark process, so its CPU is counted for no one).

- ``tag -> cluster``: one ImageRepository (interval 1h), an ImagePolicy
  (semver ``>=1.0.0``), an ImageUpdateAutomation and a Kustomization applying
  a Deployment whose image carries the setter marker. The benchmark pushes
  tags 1.0.1, 1.0.2, ... (10; 5 with --quick), one after the other, and right
  after each push asks for the ImageRepository's reconcile, as a registry
  webhook Receiver does (the interval never fires). Each is timed from the
  push of the manifest returning to the Deployment's image on the cluster
  being the new tag: scan, policy, commit and push to Git, the
  GitRepository's fetch (the automation's push asks for it), the
  Kustomization's apply. The next tag waits for the Kustomization to be
  Ready at the pushed commit.
- ``scan``: 200 ImageRepositories (50 with --quick), each its own registry
  repository with 10 tags, all with the same Basic login, created at once
  (the store's watcher starts their first scans); then a reconcile of each
  is asked for at once (as 200 webhook calls would), with nothing new in
  the registry: the unchanged scans. Then the same registry (storage and
  address) is restarted behind a bearer-token service, as Docker Hub, GHCR
  or Harbor ask for one, and 200 new ImageRepositories of the same images,
  with a login of their own, are scanned the same two ways. Per
  ImageRepository: the requests the registry served (its access log), the
  token service's, and the image worker's CPU (its whole session); the
  scans the worker counted (``sluice_reconcile_total``) are in the notes.
  Both Secrets are applied first: a changed Secret re-runs every
  ImageRepository of its namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.kube import KubeReader
from bench.manifests import (
    NAMESPACE,
    git_repository,
    image_policy,
    image_repository,
    image_update_automation,
    kustomization,
    registry_login,
)
from bench.procstat import cpu_seconds, session_pids
from bench.scenarios.common import Context, Result, Row, percentile, seconds
from bench.stack import Stack, Topology
from bench.waiting import BenchError
from shared.api.conditions import get_condition
from shared.keys import ObjectKey
from shared.metrics import FAILURE, HASH, RECONCILES, SUCCESS, field_name
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer
from tests.servers.registry import MANIFEST_MEDIA_TYPE, OciRegistry
from tests.servers.registryauth import TokenService

__all__ = ["Scans", "run", "summarize"]

NAME = "images"
POLL = 0.05  # seconds between looks at the cluster while the clock runs
USER = "puller"
PASSWORD = "bench-registry-pass"  # a loopback registry that lives for one run
LOGIN = "registry-login"
TOKEN_USER = "token-puller"
TOKEN_LOGIN = "token-login"
APP = "app"
TAGS_PER_REPOSITORY = 10
KIND = "ImageRepository"


@dataclass(frozen=True)
class Scans:
    """One round of scans: what the registry served and the image worker spent."""

    scans: int  # reconciles the worker counted
    requests: int  # requests the registry served
    challenged: int  # of which answered 401 (the login's challenge)
    tokens: int | None  # requests at the token service (None: Basic login, no token service)
    cpu_seconds: float
    wall_seconds: float  # first request for a scan (or the apply) to the last scan counted


def _deployment(image: str) -> str:
    """The app: a Deployment whose image the automation rewrites (Flux's setter marker)."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: {image}:1.0.0 # {{"$imagepolicy": "{NAMESPACE}:{APP}"}}
"""


def _served(registry: OciRegistry, status: int | None = None) -> int:
    """Requests the registry has served so far (its access log), answered ``status`` if given."""
    methods = ("GET", "HEAD", "POST", "PUT")
    return sum(registry.requests(method, "/v2/", status=status) for method in methods)


def _scanned(stack: Stack, result: str | None = None) -> int:
    """ImageRepository reconciles the image worker has counted (with ``result``, or all)."""
    results = (SUCCESS, FAILURE) if result is None else (result,)
    fields = [field_name(RECONCILES, {"kind": KIND, "result": r}) for r in results]
    return sum(int(v or 0) for v in stack.client.hmget(HASH, fields))


def _deployed(reader: KubeReader, image: str) -> bool:
    return reader.container_image("default", "web") == image


def _status(stack: Stack, kind: str, name: str) -> dict[str, Any]:
    doc = stack.store.get(ObjectKey(kind, NAMESPACE, name)) or {}
    return dict(doc.get("status") or {})


def _is_ready(stack: Stack, kind: str, name: str) -> bool:
    cond = get_condition(_status(stack, kind, name), "Ready") or {}
    return cond.get("status") == "True"


def _pushed_commit(stack: Stack, previous: str) -> str | None:
    commit = _status(stack, "ImageUpdateAutomation", APP).get("lastPushCommit")
    return str(commit) if commit and commit != previous else None


def _tag_to_cluster(ctx: Context, stack: Stack, registry: OciRegistry, tags: int) -> list[float]:
    """Push ``tags`` new tags one after another; seconds until each is the cluster's image."""
    git = GitHttpServer(ctx.work / "git" / "repos")
    git.base_dir.mkdir(parents=True)
    git.start()
    try:
        repo = BareRepo(git.base_dir / f"{APP}.git")
        image = registry.image(APP)
        registry.push_image(APP, "1.0.0", files={"tag.txt": b"1.0.0"})
        first = repo.commit({"app/deploy.yaml": _deployment(image)}, "the app at 1.0.0")
        stack.apply(
            [
                git_repository(APP, git.url_for(repo), interval="1h"),
                kustomization(APP, source=APP, interval="1h"),
                image_repository(APP, image, interval="1h", secret=LOGIN),
                image_policy(APP, repository=APP, semver=">=1.0.0"),
                image_update_automation(APP, source=APP, interval="1h"),
            ]
        )
        reader = stack.reader(1)
        stack.wait(
            f"Kustomization {APP} Ready",
            partial(stack.is_ready, "Kustomization", APP, f"main@sha1:{first}"),
            timeout=ctx.timeout,
        )
        # The clock starts with everything settled: the first scan, choice and run done.
        stack.wait(
            "ImageUpdateAutomation Ready",
            partial(_is_ready, stack, "ImageUpdateAutomation", APP),
            timeout=ctx.timeout,
        )
        times: list[float] = []
        previous = first
        for n in range(1, tags + 1):
            tag = f"1.0.{n}"
            registry.push_image(APP, tag, files={"tag.txt": tag.encode()})
            pushed_at = time.monotonic()
            stack.request(KIND, APP)
            stack.wait(
                f"Deployment web at {image}:{tag} in the cluster",
                partial(_deployed, reader, f"{image}:{tag}"),
                timeout=ctx.timeout,
                interval=POLL,
            )
            times.append(time.monotonic() - pushed_at)
            ctx.say(f"  tag {n}/{tags} ({tag}): in the cluster after {times[-1]:.2f}s")
            previous = stack.wait(
                "the automation's push",
                partial(_pushed_commit, stack, previous),
                timeout=ctx.timeout,
            )
            stack.wait(
                f"Kustomization {APP} Ready at {previous}",
                partial(stack.is_ready, "Kustomization", APP, f"main@sha1:{previous}"),
                timeout=ctx.timeout,
            )
        return times
    finally:
        git.stop()


def _fill(registry: OciRegistry, repositories: list[str]) -> None:
    """Give every repository ``TAGS_PER_REPOSITORY`` tags: one image, then more tags on it."""

    def one(name: str) -> None:
        registry.push_image(name, "1.0.0")
        with registry.client() as client:
            manifest = client.get(
                f"/v2/{name}/manifests/1.0.0", headers={"Accept": MANIFEST_MEDIA_TYPE}
            )
            manifest.raise_for_status()
            for n in range(1, TAGS_PER_REPOSITORY):
                client.put(
                    f"/v2/{name}/manifests/1.{n}.0",
                    content=manifest.content,
                    headers={"Content-Type": MANIFEST_MEDIA_TYPE},
                ).raise_for_status()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, repositories))


def _settle(stack: Stack, *, quiet: float, timeout: float) -> None:
    """Return once the count of scans has not moved for ``quiet`` seconds."""
    last, since = _scanned(stack), time.monotonic()
    deadline = since + timeout
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise BenchError(f"ImageRepository scans still running after {timeout:.0f}s")
        time.sleep(0.2)
        now = _scanned(stack)
        if now != last:
            last, since = now, time.monotonic()


def _round(
    ctx: Context,
    stack: Stack,
    registry: OciRegistry,
    *,
    names: list[str],
    start: Callable[[], None],
    tokens: TokenService | None,
) -> Scans:
    """Measure one scan of every ImageRepository in ``names``; ``start()`` sets the scans off."""
    image = partial(stack.worker_pids, "image-")
    requests_before, scans_before = _served(registry), _scanned(stack)
    challenged_before = _served(registry, 401)
    tokens_before = _token_requests(tokens)
    cpu_before = cpu_seconds(session_pids(image()))
    began = time.monotonic()
    start()
    want = scans_before + len(names)
    stack.wait(
        f"{len(names)} ImageRepository scans",
        lambda: _scanned(stack) >= want,
        timeout=ctx.timeout,
    )
    wall = time.monotonic() - began
    # A second reconcile of one object still running is counted with the others.
    _settle(stack, quiet=2.0, timeout=ctx.timeout)
    return Scans(
        scans=_scanned(stack) - scans_before,
        requests=_served(registry) - requests_before,
        challenged=_served(registry, 401) - challenged_before,
        tokens=None if tokens is None else _token_requests(tokens) - tokens_before,
        cpu_seconds=cpu_seconds(session_pids(image())) - cpu_before,
        wall_seconds=wall,
    )


def _token_requests(tokens: TokenService | None) -> int:
    return 0 if tokens is None else tokens.issued + tokens.refused


def _scan(
    ctx: Context,
    stack: Stack,
    registry: OciRegistry,
    *,
    images: list[str],
    login: str,
    tokens: TokenService | None = None,
) -> dict[str, Scans]:
    """New ImageRepositories of ``images`` pulling with ``login``: their first scans, then one
    unchanged scan each."""
    prefix = "token" if tokens is not None else "basic"
    names = [f"{prefix}-{image}" for image in images]
    docs = [
        image_repository(name, registry.image(image), interval="1h", secret=login)
        for name, image in zip(names, images, strict=True)
    ]
    rounds: dict[str, Scans] = {}
    apply = partial(stack.apply, docs)
    rounds["first"] = _round(ctx, stack, registry, names=names, start=apply, tokens=tokens)
    for name in names:  # every one scanned, with its tags
        status = _status(stack, KIND, name)
        found = (status.get("lastScanResult") or {}).get("tagCount")
        if found != TAGS_PER_REPOSITORY:
            raise RuntimeError(f"ImageRepository {name} found {found} tags: {status}")
    # The scheduler tracks them all before the unchanged round: no first scan is still due.
    for name in names:
        stack.wait(
            f"{name} on the schedule", partial(stack.scheduled, KIND, name), timeout=ctx.timeout
        )

    def ask() -> None:
        for name in names:
            stack.request(KIND, name)

    rounds["unchanged"] = _round(ctx, stack, registry, names=names, start=ask, tokens=tokens)
    for label, scans in rounds.items():
        token = "" if scans.tokens is None else f" and {scans.tokens} token requests"
        ctx.say(
            f"  {prefix} {label} scans: {scans.scans} in {scans.wall_seconds:.1f}s, "
            f"{scans.requests} registry requests{token}, {scans.cpu_seconds:.1f} CPU s"
        )
    return rounds


def _behind_tokens(ctx: Context, registry: OciRegistry) -> tuple[OciRegistry, TokenService]:
    """The same registry (storage, address) restarted behind a token service that knows another
    login, as Docker Hub, GHCR or Harbor ask for a bearer token."""
    tokens = TokenService(ctx.work / "token", username=TOKEN_USER, password=PASSWORD)
    tokens.start()
    registry.stop()
    again = OciRegistry(registry.state_dir, token=tokens, access_log=True, port=registry.port)
    again.start()
    return again, tokens


def run(ctx: Context) -> Result:
    """Tags pushed one by one to the cluster, then first and unchanged scans of many images."""
    tags = 5 if ctx.quick else 10
    count = 50 if ctx.quick else 200
    topology = Topology(clusters=1, image_workers=1)
    with ExitStack() as stack_of:
        registry = OciRegistry(
            ctx.work / "registry", username=USER, password=PASSWORD, access_log=True
        )
        registry.start()
        # The registry running at the end (it is restarted behind tokens half way).
        stack_of.callback(lambda: registry.stop())
        stack = stack_of.enter_context(
            Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say)
        )
        stack.register_clusters(lambda _n: {})
        # Both logins from the start: a changed Secret re-runs every ImageRepository of its
        # namespace (KindFacts.reruns_on), which would scan the repositories mid-round.
        host = registry.host
        stack.apply(
            [
                registry_login(LOGIN, host=host, username=USER, password=PASSWORD),
                registry_login(TOKEN_LOGIN, host=host, username=TOKEN_USER, password=PASSWORD),
            ]
        )
        times = _tag_to_cluster(ctx, stack, registry, tags)
        images = [f"scan-{i:03d}" for i in range(count)]
        began = time.monotonic()
        _fill(registry, images)
        took = time.monotonic() - began
        ctx.say(f"  {count} repositories x {TAGS_PER_REPOSITORY} tags pushed in {took:.1f}s")
        rounds = {"Basic login": _scan(ctx, stack, registry, images=images, login=LOGIN)}
        registry, tokens = _behind_tokens(ctx, registry)
        stack_of.callback(tokens.stop)
        rounds["token service"] = _scan(
            ctx, stack, registry, images=images, login=TOKEN_LOGIN, tokens=tokens
        )
    return summarize(times, rounds, count, topology)


def summarize(
    times: list[float], rounds: dict[str, dict[str, Scans]], count: int, topology: Topology
) -> Result:
    """The table rows and JSON figures of both parts (``count`` ImageRepositories scanned)."""
    p50, p95 = percentile(times, 50), percentile(times, 95)
    spread = f"min {seconds(min(times))}, max {seconds(max(times))}"
    rows = [
        Row(
            "tag pushed -> image in the cluster: p50",
            seconds(p50),
            f"{len(times)} tags pushed one by one to docker-registry (Basic login); "
            "ImageRepository reconcile requested right after each push (as a registry "
            "webhook Receiver does; interval 1h), ImagePolicy semver, ImageUpdateAutomation "
            "commit + push over smart HTTP, Kustomization applies the marked Deployment; "
            f"{topology.describe()}",
        ),
        Row("tag pushed -> image in the cluster: p95", seconds(p95), spread),
    ]
    data: dict[str, object] = {
        "tags": len(times),
        "topology": topology.describe(),
        "tag_to_cluster": {
            "p50_seconds": round(p50, 3),
            "p95_seconds": round(p95, 3),
            "min_seconds": round(min(times), 3),
            "max_seconds": round(max(times), 3),
            "each_seconds": [round(t, 3) for t in times],
        },
        "repositories": count,
        "tags_per_repository": TAGS_PER_REPOSITORY,
    }
    notes = {
        "Basic login": f"{count} ImageRepositories (one registry repository of "
        f"{TAGS_PER_REPOSITORY} tags each, one Basic login for all) created at once, interval "
        "1h; first scans started by the store's watcher on creation; requests counted in the "
        "registry's access log, CPU of the image worker's session",
        "token service": f"the same registry restarted behind a bearer-token service; {count} "
        "new ImageRepositories of the same images with another login",
    }
    for auth, phases in rounds.items():
        for phase, scans in phases.items():
            per = scans.requests / count
            cpu_ms = scans.cpu_seconds / count * 1000
            value = f"{per:.2f} requests, {cpu_ms:.1f} ms CPU"
            token = ""
            if scans.tokens is not None:
                tokens = scans.tokens / count
                value = f"{per:.2f} requests + {tokens:.2f} tokens, {cpu_ms:.1f} ms CPU"
                token = f", {scans.tokens} token requests"
            extra = scans.scans - count
            # The scheduler's first sync may start one more scan of a repository just created.
            again = f" ({extra} repositories scanned twice)" if extra > 0 else ""
            if phase == "first":
                note = notes[auth]
            else:
                note = "a reconcile of each requested at once, nothing new in the registry "
                note += "(status not rewritten, no event)"
            rows.append(
                Row(
                    f"scan of {count}, {auth}, {phase}: per ImageRepository",
                    value,
                    f"{note}; {scans.scans} scans{again}, {scans.requests} registry requests "
                    f"({scans.challenged} answered 401){token}, {scans.cpu_seconds:.1f} CPU s, "
                    f"{seconds(scans.wall_seconds)} from start to the last scan",
                )
            )
            key = "basic" if scans.tokens is None else "token"
            data[f"scan_{key}_{phase}"] = {
                "scans": scans.scans,
                "registry_requests": scans.requests,
                "answered_401": scans.challenged,
                "token_requests": scans.tokens,
                "requests_per_repository": round(per, 3),
                "image_cpu_seconds": round(scans.cpu_seconds, 2),
                "cpu_ms_per_repository": round(cpu_ms, 2),
                "wall_seconds": round(scans.wall_seconds, 2),
            }
    return Result(name=NAME, title="image automation", rows=rows, data=data)
