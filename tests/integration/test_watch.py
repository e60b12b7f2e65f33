"""The store watcher re-runs what a change concerns, by the kinds' declared facts (real Redis)."""

from __future__ import annotations

from typing import Any

import redis

from shared.keys import ObjectKey
from shared.lease import pending_key
from shared.runtime import watcher_for
from shared.settings import Settings
from shared.store import Store


def _ks(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "path": "./",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
        },
    }


def _repo(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": namespace},
        "spec": {"interval": "10m", "url": "https://example.com/repo.git"},
    }


def _config(name: str, namespace: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": value},
    }


def _requested(client: redis.Redis) -> set[str]:
    """The reconciles requested so far: ``task Kind/ns/name``."""
    prefix = "sluice:pending:"
    return {
        key.decode().removeprefix(prefix).replace(":", " ", 1)
        for key in client.scan_iter(match=f"{prefix}*")
    }


def test_a_changed_configmap_reruns_its_namespaces_kustomizations_and_a_source_only_itself(
    settings: Settings, redis_client: redis.Redis
) -> None:
    store = Store.from_settings(settings)
    store.apply_all([_repo("team-a"), _ks("one", "team-a"), _ks("two", "team-a"), _ks("b", "x")])
    watcher = watcher_for(settings, redis_client)
    watcher.poll()  # the first poll starts at the newest change
    assert _requested(redis_client) == set()

    store.apply_all([_config("vars", "team-a", "1")])
    watcher.poll()
    assert _requested(redis_client) == {
        "kustomize.reconcile Kustomization/team-a/one",
        "kustomize.reconcile Kustomization/team-a/two",
    }

    for key in redis_client.scan_iter(match="sluice:pending:*"):
        redis_client.delete(key)
    repo = store.get(ObjectKey("GitRepository", "team-a", "repo"))
    assert repo is not None
    repo["spec"]["interval"] = "5m"
    store.update(repo)
    watcher.poll()
    assert _requested(redis_client) == {"source.reconcile GitRepository/team-a/repo"}
    assert redis_client.exists(
        pending_key("source.reconcile", ObjectKey("GitRepository", "team-a", "repo"))
    )
