"""Health of toolkit objects in sluice's store, for a Kustomization's ``wait`` and healthChecks.

Flux's kustomize-controller waits for every object it applied, HelmReleases and
Kustomizations included, by kstatus: Ready=True at the current generation,
failed once Stalled. Here those objects live in sluice's store, not on a
cluster; each stored document is judged by the same rules
(``shared.kube.health.assess``) and polled until all are healthy, one failed,
or the time is up. A Kustomization that installs a HelmRelease with ``wait:
true`` is Ready only once the release is, so the Kustomizations that depend on
it (CRDs the chart brings) wait for it, as they do with Flux.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from shared.api.conditions import READY, get_condition
from shared.api.kinds import lookup_kind
from shared.keys import ObjectKey
from shared.kube.health import HealthStatus, Status, assess
from shared.kube.inventory import ObjectRef
from shared.kube.wait import Unhealthy
from shared.plugins import reconciler_of
from shared.store import Store

__all__ = ["check_store_health", "wait_for_store"]

# The store is local (Redis): a short poll costs little and ends the wait sooner.
_POLL = 0.5


def _ref(key: ObjectKey) -> ObjectRef:
    info = lookup_kind(key.kind)
    return ObjectRef(
        group=info.group if info else "", kind=key.kind, namespace=key.namespace, name=key.name
    )


def check_store_health(store: Store, keys: Iterable[ObjectKey]) -> list[Unhealthy]:
    """One look at the stored objects: those not Current, with their status."""
    found = []
    for key in keys:
        doc = store.get(key)
        health = assess(doc)
        reconciled = reconciler_of(key.kind) is not None
        no_ready = doc is not None and get_condition(doc.get("status"), READY) is None
        if health.current and reconciled and no_ready:
            # A kind a service reconciles reports Ready: none yet means its first run is to come.
            health = HealthStatus(Status.IN_PROGRESS, "waiting for its first reconcile")
        if not health.current:
            found.append(Unhealthy(_ref(key), health))
    return found


def wait_for_store(
    store: Store,
    keys: Iterable[ObjectKey],
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Unhealthy]:
    """Wait until every stored object is Current; what is still not healthy at the end."""
    deadline = clock() + timeout
    pending = list(keys)
    while True:
        unhealthy = check_store_health(store, pending)
        if not unhealthy or clock() >= deadline:
            return unhealthy
        if any(u.health.status == Status.FAILED for u in unhealthy):
            return unhealthy
        still = {(u.ref.kind, u.ref.namespace, u.ref.name) for u in unhealthy}
        pending = [k for k in pending if (k.kind, k.namespace, k.name) in still]
        sleep(max(0.0, min(_POLL, deadline - clock())))
