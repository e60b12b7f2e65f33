"""Apply a Kustomization's desired build to one cluster: dry run, apply, prune, health, result.

One task per (Kustomization, cluster), run in parallel and leased apart, so a
slow or broken cluster holds no other back. Each task re-reads the desired
build, so a late or repeated run applies the newest one. A cluster that is no
longer a target (or a deleted Kustomization) is emptied when prune is on. With no
recorded inventory (a first apply, Redis data lost) or one cut short (the last
apply died before recording it), the owned objects are found by their owner
labels (``adopt.py``), so what left Git meanwhile is still pruned.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from services.kustomize.connect import connect_target
from services.kustomize.state import KustomizeState
from services.kustomize.status import write_summary
from services.kustomize.summary import ClusterResult
from services.kustomize.targets import Target, cluster_target, select_targets
from shared.api import Cluster, Kustomization, parse_as
from shared.api.conditions import (
    FALSE,
    HEALTH_CHECK_FAILED,
    PRUNE_FAILED,
    RECONCILIATION_FAILED,
    RECONCILIATION_SUCCEEDED,
    TRUE,
    format_time,
)
from shared.keys import ObjectKey
from shared.kube.adopt import adopt
from shared.kube.apply import ApplyError, ApplyOptions, apply
from shared.kube.client import KubeClient
from shared.kube.errors import KubeError
from shared.kube.inventory import ChangeSet, Inventory, ObjectRef, stale_objects
from shared.kube.owner import Owner
from shared.kube.prune import prune
from shared.kube.wait import describe, wait_for
from shared.metrics import APPLIES, FAILURE, OBJECTS_APPLIED, SUCCESS, count, count_each
from shared.worker import WorkerContext

__all__ = ["apply_options", "apply_to_cluster"]


class _ClusterFailure(Exception):
    def __init__(self, reason: str, message: str, inventory: Inventory | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.inventory = inventory


def _now() -> str:
    return format_time(datetime.now(UTC))


def _client(ctx: WorkerContext, ks: Kustomization, cluster: str) -> KubeClient:
    clusters = [parse_as(c, Cluster) for c in ctx.store.list("Cluster", ks.namespace)]
    targets = {t.name: t for t in select_targets(ks, clusters).targets}
    target = targets.get(cluster)
    if target is None:
        raise _ClusterFailure(RECONCILIATION_FAILED, f"Cluster '{cluster}' not found")
    return _client_for(ctx, ks.namespace, target, ks.spec.service_account_name)


def _client_for(
    ctx: WorkerContext, namespace: str, target: Target, service_account: str | None
) -> KubeClient:
    try:
        return connect_target(
            ctx.store,
            namespace,
            target,
            service_account=service_account,
            timeout=ctx.settings.cluster_timeout,
            allow_http=ctx.settings.allow_http_clusters,
        )
    except KubeError as err:
        raise _ClusterFailure(RECONCILIATION_FAILED, str(err)) from err


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


def apply_options(ks: Kustomization) -> ApplyOptions:
    """How a Kustomization's objects are applied (and previewed by ``sluice diff``)."""
    return ApplyOptions(
        force=ks.spec.force,
        default_namespace=ks.spec.target_namespace or ks.namespace,
        wait_timeout=ks.spec.timeout_seconds,
    )


def _apply(
    ctx: WorkerContext,
    ks: Kustomization,
    client: KubeClient,
    objects: list[dict[str, Any]],
    old: Inventory,
) -> tuple[Inventory, str]:
    """Apply, prune and wait; (new inventory, change summary) or _ClusterFailure."""
    owner = Owner.kustomization(ks.name, ks.namespace)
    try:
        changes = apply(client, objects, owner=owner, options=apply_options(ks))
    except ApplyError as err:
        _count_objects(ctx, err.changes)
        kept = Inventory.from_refs([*old, *err.changes.inventory()])
        raise _ClusterFailure(RECONCILIATION_FAILED, str(err), kept) from err
    except KubeError as err:
        raise _ClusterFailure(RECONCILIATION_FAILED, str(err), old) from err
    _count_objects(ctx, changes)
    new = changes.inventory()
    summary = changes.summary()
    if ks.spec.prune:
        try:
            pruned = prune(client, stale_objects(old, new), owner=owner)
        except KubeError as err:
            raise _ClusterFailure(
                PRUNE_FAILED, str(err), Inventory.from_refs([*new, *old])
            ) from err
        _count_objects(ctx, pruned.changes())
        if not pruned.ok:
            kept = Inventory.from_refs([*new, *pruned.survivors])
            raise _ClusterFailure(PRUNE_FAILED, pruned.message(), kept)
        summary = "\n".join(filter(None, [summary, pruned.changes().summary()]))
    checks = _health_targets(ks, objects)
    if checks:
        try:
            unhealthy = wait_for(client, checks, timeout=ks.spec.timeout_seconds)
        except KubeError as err:
            raise _ClusterFailure(HEALTH_CHECK_FAILED, str(err), new) from err
        if unhealthy:
            raise _ClusterFailure(HEALTH_CHECK_FAILED, describe(unhealthy), new)
    return new, summary


def _adopted(
    client: KubeClient, ks: Kustomization, objects: list[dict[str, Any]], old: Inventory
) -> Inventory:
    """``old`` plus what the cluster's owner labels show: no inventory, or one cut short."""
    try:
        found = adopt(client, Owner.kustomization(ks.name, ks.namespace), objects)
    except KubeError as err:
        raise _ClusterFailure(RECONCILIATION_FAILED, str(err), old) from err
    return Inventory.from_refs([*old, *found])


def _cluster_target(ctx: WorkerContext, namespace: str, cluster: str) -> Target | None:
    """The kubeconfig of a Cluster by name, whether or not it is still selected."""
    doc = ctx.store.get(ObjectKey("Cluster", namespace, cluster))
    if doc is None:
        return None
    return cluster_target(parse_as(doc, Cluster))


def _empty_cluster(
    ctx: WorkerContext, state: KustomizeState, key: ObjectKey, cluster: str, *, prune_on: bool
) -> None:
    """Prune everything sluice applied to a cluster that is no longer a target."""
    previous = state.results(key).get(cluster)
    target = _cluster_target(ctx, key.namespace, cluster)
    if previous is not None and previous.inventory and prune_on and target is not None:
        doc = ctx.store.get(key)
        account = doc["spec"].get("serviceAccountName") if doc else None
        client = _client_for(ctx, key.namespace, target, account)
        try:
            old = Inventory.from_status({"entries": list(previous.inventory)})
            result = prune(client, tuple(old), owner=Owner.kustomization(key.name, key.namespace))
        finally:
            client.close()
        _count_objects(ctx, result.changes())
        if not result.ok:
            raise _ClusterFailure(PRUNE_FAILED, result.message(), old)
        count(ctx.client, APPLIES, {"result": SUCCESS})
        ctx.emit(
            "applied",
            key,
            reason="Pruned",
            cluster=cluster,
            message=result.changes().summary() or "nothing to prune",
        )
    state.drop_result(key, cluster)


def apply_to_cluster(ctx: WorkerContext, key: ObjectKey, cluster: str) -> None:
    """Bring one cluster to the Kustomization's desired build; record the result."""
    state = KustomizeState(ctx.client, ctx.store.cipher)
    desired = state.desired(key)
    doc = ctx.store.get(key)
    if doc is None or desired is None or cluster not in desired.targets:
        # A deleted Kustomization is garbage-collected as it was last built (MirrorPrune).
        prune_on = bool(doc["spec"].get("prune")) if doc else bool(desired and desired.prune)
        try:
            _empty_cluster(ctx, state, key, cluster, prune_on=prune_on)
        except _ClusterFailure as failure:
            count(ctx.client, APPLIES, {"result": FAILURE})
            ctx.emit(
                "reconcile-failed",
                key,
                reason=failure.reason,
                message=failure.message,
                severity="error",
                cluster=cluster,
            )
            raise
        if doc is None and not state.results(key):
            state.forget(key)
        else:
            write_summary(ctx.store, state, key)
        return
    ks = parse_as(doc, Kustomization)
    if ks.spec.suspend:
        return
    previous = state.results(key).get(cluster)
    old = Inventory.from_status({"entries": list(previous.inventory)} if previous else None)
    objects = state.build(desired.build_key)
    try:
        if objects is None:
            raise _ClusterFailure(RECONCILIATION_FAILED, "build expired; rebuilding", old)
        client = _client(ctx, ks, cluster)
        try:
            if previous is None or not previous.inventory or state.interrupted(key, cluster):
                old = _adopted(client, ks, objects, old)
            state.start_apply(key, cluster, desired.revision)
            inventory, summary = _apply(ctx, ks, client, objects, old)
        finally:
            client.close()
    except _ClusterFailure as failure:
        result = ClusterResult(
            cluster,
            FALSE,
            failure.reason,
            failure.message,
            last_attempted_revision=desired.revision,
            last_applied_revision=previous.last_applied_revision if previous else "",
            inventory=tuple((failure.inventory or old).to_status()["entries"]),
            time=_now(),
        )
        state.set_result(key, result)
        write_summary(ctx.store, state, key)
        count(ctx.client, APPLIES, {"result": FAILURE})
        ctx.emit(
            "reconcile-failed",
            key,
            reason=failure.reason,
            message=failure.message,
            revision=desired.revision,
            severity="error",
            cluster=cluster,
        )
        ctx.requeue_after(key, ks.spec.retry_interval_seconds)
        return
    message = f"Applied revision: {desired.revision}"
    result = ClusterResult(
        cluster,
        TRUE,
        RECONCILIATION_SUCCEEDED,
        message,
        last_attempted_revision=desired.revision,
        last_applied_revision=desired.revision,
        inventory=tuple(inventory.to_status()["entries"]),
        time=_now(),
    )
    state.set_result(key, result)
    write_summary(ctx.store, state, key)
    count(ctx.client, APPLIES, {"result": SUCCESS})
    first = previous is None or previous.ready != TRUE
    new_revision = previous is None or previous.last_applied_revision != desired.revision
    if summary or first or new_revision:
        # Changes at an unchanged revision are drift that this apply corrected.
        what = summary if new_revision or not summary else f"drift corrected:\n{summary}"
        ctx.emit(
            "applied",
            key,
            reason=RECONCILIATION_SUCCEEDED,
            revision=desired.revision,
            message=what or message,
            cluster=cluster,
            metadata={"kustomize.toolkit.fluxcd.io/commit_status": "update"},
        )
