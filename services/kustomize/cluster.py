"""Kustomize's act step on one cluster: apply the build, prune what left it, check health.

The per-cluster run around it (desired build, connect, record, summarize, emit)
is ``shared.fleet.run``; this module is what is Kustomization-specific. With no
recorded inventory (a first apply, Redis data lost) or one cut short (the last
apply died before recording it), the owned objects are found by their owner
labels (``adopt``), so what left Git meanwhile is still pruned. A cluster that
is no longer a target is emptied when prune is on; a deleted Kustomization's
objects are deleted or left as its ``deletionPolicy`` says (``deletion.py``).
A failure after the apply (prune, health) says ``applied``: the build's toolkit
objects may then be stored (``shared.fleet.commit``), as Flux has applied them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from services.kustomize.deletion import OnDeletion, deletion_of
from shared.api import Kustomization, is_store_object, parse_as
from shared.api.conditions import (
    HEALTH_CHECK_FAILED,
    INVALID_CEL_EXPRESSION,
    PRUNE_FAILED,
    RECONCILIATION_FAILED,
)
from shared.fleet.run import Acted, ClusterFailure, ClusterRun, FanOut, FleetService
from shared.fleet.state import Desired, FleetState
from shared.keys import ObjectKey
from shared.kube.adopt import adopt
from shared.kube.apply import ApplyError, ApplyOptions, apply
from shared.kube.customhealth import CustomHealth, InvalidHealthChecks
from shared.kube.driftignore import compile_rules
from shared.kube.errors import KubeError
from shared.kube.inventory import ChangeSet, Inventory, ObjectRef, stale_objects
from shared.kube.owner import Owner
from shared.kube.parallel import run_all
from shared.kube.prune import prune
from shared.kube.wait import describe, wait_for, wait_gone
from shared.metrics import OBJECTS_APPLIED, count_each
from shared.storehealth import wait_for_store
from shared.worker import WorkerContext

__all__ = ["KUSTOMIZE", "apply_options"]

KUSTOMIZE_SERVICE = "kustomize"


def apply_options(ks: Kustomization, *, timeout: float | None = None) -> ApplyOptions:
    """How a Kustomization's objects are applied (and previewed by ``sluice diff``).

    ``timeout`` bounds the waits below spec.timeout: the time the task has left.
    """
    return ApplyOptions(
        force=ks.spec.force,
        default_namespace=ks.spec.target_namespace or ks.namespace,
        wait_timeout=ks.spec.timeout_seconds if timeout is None else timeout,
        drift_ignore=compile_rules(ks.spec.ignore),
    )


def _count_objects(ctx: WorkerContext, changes: ChangeSet) -> None:
    actions = Counter(str(change.action) for change in changes)
    count_each(ctx.client, OBJECTS_APPLIED, [({"action": a}, n) for a, n in actions.items()])


def _health_targets(ks: Kustomization, objects: list[dict[str, Any]]) -> list[Any]:
    if ks.spec.wait:
        return list(objects)
    # The version is needed too: the check reads the object at apiVersion
    # group/version, and "apps/" names no API.
    return [
        ObjectRef(
            group=group,
            kind=ref.kind,
            namespace=ref.namespace or ks.namespace,
            name=ref.name,
            version=version,
        )
        for ref in ks.spec.health_checks
        if not is_store_object(ref.api_version or "", ref.kind)
        for group, _, version in [(ref.api_version or "").rpartition("/")]
    ]


def _store_health_targets(run: ClusterRun, ks: Kustomization) -> list[ObjectKey]:
    """The toolkit objects (HelmReleases, Kustomizations, ...) to wait for, in sluice's store."""
    scope = run.key.scope
    if ks.spec.wait:
        assert run.desired is not None
        state = FleetState(run.ctx.client, service=KUSTOMIZE_SERVICE, cipher=run.ctx.store.cipher)
        stored = state.build(run.desired.store_key) if run.desired.store_key else []
        return [ObjectKey.of(obj, scope) for obj in stored or []]
    return [
        ObjectKey(ref.kind, ref.namespace or ks.namespace, ref.name, scope)
        for ref in ks.spec.health_checks
        if is_store_object(ref.api_version or "", ref.kind)
    ]


def _adopted(run: ClusterRun, owner: Owner) -> list[ObjectRef]:
    """What the cluster's owner labels show this owner has there."""
    try:
        return list(adopt(run.client, owner, run.objects))
    except KubeError as err:
        raise ClusterFailure(RECONCILIATION_FAILED, str(err), run.inventory) from err


def _apply(run: ClusterRun, ks: Kustomization, owner: Owner) -> ChangeSet | ApplyError | KubeError:
    """Apply the build; a refusal or an unreachable cluster is returned, not raised."""
    try:
        timeout = run.time_left(ks.spec.timeout_seconds)
        options = apply_options(ks, timeout=timeout)
        return apply(run.client, run.objects, owner=owner, options=options)
    except (ApplyError, KubeError) as err:
        return err


def act(run: ClusterRun) -> Acted:
    """Apply, prune and wait on one cluster: the new inventory and changes, or ClusterFailure."""
    assert run.doc is not None
    ks = parse_as(run.doc, Kustomization)
    owner = Owner.kustomization(ks.name, ks.namespace)
    ctx, client, objects = run.ctx, run.client, run.objects
    old = run.inventory
    outcome: ChangeSet | ApplyError | KubeError
    if run.previous is None or not run.previous.inventory or run.interrupted:
        # Adoption is needed only by prune, after the apply: both go out together.
        both: list[Callable[[], Any]] = [
            partial(_adopted, run, owner),
            partial(_apply, run, ks, owner),
        ]
        found, outcome = run_all(both)
        old = Inventory.from_refs([*old, *found])
    else:
        outcome = _apply(run, ks, owner)
    if isinstance(outcome, ApplyError):
        _count_objects(ctx, outcome.changes)
        kept = Inventory.from_refs([*old, *outcome.changes.inventory()])
        raise ClusterFailure(RECONCILIATION_FAILED, str(outcome), kept) from outcome
    if isinstance(outcome, KubeError):
        raise ClusterFailure(RECONCILIATION_FAILED, str(outcome), old) from outcome
    changes = outcome
    _count_objects(ctx, changes)
    new = changes.inventory()
    summary = changes.summary()
    if ks.spec.prune:
        try:
            pruned = prune(client, stale_objects(old, new), owner=owner)
        except KubeError as err:
            kept = Inventory.from_refs([*new, *old])
            raise ClusterFailure(PRUNE_FAILED, str(err), kept, applied=True) from err
        _count_objects(ctx, pruned.changes())
        if not pruned.ok:
            kept = Inventory.from_refs([*new, *pruned.survivors])
            raise ClusterFailure(PRUNE_FAILED, pruned.message(), kept, applied=True)
        summary = "\n".join(filter(None, [summary, pruned.changes().summary()]))
    checks = _health_targets(ks, objects)
    toolkit = _store_health_targets(run, ks)
    if not checks and not toolkit:
        return Acted(new, summary)
    # Toolkit objects are stored once applied (every target): only then can they turn Ready.
    run.commit(new)
    try:
        custom = CustomHealth.compile(ks.spec.health_check_exprs)
    except InvalidHealthChecks as err:
        raise ClusterFailure(INVALID_CEL_EXPRESSION, str(err), new, applied=True) from err
    started = time.monotonic()
    try:
        timeout = run.time_left(ks.spec.timeout_seconds)
        unhealthy = wait_for(client, checks, timeout=timeout, custom=custom) if checks else []
        if not unhealthy and toolkit:
            left = run.time_left(ks.spec.timeout_seconds - (time.monotonic() - started))
            unhealthy = wait_for_store(ctx.store, toolkit, timeout=left)
    except KubeError as err:
        raise ClusterFailure(HEALTH_CHECK_FAILED, str(err), new, applied=True) from err
    if unhealthy:
        raise ClusterFailure(HEALTH_CHECK_FAILED, describe(unhealthy), new, applied=True)
    return Acted(new, summary, health=f"Health check passed in {time.monotonic() - started:.0f}s")


def release(run: ClusterRun) -> Acted:
    """Prune what this Kustomization applied to a cluster it no longer targets, or on deletion.

    On deletion with ``WaitForTermination`` the objects are also waited for, at most
    ``spec.timeout``; a timeout is reported and the deletion goes on, as in Flux.
    """
    owner = Owner.kustomization(run.key.name, run.key.namespace)
    result = prune(run.client, tuple(run.inventory), owner=owner)
    _count_objects(run.ctx, result.changes())
    if not result.ok:
        raise ClusterFailure(PRUNE_FAILED, result.message(), run.inventory)
    waits = run.doc is None and deletion_of(run.desired) == OnDeletion.DELETE_AND_WAIT
    if waits and run.desired is not None:
        left = wait_gone(run.client, result.deleted, timeout=run.time_left(run.desired.timeout))
        if left:
            run.ctx.emit(
                "reconcile-failed",
                run.key,
                reason=PRUNE_FAILED,
                message="failed to wait for resources termination: "
                + ", ".join(str(ref) for ref in left),
                severity="error",
                cluster=run.cluster,
            )
    return Acted(Inventory(), result.changes().summary())


def _releases(doc: dict[str, Any] | None, desired: Desired | None) -> bool:
    # A cluster left behind is pruned as spec.prune says; a deleted Kustomization's
    # objects as its deletionPolicy said when it was last reconciled.
    if doc is not None:
        return bool(doc["spec"].get("prune"))
    return desired is not None and deletion_of(desired).deletes


def _read(doc: dict[str, Any]) -> FanOut:
    ks = parse_as(doc, Kustomization)
    return FanOut(ks.spec, ks.spec.suspend, ks.spec.retry_interval_seconds)


KUSTOMIZE = FleetService(
    name=KUSTOMIZE_SERVICE,
    read=_read,
    act=act,
    release=release,
    releases=_releases,
    applied_metadata={"kustomize.toolkit.fluxcd.io/commit_status": "update"},
)
