"""One run of one object on one cluster: desired → connect → act → record → summarize → emit.

A fan-out service reconciles an object once (build, route) and then asks for one
run per target cluster; those runs are alike for every service but for the act
step in the middle, which the service supplies as a ``FleetService``:

- ``act`` brings one cluster to the desired build (kustomize: apply, prune, health);
- ``release`` empties a cluster that is no longer a target, or whose object was
  deleted (kustomize: prune what it applied there), when ``releases`` says so.

The skeleton re-reads the object and its desired state (so a late or repeated run
acts on the newest build), connects, records the cluster's result, sums all the
results into the object's status, counts it and emits ``applied`` or
``reconcile-failed``. An act step fails by raising ``ClusterFailure`` with a Flux
reason and the inventory to keep; a connection that cannot be made fails the same way,
and so does any other exception (reason ReconciliationFailed), the task's soft time
limit included: a run always ends with its cluster's result recorded.

When the apply passed (even if a health check or prune after it failed), the run
records so and commits the build's toolkit objects to the store if every target
has now applied it (``shared.fleet.commit``); a store that refuses them (another
owner holds one) fails this cluster's run, with the owner named.

A failed cluster retries alone, after an exponential backoff capped at the
object's retryInterval (``retry``): the object is not requeued, so its healthy
clusters are not applied again at each retry. A failed release (an uninstall or
prune of a deleted object, or of a cluster no longer targeted) is retried alone
too, with the same backoff capped at 15 minutes. The act step gets the time left
before the task's soft time limit (``ClusterRun.time_left``) to bound its waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from shared.api.conditions import (
    FALSE,
    HEALTH_CHECK_FAILED,
    RECONCILIATION_FAILED,
    RECONCILIATION_SUCCEEDED,
    TRUE,
    format_time,
)
from shared.api.fleet import FanOutSpec
from shared.backoff import failure_delay, reset_failures
from shared.celeryapp import task_limits
from shared.fleet.commit import CommitExpired, commit_when_applied
from shared.fleet.connect import TargetAccess, clusters_for, target_access
from shared.fleet.state import Desired, FleetState, cluster_key
from shared.fleet.status import write_summary
from shared.fleet.summary import ClusterResult
from shared.fleet.targets import Target, cluster_target, select_targets
from shared.keys import ObjectKey
from shared.kube.client import KubeClient
from shared.kube.errors import KubeError
from shared.kube.inventory import Inventory
from shared.metrics import APPLIES, FAILURE, SUCCESS, count
from shared.store import StoreError
from shared.worker import WorkerContext

__all__ = [
    "Acted",
    "ClusterFailure",
    "ClusterRun",
    "FanOut",
    "FleetService",
    "Retry",
    "run_on_cluster",
    "task_deadline",
]

# Ask for one more run of (object, cluster) in so many seconds.
Retry = Callable[[ObjectKey, str, float], None]
# Kept back from the soft time limit to record the result after a bounded wait.
_RECORD_MARGIN = 0.1

log = logging.getLogger(__name__)


class ClusterFailure(Exception):
    """One cluster's run failed with a Flux ``reason``; ``inventory`` is what to record.

    ``applied``: the build was applied before the failure (a health check or prune).
    ``extra`` and ``conditions``: the service's own status of this cluster (``Acted``).
    ``stalled``: no retry can help until the object changes, so none is scheduled.
    ``announced``: the service emitted this failure's event itself; the run adds none.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        inventory: Inventory | None = None,
        *,
        applied: bool = False,
        extra: Mapping[str, Any] | None = None,
        conditions: tuple[Mapping[str, Any], ...] = (),
        stalled: bool = False,
        announced: bool = False,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.inventory = inventory
        self.applied = applied
        self.extra = dict(extra or {})
        self.conditions = conditions
        self.stalled = stalled
        self.announced = announced


@dataclass(frozen=True)
class FanOut:
    """What the skeleton needs of an object's spec."""

    spec: FanOutSpec
    suspended: bool
    retry_interval: float


@dataclass(frozen=True, kw_only=True)
class ClusterRun:
    """What an act step is given: the object, its desired build and a connected client."""

    ctx: WorkerContext
    key: ObjectKey
    cluster: str
    client: KubeClient
    inventory: Inventory  # recorded by the last run here
    access: TargetAccess | None = None  # the kubeconfig, for a tool that needs it (helm)
    doc: dict[str, Any] | None = None  # None: the object was deleted (release)
    desired: Desired | None = None
    objects: list[dict[str, Any]] = field(default_factory=list)
    previous: ClusterResult | None = None
    interrupted: bool = False  # the last run here died before recording its result
    deadline: float = float("inf")  # time.monotonic() by which the act step must be done
    # Record that the build was applied here (and store its toolkit objects once every
    # target did), before the act step's health checks: they may wait on those objects.
    commit: Callable[[Inventory], None] = field(default=lambda _inventory: None, repr=False)

    def time_left(self, wanted: float) -> float:
        """``wanted`` seconds (e.g. spec.timeout), bounded by the time the task has left."""
        return max(min(wanted, self.deadline - time.monotonic()), 1.0)


@dataclass(frozen=True)
class Acted:
    """What an act step did: the inventory now on the cluster and one line per change.

    A service with its own words for success sets ``reason`` and ``message`` (the
    cluster's Ready), ``extra`` and ``conditions`` (its own status of the cluster,
    ``ClusterResult``); ``announced``: it emitted its own events, so the run adds none.
    """

    inventory: Inventory
    summary: str = ""
    health: str = ""  # the passed health check's message; "" when none ran
    reason: str = ""
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    conditions: tuple[Mapping[str, Any], ...] = ()
    announced: bool = False


@dataclass(frozen=True)
class FleetService:
    """A service's part of a per-cluster run."""

    name: str  # keys its FleetState
    read: Callable[[dict[str, Any]], FanOut]
    act: Callable[[ClusterRun], Acted]
    release: Callable[[ClusterRun], Acted]
    # Whether a cluster left behind (or a deleted object's) is to be released.
    releases: Callable[[dict[str, Any] | None, Desired | None], bool]
    applied_metadata: Mapping[str, str] = field(default_factory=dict)
    # Whether a cluster is released only when its last run recorded an inventory
    # (kustomize: nothing to prune otherwise); helm's release is the Helm release.
    needs_inventory: bool = True


def _now() -> str:
    return format_time(datetime.now(UTC))


def _connect(
    ctx: WorkerContext, key: ObjectKey, target: Target, service_account: str | None
) -> TargetAccess:
    try:
        return target_access(
            ctx.store,
            key.namespace,
            target,
            service_account=service_account,
            settings=ctx.settings,
            scope=key.scope,
        )
    except KubeError as err:
        raise ClusterFailure(RECONCILIATION_FAILED, str(err)) from err


def _client(access: TargetAccess) -> KubeClient:
    try:
        return access.client()
    except KubeError as err:
        raise ClusterFailure(RECONCILIATION_FAILED, str(err)) from err


def _selected(ctx: WorkerContext, key: ObjectKey, spec: FanOutSpec, cluster: str) -> Target:
    clusters, default = clusters_for(ctx.store, key)
    targets = {t.name: t for t in select_targets(spec, clusters, default=default).targets}
    target = targets.get(cluster)
    if target is None:
        raise ClusterFailure(RECONCILIATION_FAILED, f"Cluster '{cluster}' not found")
    return target


def _failed(
    ctx: WorkerContext, key: ObjectKey, cluster: str, failure: ClusterFailure, revision: str = ""
) -> None:
    count(ctx.client, APPLIES, {"result": FAILURE})
    ctx.emit(
        "reconcile-failed",
        key,
        reason=failure.reason,
        message=failure.message,
        revision=revision,
        severity="error",
        cluster=cluster,
    )


def _release(
    ctx: WorkerContext,
    service: FleetService,
    state: FleetState,
    key: ObjectKey,
    cluster: str,
    *,
    on_applied: Callable[[ObjectKey], None],
) -> None:
    """Empty a cluster that is no longer a target (or whose object is gone), then forget it."""
    doc = ctx.store.get(key)
    desired = state.desired(key)
    previous = state.results(key).get(cluster)
    known = {c.name: c for c in clusters_for(ctx.store, key)[0]}
    if (
        previous is not None
        and (previous.inventory or not service.needs_inventory)
        and cluster in known
        and service.releases(doc, desired)
    ):
        account = (doc or {}).get("spec", {}).get("serviceAccountName")
        access = _connect(ctx, key, cluster_target(known[cluster]), account)
        old = Inventory.from_status({"entries": list(previous.inventory)})
        run = ClusterRun(
            ctx=ctx,
            key=key,
            cluster=cluster,
            client=_client(access),
            inventory=old,
            access=access,
            doc=doc,
            desired=desired,
            previous=previous,
        )
        acted = _act(service.release, run)
        count(ctx.client, APPLIES, {"result": SUCCESS})
        if not acted.announced:
            ctx.emit(
                "applied",
                key,
                reason="Pruned",
                cluster=cluster,
                message=acted.summary or "nothing to prune",
            )
        on_applied(key)
    state.drop_result(key, cluster)
    if doc is None and not state.results(key):
        state.forget(key)
    else:
        write_summary(ctx.store, state, key)


def _record(ctx: WorkerContext, state: FleetState, key: ObjectKey, result: ClusterResult) -> None:
    state.set_result(key, result)
    write_summary(ctx.store, state, key)


def task_deadline(ctx: WorkerContext, started: float | None = None) -> float:
    """The ``time.monotonic()`` by which a task that began at ``started`` (now) must be done.

    Kept back from the task's soft time limit by a margin, to record the result.
    """
    soft, _ = task_limits(ctx.settings)
    began = time.monotonic() if started is None else started
    return began + soft * (1 - _RECORD_MARGIN)


def _act(step: Callable[[ClusterRun], Acted], run: ClusterRun) -> Acted:
    """A service's step; any exception it lets out becomes a ClusterFailure."""
    try:
        return step(run)
    except ClusterFailure:
        raise
    except SoftTimeLimitExceeded as err:
        soft, _ = task_limits(run.ctx.settings)
        message = f"the task's time limit ({soft:g}s) ran out before the cluster was done"
        raise ClusterFailure(RECONCILIATION_FAILED, message) from err
    except Exception as err:
        log.exception("run of %s on cluster %s failed unexpectedly", run.key, run.cluster)
        raise ClusterFailure(RECONCILIATION_FAILED, f"{type(err).__name__}: {err}") from err


def _commit(run: ClusterRun, state: FleetState, inventory: Inventory) -> None:
    """Record that the run's cluster applied its build; store the toolkit objects if all did."""
    assert run.desired is not None
    state.mark_applied(run.key, run.cluster, run.desired.token)  # before looking at the others
    try:
        commit_when_applied(run.ctx.store, state, run.key, run.desired)
    except (StoreError, CommitExpired) as err:
        message = f"toolkit objects of revision {run.desired.revision} not stored: {err}"
        raise ClusterFailure(RECONCILIATION_FAILED, message, inventory) from err


def _handled(desired: Desired, previous: ClusterResult | None) -> str:
    """The newest request this cluster's runs handled: a run of a desired state published
    without one (a reconcile on a store change) keeps the last, as the request stays handled."""
    return desired.handled or (previous.handled if previous else "")


def run_on_cluster(
    ctx: WorkerContext,
    key: ObjectKey,
    *,
    cluster: str,
    service: FleetService,
    retry: Retry,
    deadline: float | None = None,
    on_applied: Callable[[ObjectKey], None] | None = None,
) -> None:
    """Bring one cluster to the object's desired build, or release it; record the result.

    ``deadline``: when the task running it must be done (``task_deadline``), for a
    run that shares its task with other work; by default the whole task is its own.
    ``on_applied(key)`` runs right after each ``applied`` event the run emits.
    """
    applied = on_applied or (lambda _key: None)
    deadline = task_deadline(ctx) if deadline is None else deadline
    state = FleetState(ctx.client, service=service.name, cipher=ctx.store.cipher)
    desired, results = state.desired_and_results(key)
    doc = ctx.store.get(key)
    if doc is None or desired is None or cluster not in desired.targets:
        scope = f"{service.name}-release"
        try:
            _release(ctx, service, state, key, cluster, on_applied=applied)
        except ClusterFailure as failure:
            _failed(ctx, key, cluster, failure)
            # Retried alone, with backoff: once the object is deleted nothing else
            # would ask again, and its release on this cluster would stay for good.
            retry(key, cluster, failure_delay(ctx.client, cluster_key(key, cluster), scope=scope))
            return
        reset_failures(ctx.client, cluster_key(key, cluster), scope=scope)
        return
    fan_out = service.read(doc)
    if fan_out.suspended:
        return
    previous = results.get(cluster)
    old = Inventory.from_status({"entries": list(previous.inventory)} if previous else None)
    objects = state.build(desired.build_key)
    try:
        if objects is None:
            raise ClusterFailure(RECONCILIATION_FAILED, "build expired; rebuilding", old)
        target = _selected(ctx, key, fan_out.spec, cluster)
        access = _connect(ctx, key, target, fan_out.spec.service_account_name)
        client = _client(access)
        interrupted = state.start_apply(key, cluster, desired.revision)
        committed: list[Inventory] = []

        def commit(inventory: Inventory) -> None:
            if not committed:
                _commit(run, state, inventory)
                committed.append(inventory)

        run = ClusterRun(
            ctx=ctx,
            key=key,
            cluster=cluster,
            client=client,
            inventory=old,
            access=access,
            doc=doc,
            desired=desired,
            objects=objects,
            previous=previous,
            interrupted=interrupted,
            deadline=deadline,
            commit=commit,
        )
        try:
            acted = _act(service.act, run)
        except ClusterFailure as failure:
            if failure.applied:
                commit(failure.inventory or old)
            raise
        commit(acted.inventory)
    except ClusterFailure as failure:
        health_failed = failure.reason == HEALTH_CHECK_FAILED
        # A failure that says nothing of the service's own status (the cluster was
        # unreachable, an unexpected error) keeps what the last run recorded:
        # helm's release history and counters must outlive an outage.
        kept = previous if previous is not None and not failure.extra else None
        result = ClusterResult(
            cluster,
            FALSE,
            failure.reason,
            failure.message,
            last_attempted_revision=desired.revision,
            last_applied_revision=previous.last_applied_revision if previous else "",
            inventory=tuple((failure.inventory or old).to_status()["entries"]),
            time=_now(),
            healthy=FALSE if health_failed else "",
            health_message=failure.message if health_failed else "",
            extra=kept.extra if kept else failure.extra,
            conditions=kept.conditions if kept else failure.conditions,
            handled=_handled(desired, previous),
        )
        _record(ctx, state, key, result)
        if failure.announced:
            count(ctx.client, APPLIES, {"result": FAILURE})
        else:
            _failed(ctx, key, cluster, failure, desired.revision)
        if failure.stalled:
            return
        # This cluster alone: requeueing the object would re-apply every cluster.
        scope = f"{service.name}-cluster"
        delay = failure_delay(
            ctx.client, cluster_key(key, cluster), cap=fan_out.retry_interval, scope=scope
        )
        retry(key, cluster, delay)
        return
    reset_failures(ctx.client, cluster_key(key, cluster), scope=f"{service.name}-cluster")
    message = acted.message or f"Applied revision: {desired.revision}"
    result = ClusterResult(
        cluster,
        TRUE,
        acted.reason or RECONCILIATION_SUCCEEDED,
        message,
        last_attempted_revision=desired.revision,
        last_applied_revision=desired.revision,
        inventory=tuple(acted.inventory.to_status()["entries"]),
        time=_now(),
        healthy=TRUE if acted.health else "",
        health_message=acted.health,
        extra=acted.extra,
        conditions=acted.conditions,
        handled=_handled(desired, previous),
    )
    _record(ctx, state, key, result)
    count(ctx.client, APPLIES, {"result": SUCCESS})
    if acted.announced:
        applied(key)
        return
    first = previous is None or previous.ready != TRUE
    new_revision = previous is None or previous.last_applied_revision != desired.revision
    if acted.summary or first or new_revision:
        # Changes at an unchanged revision are drift that this run corrected.
        summary = acted.summary
        what = summary if new_revision or not summary else f"drift corrected:\n{summary}"
        ctx.emit(
            "applied",
            key,
            reason=RECONCILIATION_SUCCEEDED,
            revision=desired.revision,
            message=what or message,
            cluster=cluster,
            metadata=dict(service.applied_metadata),
        )
        applied(key)
