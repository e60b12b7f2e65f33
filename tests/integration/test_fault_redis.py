"""Redis restarted, and Redis losing every byte: sluice carries on or rebuilds from Git.

The redis-server of the test (AOF persistence on) is stopped under running
workers and a running scheduler, then started again on the same port; nobody
restarts a worker or touches anything by hand.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from shared.events import EventBus
from shared.fleet.state import FleetState
from shared.keys import ObjectKey
from shared.redisserver import RedisServer
from shared.sandbox import ClusterInfo
from shared.scheduler import due_at
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data, owned_objects
from tests.servers.git import BareRepo

SOURCE = ObjectKey("GitRepository", "flux-system", "app")
RECONNECTING = (
    b"_kombu.",
    b"unacked_mutex",
    b"sluice:watch:position",
    b"sluice:metrics",
    b"sluice:subscriptions",
)


def _bootstrap(gitops: GitOps, repo: BareRepo, cluster: ClusterInfo, name: str) -> None:
    """What an operator applies to set sluice up: Cluster, kubeconfig Secret, source, app."""
    gitops.register_cluster(cluster, "default")
    gitops.apply(
        source_yaml("app", repo.url, interval="2s")
        + kustomization_yaml(name, source="app", path="./app")
    )


def _wait_for_workers_to_notice(gitops: GitOps) -> None:
    """Every worker has logged that it lost the broker (so they really were cut off)."""

    def noticed() -> bool:
        return all(
            "Connection refused" in w.output() or "Cannot connect" in w.output()
            for w in gitops.workers.started
        )

    eventually(noticed, timeout=30, interval=0.2)


def _snapshot(gitops: GitOps, key: ObjectKey) -> dict[str, Any]:
    state = FleetState(gitops.store_client, service="kustomize")
    return {
        "kustomization": gitops.get("Kustomization", key.name),
        "source": gitops.get("GitRepository", "app"),
        "results": {c: r.to_status() for c, r in state.results(key).items()},
        "desired": state.desired(key),
        "due": due_at(gitops.store_client, key),
    }


def test_a_restarted_redis_keeps_objects_status_inventories_and_due_times(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo, redis_server: RedisServer
) -> None:
    ns, name = unique("restart"), unique("ks-restart")
    key = ObjectKey("Kustomization", "flux-system", name)
    first = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("cm", ns, v="1")}
    )
    _bootstrap(gitops, git_repo, sandbox_cluster, name)
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{first}")
    client = gitops.store_client
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    # Far enough from its next interval that it cannot fire while Redis is away.
    gitops.wait_idle(key, not_due_within=30)
    before = _snapshot(gitops, key)
    assert before["results"]["default"]["inventory"], before

    redis_server.stop()
    _wait_for_workers_to_notice(gitops)
    redis_server.start()

    after = eventually(lambda: _snapshot(gitops, key), timeout=10)
    assert after["kustomization"]["status"] == before["kustomization"]["status"]
    assert after["source"]["status"]["artifact"] == before["source"]["status"]["artifact"]
    assert after["results"] == before["results"]
    assert after["desired"] == before["desired"]
    assert after["due"] == before["due"]  # 1m interval: not fired again since
    assert due_at(client, SOURCE) is not None

    # No manual step: the next commit flows through reconnected workers and scheduler.
    second = git_repo.commit({"app/cm.yaml": configmap_yaml("cm", ns, v="2")})
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{second}", timeout=60)
    assert configmap_data(sandbox_cluster.kubeconfig, "cm", ns) == {"v": "2"}
    assert owned_objects(sandbox_cluster.kubeconfig, name) == {
        f"Namespace/{ns}",
        f"ConfigMap/{ns}/cm",
    }
    assert all(w.process.poll() is None for w in gitops.workers.started)


def test_after_redis_loses_all_data_a_bootstrap_apply_converges_and_prunes_from_git(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo, redis_server: RedisServer
) -> None:
    ns, name = unique("lost"), unique("ks-lost")
    kubeconfig = sandbox_cluster.kubeconfig
    first = git_repo.commit(
        {
            "app/ns.yaml": namespace_yaml(ns),
            "app/keep.yaml": configmap_yaml("keep", ns, v="1"),
            "app/gone.yaml": configmap_yaml("gone", ns, v="1"),
        }
    )
    _bootstrap(gitops, git_repo, sandbox_cluster, name)
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{first}")
    assert owned_objects(kubeconfig, name) == {
        f"Namespace/{ns}",
        f"ConfigMap/{ns}/keep",
        f"ConfigMap/{ns}/gone",
    }

    # Lose the data while no apply is under way: one ending later would write its result
    # into the empty Redis.
    gitops.wait_idle(ObjectKey("Kustomization", "flux-system", name))
    redis_server.stop(kill=True)
    shutil.rmtree(redis_server.data_dir)
    redis_server.start()
    # Reconnecting processes write their own bookkeeping within a second or two (the
    # watcher's position, kombu's queue bindings and restore mutex, the counters of a
    # source run the loss cut short): nothing else may be there.
    left = [k for k in gitops.store_client.scan_iter("*") if not k.startswith(RECONNECTING)]
    assert left == []
    # Git moves on while sluice remembers nothing: one object leaves, one arrives.
    second = git_repo.commit(
        {
            "app/keep.yaml": configmap_yaml("keep", ns, v="2"),
            "app/gone.yaml": None,
            "app/new.yaml": configmap_yaml("new", ns, v="1"),
        }
    )
    started = time.monotonic()
    _bootstrap(gitops, git_repo, sandbox_cluster, name)

    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{second}", timeout=90)
    took = time.monotonic() - started
    assert owned_objects(kubeconfig, name) == {
        f"Namespace/{ns}",
        f"ConfigMap/{ns}/keep",
        f"ConfigMap/{ns}/new",
    }
    assert configmap_data(kubeconfig, "keep", ns) == {"v": "2"}
    status = gitops.get("Kustomization", name)["status"]
    ids = {e["id"] for e in status["inventory"]["entries"]}
    assert ids == {f"_{ns}__Namespace", f"{ns}_keep__ConfigMap", f"{ns}_new__ConfigMap"}
    # Event routing came back too (the scheduler records it at each sync), so the next
    # commit is applied on artifact-ready, not at the next interval.
    bus = EventBus(gitops.store_client, gitops.workers_app)
    # kustomize applies a new artifact, helm releases a new chart; source rebuilds
    # HelmCharts and generators from it; notify takes every event for its Alerts.
    assert eventually(
        lambda: (
            sorted(bus.subscribers("artifact-ready")) == ["helm", "kustomize", "notify", "source"]
        ),
        15,
    )
    assert all(w.process.poll() is None for w in gitops.workers.started)
    print(f"\nconverged {took:.1f}s after the bootstrap apply on an empty Redis")
