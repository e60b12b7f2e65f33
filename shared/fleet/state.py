"""What a fan-out service keeps in Redis between the build and the per-cluster runs.

Keyed by service (``sluice:<service>:...``), so each service that fans out
(kustomize, later helm) keeps its own. One reconcile of an object builds once
and records the *desired* state (revision, build key, target clusters); then
one task per cluster reads it, so a task that runs late or twice always applies
the newest build. The rendered objects are kept by build key, compressed, for
every worker on any machine; per-cluster results (and inventories) live in one
hash per object, written by each cluster's task on its own. An apply in
progress is marked until its result is recorded, so the next run knows when one
died half way and its objects are missing from the inventory.

A build may also hold objects for sluice's own store (a Kustomization's toolkit
objects, under ``Desired.store_key``); they are stored only once every target
cluster applied the build (``applied``: the ``Desired.token`` each cluster's apply
passed with), by ``shared.fleet.commit``.

Keys::

    sluice:<service>:desired:<Kind/ns/name>   JSON Desired
    sluice:<service>:build:<build key>        gzip JSON list of objects, Secrets sealed (expires)
    sluice:<service>:clusters:<Kind/ns/name>  hash cluster -> JSON status.clusters[] entry
    sluice:<service>:applying:<Kind/ns/name>  hash cluster -> revision being applied
    sluice:<service>:applied:<Kind/ns/name>   hash cluster -> token of the last build applied
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import redis

from shared.fleet.summary import ClusterResult
from shared.keys import ObjectKey
from shared.secrets import SecretCipher

__all__ = ["Desired", "FleetState", "cluster_key", "split_cluster_key"]

# A build outlives any apply of it; a later reconcile rebuilds (cached on disk).
_BUILD_TTL = 24 * 3600


@dataclass(frozen=True)
class Desired:
    """The build every target cluster of an object should have applied."""

    revision: str
    build_key: str
    targets: tuple[str, ...]
    generation: int
    prune: bool = False
    health: bool = False  # health checks run (wait or healthChecks): Healthy is summed up
    # What deleting the object does to what it applied (a service's own word, e.g.
    # kustomize's Delete / WaitForTermination / Orphan; "": as prune says), and the
    # longest a deletion may wait for its objects to be gone.
    deletion: str = ""
    timeout: float = 0.0
    # The build's objects for sluice's store, kept apart ("": none, nothing to commit).
    store_key: str = ""
    # The source's origin revision (the commit an OCI or generated artifact came from).
    origin_revision: str = ""
    # The requestedAt token the reconcile that made it handled: each cluster's run of
    # it records the token, whatever the object's annotations say by then (its own
    # build may store it again without them).
    handled: str = ""

    @property
    def token(self) -> str:
        """What a cluster that applied this build has applied: both halves of the build."""
        return f"{self.build_key}/{self.store_key}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Desired:
        data = json.loads(text)
        return cls(
            data["revision"],
            data["build_key"],
            tuple(data["targets"]),
            data["generation"],
            bool(data.get("prune", False)),
            bool(data.get("health", False)),
            str(data.get("deletion", "")),
            float(data.get("timeout", 0.0)),
            str(data.get("store_key", "")),
            str(data.get("origin_revision", "")),
            str(data.get("handled", "")),
        )


class FleetState:
    """Desired builds, rendered objects and per-cluster results of one service's objects."""

    def __init__(
        self, client: redis.Redis, *, service: str, cipher: SecretCipher | None = None
    ) -> None:
        self._client = client
        self._cipher = cipher
        self._prefix = f"sluice:{service}:"

    def _sealing(self) -> SecretCipher:
        if self._cipher is None:
            raise RuntimeError("FleetState needs the store's cipher to keep rendered builds")
        return self._cipher

    def set_desired(self, key: ObjectKey, desired: Desired) -> None:
        """Record what every target of ``key`` should converge to."""
        self._client.set(f"{self._prefix}desired:{key}", desired.to_json())

    def desired(self, key: ObjectKey) -> Desired | None:
        """The newest desired state of ``key``, if it was ever built."""
        raw = self._client.get(f"{self._prefix}desired:{key}")
        return Desired.from_json(raw) if raw else None

    def put_build(self, build_key: str, objects: list[dict[str, Any]]) -> None:
        """Keep the rendered objects of a build where every worker can read them.

        Secrets are sealed like the store's: they may hold values substituted from
        other Secrets, which must never sit in Redis in the clear.
        """
        self._client.set(f"{self._prefix}build:{build_key}", self._blob(objects), ex=_BUILD_TTL)

    def _blob(self, objects: list[dict[str, Any]]) -> bytes:
        sealed = [self._sealing().seal(obj, copy_other=False) for obj in objects]
        return gzip.compress(json.dumps(sealed, separators=(",", ":")).encode(), 6)

    def publish(
        self, key: ObjectKey, desired: Desired, builds: dict[str, list[dict[str, Any]]]
    ) -> Desired | None:
        """Keep ``builds`` (as ``put_build``), then make ``desired`` the newest; return the last.

        One round trip, in this order: a run that reads the new desired state finds
        its builds. A desired state published without a request (``handled`` empty: a
        reconcile on a store change) carries the last one's: the clusters that run it
        have handled that request too. The object's lease keeps its publishers apart.
        """
        if not desired.handled:
            last = self.desired(key)
            if last is not None and last.handled:
                desired = replace(desired, handled=last.handled)
        pipe = self._client.pipeline(transaction=False)
        for build_key, objects in builds.items():
            pipe.set(f"{self._prefix}build:{build_key}", self._blob(objects), ex=_BUILD_TTL)
        pipe.set(f"{self._prefix}desired:{key}", desired.to_json(), get=True)
        previous = pipe.execute()[-1]
        return Desired.from_json(previous) if previous else None

    def build(self, build_key: str) -> list[dict[str, Any]] | None:
        """The rendered objects of a build, or None once expired."""
        blob = self._client.get(f"{self._prefix}build:{build_key}")
        if blob is None:
            return None
        sealed: list[dict[str, Any]] = json.loads(gzip.decompress(blob))  # type: ignore[arg-type]
        return [self._sealing().unseal(obj, copy_other=False) for obj in sealed]

    def set_result(self, key: ObjectKey, result: ClusterResult) -> None:
        """Record the outcome of the last apply to one cluster (which ends it)."""
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(f"{self._prefix}clusters:{key}", result.cluster, json.dumps(result.to_status()))
        pipe.hdel(f"{self._prefix}applying:{key}", result.cluster)
        pipe.execute()

    def start_apply(self, key: ObjectKey, cluster: str, revision: str) -> bool:
        """Mark an apply to one cluster as under way, until ``set_result`` records it.

        True when one was already marked: the last apply there died before
        recording its result (``interrupted``), read in the same command.
        """
        added = self._client.hset(f"{self._prefix}applying:{key}", cluster, revision)
        return not added

    def mark_applied(self, key: ObjectKey, cluster: str, token: str) -> None:
        """Record that ``cluster``'s apply of the build ``token`` passed (dry run included)."""
        self._client.hset(f"{self._prefix}applied:{key}", cluster, token)

    def applied(self, key: ObjectKey) -> dict[str, str]:
        """Per cluster, the token of the last build whose apply passed there."""
        raw = self._client.hgetall(f"{self._prefix}applied:{key}")
        return {_text(k): _text(v) for k, v in raw.items()}

    def desired_and_applied(self, key: ObjectKey) -> tuple[Desired | None, dict[str, str]]:
        """``desired(key)`` and ``applied(key)`` read together, in one round trip."""
        pipe = self._client.pipeline(transaction=True)
        pipe.get(f"{self._prefix}desired:{key}")
        pipe.hgetall(f"{self._prefix}applied:{key}")
        raw, applied = pipe.execute()
        desired = Desired.from_json(raw) if raw else None
        return desired, {_text(k): _text(v) for k, v in applied.items()}

    def interrupted(self, key: ObjectKey, cluster: str) -> bool:
        """Whether an apply to ``cluster`` started and never recorded its result."""
        return bool(self._client.hexists(f"{self._prefix}applying:{key}", cluster))

    def results(self, key: ObjectKey) -> dict[str, ClusterResult]:
        """The last outcome per cluster."""
        return _results(self._client.hgetall(f"{self._prefix}clusters:{key}"))

    def desired_and_results(
        self, key: ObjectKey
    ) -> tuple[Desired | None, dict[str, ClusterResult]]:
        """``desired(key)`` and ``results(key)`` read together, in one round trip."""
        pipe = self._client.pipeline(transaction=True)
        pipe.get(f"{self._prefix}desired:{key}")
        pipe.hgetall(f"{self._prefix}clusters:{key}")
        raw, results = pipe.execute()
        return (Desired.from_json(raw) if raw else None), _results(results)

    def drop_result(self, key: ObjectKey, cluster: str) -> None:
        """Forget a cluster that is no longer a target (after its objects were pruned)."""
        self._client.hdel(f"{self._prefix}clusters:{key}", cluster)
        self._client.hdel(f"{self._prefix}applying:{key}", cluster)
        self._client.hdel(f"{self._prefix}applied:{key}", cluster)

    def count_build(self) -> int:
        """Count one real kustomize build (not a cache hit); return the total."""
        return int(self._client.incr(f"{self._prefix}builds"))

    def builds(self) -> int:
        """How many real kustomize builds this installation ran."""
        return int(self._client.get(f"{self._prefix}builds") or 0)

    def forget(self, key: ObjectKey) -> None:
        """Remove everything kept for a deleted object."""
        self._client.delete(
            f"{self._prefix}desired:{key}",
            f"{self._prefix}clusters:{key}",
            f"{self._prefix}applying:{key}",
            f"{self._prefix}applied:{key}",
        )


def _results(raw: dict[Any, Any]) -> dict[str, ClusterResult]:
    return {_text(k): ClusterResult.from_status(json.loads(v)) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def cluster_key(key: ObjectKey, cluster: str) -> ObjectKey:
    """The lease and task key of one (object, cluster): ``[scope:]Kind/ns/name@cluster``.

    ``@`` can't appear in a Kubernetes name, so this never names another object.
    """
    return ObjectKey(key.kind, key.namespace, f"{key.name}@{cluster}", key.scope)


def split_cluster_key(key: ObjectKey) -> tuple[ObjectKey, str]:
    """The object key and cluster name of a ``cluster_key``."""
    name, sep, cluster = key.name.partition("@")
    if not sep or not cluster:
        raise ValueError(f"{key}: expected Kind/namespace/name@cluster")
    return ObjectKey(key.kind, key.namespace, name, key.scope), cluster
