"""Workers SIGKILLed at random points while commits keep arriving: nothing is lost or left behind.

Real ``celery`` workers (two kustomize, one source) are killed, process group and
all, as a lost machine would be, and replaced; the visibility timeout is short
(10 s) so their unacknowledged tasks come back within the test. Afterwards every
Kustomization has converged on every cluster to the last commit, each cluster
holds exactly the objects of that commit (nothing leaked from a killed apply,
nothing lost), and no lease or pending marker stays behind to block the next run.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from shared.keys import ObjectKey
from shared.lease import lease_key, pending_key
from shared.sandbox import ClusterInfo, ControlPlane
from shared.settings import Settings
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.fixtures.workers import Worker
from tests.helpers import eventually
from tests.kube import configmap_data, owned_objects
from tests.servers.git import BareRepo

COMMITS = 10
KILLS = 6
SERVICES = ("kustomize", "kustomize", "source")


@pytest.fixture
def gitops_settings(gitops_settings: Settings) -> Settings:
    """A killed worker's tasks come back after 10 s; a dead holder's lease frees after 3 s."""
    return gitops_settings.with_overrides(
        visibility_timeout=10,
        unacked_restore_interval=1,
        task_time_limit=8,
        lease_ttl=3,
        pending_stale_after=8,
    )


def _files(apps: dict[str, str], n: int) -> dict[str, str | bytes | None]:
    """Commit ``n``: per app a namespace, a ConfigMap changed in place, one renamed each time."""
    files: dict[str, str | bytes | None] = {}
    for path, ns in apps.items():
        files[f"{path}/ns.yaml"] = namespace_yaml(ns)
        files[f"{path}/settings.yaml"] = configmap_yaml("settings", ns, commit=str(n))
        files[f"{path}/gen.yaml"] = configmap_yaml(f"gen-{n}", ns, commit=str(n))
    return files


def _expected(ns: str, n: int) -> set[str]:
    return {f"Namespace/{ns}", f"ConfigMap/{ns}/settings", f"ConfigMap/{ns}/gen-{n}"}


def _every(
    stop: threading.Event, count: int, delay: Callable[[], float], act: Callable[[], None]
) -> tuple[threading.Thread, list[BaseException]]:
    """A thread running ``act`` ``count`` times, ``delay()`` seconds apart; errors are kept."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(count):
                if stop.wait(delay()):
                    return
                act()
        except BaseException as exc:  # surfaced by the test after join
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


_RECEIVED = re.compile(r"Task (\S+)\[([0-9a-f-]+)\] received")
_FINISHED = re.compile(r"Task \S+\[([0-9a-f-]+)\] (?:succeeded|raised|failed|retry)")


def _running(worker: Worker) -> list[str]:
    """Names of the tasks a worker has received and not finished (or holds for later)."""
    log = worker.output()
    finished = set(_FINISHED.findall(log))
    return [name for name, task_id in _RECEIVED.findall(log) if task_id not in finished]


def _victim(
    workers: list[Worker], service: str, rng: random.Random, *, within: float = 2.0
) -> Worker:
    """A live worker of ``service``: one in the middle of a task if any within ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        alive = [w for w in workers if w.name == service and w.process.poll() is None]
        busy = [w for w in alive if _running(w)]
        if busy or time.monotonic() >= deadline:
            return rng.choice(busy or alive)
        time.sleep(0.01)


def _broker_state(gitops: GitOps) -> str:
    """Leases, pending markers, queues and kombu's unacked bookkeeping, for a failure message."""
    client = gitops.store_client
    lines = []
    for pattern in ("sluice:lease:*", "sluice:pending:*", "unacked_mutex"):
        for key in client.scan_iter(pattern):
            lines.append(f"{key!r} ttl={client.pttl(key)}ms")
    for queue in ("kustomize", "source"):
        lines.append(f"queue {queue}: {client.llen(queue)} waiting")
    index = client.zrange("unacked_index", 0, -1, withscores=True)
    lines.append(f"unacked: {client.hlen('unacked')}, index {index}")
    queued = sum(int(client.llen(q)) for q in ("kustomize", "source")) + int(client.hlen("unacked"))
    if not queued and any(client.scan_iter("sluice:pending:*")):
        lines.append(
            "a pending marker with no message queued or unacked anywhere: its message was lost "
            "(kombu's Redis transport pops a message before recording it as unacked, so a "
            "consumer killed in between loses it) and the marker blocks every request for its TTL"
        )
    return "\n".join(lines)


def _converged(
    gitops: GitOps, names: Iterable[str], revision: str, *, timeout: float, seed: int
) -> list[dict[str, Any]]:
    """Every Kustomization Ready at ``revision``; else fail with the broker's state."""
    try:
        return [
            gitops.wait_ready("Kustomization", name, revision=revision, timeout=timeout)
            for name in names
        ]
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}\n{_broker_state(gitops)}\n{exc}") from None


def test_workers_killed_again_and_again_lose_nothing_and_leave_nothing_behind(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    started = time.monotonic()
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    fleet = unique("chaos")
    apps = {"a": unique("chaos-a"), "b": unique("chaos-b")}
    names = {path: unique(f"ks-{path}") for path in apps}
    clusters = control_plane_3.cluster_info()
    heads = [git_repo.commit(_files(apps, 0), "commit 0")]
    for i, info in enumerate(clusters, start=1):
        gitops.register_cluster(info, f"{fleet}-{i}", fleet=fleet)
    selector = f"  clusterSelector:\n    matchLabels:\n      fleet: {fleet}\n"
    gitops.apply(
        source_yaml("app", git_repo.url, interval="2s")
        + "".join(
            kustomization_yaml(names[p], source="app", path=f"./{p}", extra=selector) for p in apps
        )
    )
    gitops.start_worker("kustomize", concurrency=2)  # the second kustomize worker
    for name in names.values():
        gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{heads[0]}")

    stop = threading.Event()
    killed: list[Worker] = []
    mid_task: list[str] = []  # the tasks each kill interrupted

    def commit() -> None:
        n = len(heads)
        heads.append(git_repo.commit(_files(apps, n), f"commit {n}"))

    def kill_one() -> None:
        # Two kustomize workers to one source worker: pick a service in that proportion.
        victim = _victim(gitops.workers.started, rng.choice(SERVICES), rng)
        mid_task.extend(_running(victim))
        victim.kill()
        killed.append(victim)
        gitops.workers.start(
            victim.name,
            app=f"services.{victim.name}.tasks",
            queues=(victim.name,),
            concurrency=2,
            wait=False,
        )

    committer, commit_errors = _every(stop, COMMITS, lambda: 0.5, commit)
    killer, kill_errors = _every(stop, KILLS, lambda: rng.uniform(1.0, 2.0), kill_one)
    try:
        committer.join(timeout=60)
        killer.join(timeout=120)
    finally:
        stop.set()
    assert not commit_errors and not kill_errors, (commit_errors, kill_errors)
    assert len(heads) == COMMITS + 1 and len(killed) == KILLS
    for worker in gitops.workers.started:
        if worker not in killed:
            worker.wait_ready()
    chaos = time.monotonic() - started

    last = f"main@sha1:{heads[-1]}"
    for doc in _converged(gitops, names.values(), last, timeout=90, seed=seed):
        assert [c["lastAppliedRevision"] for c in doc["status"]["clusters"]] == [last] * 3
    for info in clusters:
        for path, ns in apps.items():
            assert owned_objects(info.kubeconfig, names[path]) == _expected(ns, COMMITS)
    converged = time.monotonic() - started

    # No lease outlives its TTL and no pending marker is left without its task.
    client = gitops.store_client
    ttl_ms = gitops.settings.lease_ttl * 1000
    for lease in client.scan_iter("sluice:lease:*"):
        ttl = client.pttl(lease)  # -2: released since the scan (the source runs every 2 s)
        assert ttl == -2 or 0 < ttl <= ttl_ms, (lease, ttl)
    keys = [ObjectKey("Kustomization", "flux-system", name) for name in names.values()]
    markers = [
        *(lease_key(k) for k in keys),
        *(pending_key("kustomize.reconcile", k) for k in keys),
        *(lease_key(k) + "@*" for k in keys),
        *(pending_key("kustomize.apply", k) + "@*" for k in keys),
    ]

    def settled() -> list[str]:
        left = [k for pattern in markers for k in client.scan_iter(pattern)]
        assert not left, f"still there: {left}"
        return markers

    eventually(settled, timeout=30, interval=0.2)

    # The next commit goes through at once: nothing blocks a new reconcile.
    final = git_repo.commit(_files(apps, COMMITS + 1), "after the chaos")
    _converged(gitops, names.values(), f"main@sha1:{final}", timeout=30, seed=seed)
    for info in clusters:
        for path, ns in apps.items():
            assert owned_objects(info.kubeconfig, names[path]) == _expected(ns, COMMITS + 1)
    for worker in gitops.workers.started:
        if worker not in killed:
            assert worker.process.poll() is None, worker.output()[-3000:]
    print(
        f"\nchaos (seed {seed}): {COMMITS} commits, {KILLS} kills in {chaos:.1f}s, "
        f"interrupting {mid_task}; "
        f"converged after {converged:.1f}s; next commit applied after "
        f"{time.monotonic() - started:.1f}s"
    )


def _deployment(name: str, ns: str) -> str:
    """A Deployment that never becomes ready: the sandbox runs no controllers."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: registry.invalid/never:1
"""


def _deployments(kubeconfig: Path, ns: str) -> set[str]:
    api = k8s.AppsV1Api(api_client(kubeconfig))
    try:
        return {d.metadata.name for d in api.list_namespaced_deployment(ns).items}
    finally:
        api.api_client.close()


def test_objects_applied_by_a_worker_killed_before_recording_them_are_still_pruned(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns, name = unique("cut"), unique("ks-cut")
    base = {"app/ns.yaml": namespace_yaml(ns), "app/keep.yaml": configmap_yaml("keep", ns, a="1")}
    first = git_repo.commit(base)
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("app", git_repo.url, interval="2s")
        + kustomization_yaml(
            name, source="app", path="./app", extra="  wait: true\n  timeout: 5s\n"
        )
    )
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{first}")

    # This revision's apply creates its objects, then waits up to 5 s for the Deployment:
    # the worker dies in that wait, before the inventory records them.
    git_repo.commit(
        {
            "app/gone.yaml": configmap_yaml("gone", ns, a="1"),
            "app/stuck.yaml": _deployment("stuck", ns),
        }
    )
    kubeconfig = sandbox_cluster.kubeconfig
    eventually(lambda: configmap_data(kubeconfig, "gone", ns) is not None, timeout=30)
    for worker in gitops.workers.started:
        if worker.name == "kustomize":
            worker.kill()
    final = git_repo.commit(
        {"app/gone.yaml": None, "app/stuck.yaml": None, "app/new.yaml": configmap_yaml("new", ns)}
    )
    gitops.start_worker("kustomize", concurrency=2)

    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{final}", timeout=60)
    expected = {f"Namespace/{ns}", f"ConfigMap/{ns}/keep", f"ConfigMap/{ns}/new"}
    assert owned_objects(kubeconfig, name) == expected
    assert _deployments(kubeconfig, ns) == set()
