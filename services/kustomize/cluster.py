"""Kustomize's act step on one cluster: apply the build, prune what left it, check health.

The per-cluster run around it (desired build, connect, record, summarize, emit)
is ``shared.fleet.run``; this module is what is Kustomization-specific. With no
recorded inventory (a first apply, Redis data lost) or one cut short (the last
apply died before recording it), the owned objects are found by their owner
labels (``adopt``), so what left Git meanwhile is still pruned. A cluster that
is no longer a target (or a deleted Kustomization) is emptied when prune is on.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from shared.api import Kustomization, parse_as
from shared.api.conditions import HEALTH_CHECK_FAILED, PRUNE_FAILED, RECONCILIATION_FAILED
from shared.fleet.run import Acted, ClusterFailure, ClusterRun, FanOut, FleetService
from shared.fleet.state import Desired
from shared.kube.adopt import adopt
from shared.kube.apply import ApplyError, ApplyOptions, apply
from shared.kube.errors import KubeError
from shared.kube.inventory import ChangeSet, Inventory, ObjectRef, stale_objects
from shared.kube.owner import Owner
from shared.kube.prune import prune
from shared.kube.wait import describe, wait_for
from shared.metrics import OBJECTS_APPLIED, count_each
from shared.worker import WorkerContext

__all__ = ["KUSTOMIZE", "apply_options"]


def apply_options(ks: Kustomization, *, timeout: float | None = None) -> ApplyOptions:
    """How a Kustomization's objects are applied (and previewed by ``sluice diff``).

    ``timeout`` bounds the waits below spec.timeout: the time the task has left.
    """
    return ApplyOptions(
        force=ks.spec.force,
        default_namespace=ks.spec.target_namespace or ks.namespace,
        wait_timeout=ks.spec.timeout_seconds if timeout is None else timeout,
    )


def _count_objects(ctx: WorkerContext, changes: ChangeSet) -> None:
    actions = Counter(str(change.action) for change in changes)
    count_each(ctx.client, OBJECTS_APPLIED, [({"action": a}, n) for a, n in actions.items()])


def _health_targets(ks: Kustomization, objects: list[dict[str, Any]]) -> list[Any]:
    if ks.spec.wait:
        return list(objects)
    return [
        ObjectRef(
            group=(ref.api_version or "").rpartition("/")[0],
            kind=ref.kind,
            namespace=ref.namespace or ks.namespace,
            name=ref.name,
        )
        for ref in ks.spec.health_checks
    ]


def _adopted(run: ClusterRun, owner: Owner) -> Inventory:
    """The recorded inventory plus what the cluster's owner labels show."""
    try:
        found = adopt(run.client, owner, run.objects)
    except KubeError as err:
        raise ClusterFailure(RECONCILIATION_FAILED, str(err), run.inventory) from err
    return Inventory.from_refs([*run.inventory, *found])


def act(run: ClusterRun) -> Acted:
    """Apply, prune and wait on one cluster: the new inventory and changes, or ClusterFailure."""
    assert run.doc is not None
    ks = parse_as(run.doc, Kustomization)
    owner = Owner.kustomization(ks.name, ks.namespace)
    ctx, client, objects = run.ctx, run.client, run.objects
    old = run.inventory
    if run.previous is None or not run.previous.inventory or run.interrupted:
        old = _adopted(run, owner)
    try:
        timeout = run.time_left(ks.spec.timeout_seconds)
        changes = apply(client, objects, owner=owner, options=apply_options(ks, timeout=timeout))
    except ApplyError as err:
        _count_objects(ctx, err.changes)
        kept = Inventory.from_refs([*old, *err.changes.inventory()])
        raise ClusterFailure(RECONCILIATION_FAILED, str(err), kept) from err
    except KubeError as err:
        raise ClusterFailure(RECONCILIATION_FAILED, str(err), old) from err
    _count_objects(ctx, changes)
    new = changes.inventory()
    summary = changes.summary()
    if ks.spec.prune:
        try:
            pruned = prune(client, stale_objects(old, new), owner=owner)
        except KubeError as err:
            raise ClusterFailure(PRUNE_FAILED, str(err), Inventory.from_refs([*new, *old])) from err
        _count_objects(ctx, pruned.changes())
        if not pruned.ok:
            kept = Inventory.from_refs([*new, *pruned.survivors])
            raise ClusterFailure(PRUNE_FAILED, pruned.message(), kept)
        summary = "\n".join(filter(None, [summary, pruned.changes().summary()]))
    checks = _health_targets(ks, objects)
    if not checks:
        return Acted(new, summary)
    started = time.monotonic()
    try:
        unhealthy = wait_for(client, checks, timeout=run.time_left(ks.spec.timeout_seconds))
    except KubeError as err:
        raise ClusterFailure(HEALTH_CHECK_FAILED, str(err), new) from err
    if unhealthy:
        raise ClusterFailure(HEALTH_CHECK_FAILED, describe(unhealthy), new)
    return Acted(new, summary, health=f"Health check passed in {time.monotonic() - started:.0f}s")


def release(run: ClusterRun) -> Acted:
    """Prune everything this Kustomization applied to a cluster it no longer targets."""
    owner = Owner.kustomization(run.key.name, run.key.namespace)
    result = prune(run.client, tuple(run.inventory), owner=owner)
    _count_objects(run.ctx, result.changes())
    if not result.ok:
        raise ClusterFailure(PRUNE_FAILED, result.message(), run.inventory)
    return Acted(Inventory(), result.changes().summary())


def _releases(doc: dict[str, Any] | None, desired: Desired | None) -> bool:
    # A deleted Kustomization is garbage-collected as it was last built (MirrorPrune).
    return bool(doc["spec"].get("prune")) if doc else bool(desired and desired.prune)


def _read(doc: dict[str, Any]) -> FanOut:
    ks = parse_as(doc, Kustomization)
    return FanOut(ks.spec, ks.spec.suspend, ks.spec.retry_interval_seconds)


KUSTOMIZE = FleetService(
    name="kustomize",
    read=_read,
    act=act,
    release=release,
    releases=_releases,
    applied_metadata={"kustomize.toolkit.fluxcd.io/commit_status": "update"},
)
