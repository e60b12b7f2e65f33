"""The object half of a fan-out reconcile: guards, the service's steps, one status write, routing.

Every fan-out service (kustomize, helm) reconciles an object the same way
before its per-cluster runs (``shared.fleet.run``): the deleted object is
handed to the service's ``deleted`` step (which asks each cluster it reached to
release it); a suspended one only records what deleting it would do; one
stalled at its generation waits for a change. Otherwise the service's
``steps`` run in a ``try`` and decide the desired state and the clusters to
ask for a run; whatever happens, the status is written once in the
``finally`` (the failure, or the clusters' progress summed up), then the
failure, if any, is emitted and requeued by its kind (``shared.reconcile``)
and the clusters are asked for their runs.

What differs between services is a :class:`FanOutKind`: its model, what its
objects read (for the dependents index), its steps, its retry interval, the
word its desired state keeps for "deleting leaves everything" and its deletion
step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from shared.api import InvalidObjects, parse_as
from shared.api.meta import ApiObject
from shared.dependents import DependentsIndex
from shared.fleet.state import FleetState
from shared.fleet.status import summarize_into
from shared.keys import ObjectKey
from shared.reconcile import (
    ReconcileError,
    as_failure,
    conclude,
    parse_or_stall,
    record_failure,
    stalled_at_generation,
    update_status,
)
from shared.worker import WorkerContext, requested_at

__all__ = ["FanOutKind", "RequestApply", "Routed"]

T = TypeVar("T", bound=ApiObject)
# Ask for one run of (object, cluster).
RequestApply = Callable[[ObjectKey, str], None]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routed:
    """What the steps decided: the revision attempted, and the clusters to ask for a run."""

    revision: str
    clusters: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class FanOutKind(Generic[T]):
    """A service's part of the object half of its reconcile."""

    service: str  # keys its FleetState
    model: type[T]
    uses: Callable[[T, str], list[ObjectKey]]  # what an object of a scope reads
    steps: Callable[[WorkerContext, ObjectKey, T, dict[str, Any]], Routed]
    retry_interval: Callable[[T], float]
    # Desired.deletion while suspended: deleting the object then leaves what it made.
    keep_on_delete: str
    deleted: Callable[[WorkerContext, FleetState, ObjectKey, RequestApply], None]

    def state(self, ctx: WorkerContext) -> FleetState:
        """This service's fleet state."""
        return FleetState(ctx.client, service=self.service, cipher=ctx.store.cipher)

    def reconcile(self, ctx: WorkerContext, key: ObjectKey, request_apply: RequestApply) -> None:
        """Decide the object's desired state once and ask each target cluster for a run."""
        state = self.state(ctx)
        index = DependentsIndex(ctx.client)
        doc = ctx.store.get(key)
        if doc is None:
            index.drop(key)
            self.deleted(ctx, state, key, request_apply)
            return
        obj = parse_or_stall(ctx, key, doc, self.model)
        if obj is None:
            return
        index.set_uses(key, self.uses(obj, key.scope))
        if (doc.get("spec") or {}).get("suspend"):
            self._suspended(state, key)
            return
        if stalled_at_generation(doc):
            return
        token = requested_at(doc)
        routed: Routed | None = None
        failure: ReconcileError | None = None
        try:
            routed = self.steps(ctx, key, obj, doc)
        except Exception as err:
            failure = as_failure(err)
            if failure is not err:
                log.exception("reconcile of %s failed unexpectedly", key)
        finally:
            self._write_status(ctx, state, key, failure=failure, routed=routed, token=token)
        conclude(ctx, key, failure=failure, retry_interval=self.retry_interval(obj))
        if routed is None:
            return
        for cluster in routed.clusters:
            request_apply(key, cluster)

    def index_all(self, ctx: WorkerContext) -> None:
        """Record every object's edges once, at worker start.

        Each reconcile keeps its own edges current; this covers objects stored
        before the index existed, which would otherwise hear no event until their
        next interval.
        """
        index = DependentsIndex(ctx.client)
        kind = self.model.__name__
        for scope in ("", *ctx.store.scopes()):
            for doc in ctx.store.list(kind, scope=scope):
                try:
                    key = ObjectKey.of(doc, scope)
                    index.set_uses(key, self.uses(parse_as(doc, self.model), scope))
                except InvalidObjects:
                    continue  # its reconcile reports it

    def _write_status(
        self,
        ctx: WorkerContext,
        state: FleetState,
        key: ObjectKey,
        *,
        failure: ReconcileError | None,
        routed: Routed | None,
        token: str | None,
    ) -> None:
        """The one status write of a reconcile: its failure, or the clusters' progress."""

        def change(doc: dict[str, Any], status: dict[str, Any]) -> None:
            if token is not None:
                status["lastHandledReconcileAt"] = token
            if failure is not None:
                generation = int(doc["metadata"].get("generation", 1))
                record_failure(status, failure, generation=generation)
                if failure.revision:
                    status["lastAttemptedRevision"] = failure.revision
                return
            if routed is not None:
                status["lastAttemptedRevision"] = routed.revision
            summarize_into(doc, status, state=state, key=key)

        update_status(ctx.store, key, change)

    def _suspended(self, state: FleetState, key: ObjectKey) -> None:
        """Record that deleting the object now leaves what it made, as Flux's finalizers do."""
        desired = state.desired(key)
        if desired is not None and desired.deletion != self.keep_on_delete:
            state.set_desired(key, replace(desired, deletion=self.keep_on_delete))
