"""Reconcile a HelmRelease: chart, dependencies, values once, then one release run per cluster.

Steps follow helm-controller's (guards, HelmChart, dependsOn, chart artifact,
values), except that the release itself is fanned out: this step records the
*plan* (chart artifact + composed values, ``releaseplan``) and asks for one
``helm.apply`` per target cluster, which the per-cluster runs
(``shared.fleet.run`` with the helm loop in ``release.py``) carry out in
parallel, each with its own Helm release, history and result.

The guards, the one status write and the routing are every fan-out
service's (``shared.fleet.reconcile``); this module is the steps.

Helm keeps a release's storage in the namespace ``helm`` is run for, which is
also where the chart's objects go: ``storageNamespace`` is therefore the release
namespace (``targetNamespace``, else the HelmRelease's), and a storageNamespace
set to another one is refused at apply (``shared.api.helmsupport``).
"""

from __future__ import annotations

import logging
from typing import Any

from services.helm.chart import (
    ChartArtifact,
    ChartError,
    chart_root,
    chart_source_key,
    helmchart_document,
    read_artifact,
    read_chart_metadata,
)
from services.helm.digest import common_metadata_digest, post_renderers_digest, values_digest
from services.helm.release import KEEP, SERVICE
from services.helm.releaseplan import ReleasePlan
from services.helm.values import ValuesReferenceError
from services.helm.valuesources import release_values
from shared.api import InvalidObjects
from shared.api.conditions import (
    ARTIFACT_FAILED,
    DEPENDENCY_NOT_READY,
    INVALID_CEL_EXPRESSION,
    RECONCILIATION_FAILED,
)
from shared.api.helmrelease import HelmRelease
from shared.artifacts import ArtifactError, fetch_artifact
from shared.cel import EvaluationError, Expression, InvalidExpression
from shared.dependson import compile_ready_expr, not_ready_reason
from shared.fleet.connect import clusters_for
from shared.fleet.reconcile import FanOutKind, RequestApply, Routed
from shared.fleet.state import Desired, FleetState
from shared.fleet.targets import TargetSelection, select_targets
from shared.keys import ObjectKey
from shared.reconcile import (
    Stalled,
    Transient,
    Waiting,
)
from shared.scopes import candidates, resolve
from shared.store import OwnedByAnother
from shared.tenancy import refuse_cross_namespace
from shared.worker import WorkerContext, requested_at

__all__ = ["HELM_RELEASE", "index_all", "reconcile_helmrelease", "uses"]

VALUES_FAILED = "InitFailed"

log = logging.getLogger(__name__)


def _references(hr: HelmRelease) -> dict[str, ObjectKey]:
    """The objects a HelmRelease's reconcile reads, by the field that names them."""
    refs: dict[str, ObjectKey] = {}
    if hr.spec.chart is not None:
        source = hr.spec.chart.spec.source_ref
        refs["spec.chart.spec.sourceRef"] = ObjectKey(
            source.kind, source.namespace or hr.namespace, source.name
        )
    refs["spec.chartRef" if hr.spec.chart_ref else "spec.chart"] = chart_source_key(hr)
    for i, dep in enumerate(hr.spec.depends_on):
        refs[f"spec.dependsOn[{i}]"] = ObjectKey(
            "HelmRelease", dep.namespace or hr.namespace, dep.name
        )
    for i, ref in enumerate(hr.spec.values_from):
        refs[f"spec.valuesFrom[{i}]"] = ObjectKey(ref.kind, hr.namespace, ref.name)
    return refs


def uses(hr: HelmRelease, scope: str = "") -> list[ObjectKey]:
    """What a HelmRelease of ``scope`` reads: its chart's source and its dependencies."""
    return [c for ref in _references(hr).values() for c in candidates(ref, scope)]


def _helmchart(ctx: WorkerContext, key: ObjectKey, hr: HelmRelease) -> None:
    """Create or update the HelmChart ``spec.chart`` asks for, owned by the HelmRelease."""
    doc = helmchart_document(hr)
    if doc is None:
        return
    try:
        ctx.store.apply(doc, owner=key, scope=key.scope)
    except OwnedByAnother as err:
        raise Stalled(RECONCILIATION_FAILED, f"HelmChart: {err}") from err
    except InvalidObjects as err:
        problems = "; ".join(f"{e.field}: {e.message}" for e in err.errors)
        raise Stalled(RECONCILIATION_FAILED, f"spec.chart: {problems}") from err


def _ready_expr(text: str | None) -> Expression | None:
    if text is None:
        return None
    try:
        return compile_ready_expr(text)
    except InvalidExpression as err:
        raise Stalled(INVALID_CEL_EXPRESSION, f"dependsOn readyExpr: {err}") from err


def _check_dependencies(
    ctx: WorkerContext, own: ObjectKey, hr: HelmRelease, doc: dict[str, Any]
) -> None:
    wait = ctx.settings.requeue_dependency
    for dep in hr.spec.depends_on:
        ref = ObjectKey("HelmRelease", dep.namespace or hr.namespace, dep.name)
        key, dep_doc = resolve(ctx.store, ref, own.scope)
        expr = _ready_expr(dep.ready_expr)
        if dep_doc is None:
            raise Waiting(DEPENDENCY_NOT_READY, f"dependency '{key}' not found", retry_after=wait)
        try:
            reason = not_ready_reason(doc, dep_doc, revision="", ready_expr=expr)
        except EvaluationError as err:
            reason = f"dependency '{key}': {err}"
        if reason is not None:
            raise Waiting(DEPENDENCY_NOT_READY, reason, retry_after=wait)


def _values(ctx: WorkerContext, key: ObjectKey, hr: HelmRelease) -> dict[str, Any]:
    try:
        return release_values(ctx.store, hr, scope=key.scope)
    except ValuesReferenceError as err:
        # Flux: a missing values reference waits for it (reason InitFailed).
        raise Waiting(VALUES_FAILED, str(err), retry_after=ctx.settings.requeue_dependency) from err


def _targets(ctx: WorkerContext, key: ObjectKey, hr: HelmRelease) -> TargetSelection:
    clusters, default = clusters_for(ctx.store, key)
    try:
        return select_targets(hr.spec, clusters, default=default)
    except ValueError as err:
        raise Stalled(RECONCILIATION_FAILED, str(err)) from err


def _plan(
    ctx: WorkerContext, key: ObjectKey, hr: HelmRelease, doc: dict[str, Any], chart: ChartArtifact
) -> ReleasePlan:
    try:
        unpacked = fetch_artifact(chart.url, chart.digest, cache_dir=ctx.settings.cache_dir)
        meta = read_chart_metadata(chart_root(unpacked))
    except (ArtifactError, ChartError) as err:
        raise Transient(ARTIFACT_FAILED, f"{chart.source}: {err}") from err
    values = _values(ctx, key, hr)
    # What an uninstall after deletion needs: the spec (not status or bookkeeping).
    document = {
        "apiVersion": doc["apiVersion"],
        "kind": doc["kind"],
        "metadata": {"name": hr.name, "namespace": hr.namespace},
        "spec": doc["spec"],
    }
    return ReleasePlan(
        chart_url=chart.url,
        chart_digest=chart.digest,
        chart_revision=chart.revision,
        chart_name=meta.name,
        chart_version=meta.version,
        values=values,
        config_digest=values_digest(values),
        generation=int(doc["metadata"].get("generation", 1)),
        release_name=hr.release_name,
        release_namespace=hr.release_namespace,
        storage_namespace=hr.release_namespace,
        post_renderers_digest=post_renderers_digest(hr.spec.post_renderers)
        if hr.spec.post_renderers
        else "",
        common_metadata_digest=common_metadata_digest(hr.spec.common_metadata)
        if hr.spec.common_metadata
        else "",
        document=document,
    )


def _steps(ctx: WorkerContext, key: ObjectKey, hr: HelmRelease, doc: dict[str, Any]) -> Routed:
    state = FleetState(ctx.client, service=SERVICE, cipher=ctx.store.cipher)
    refuse_cross_namespace(ctx.settings, key, _references(hr))
    selection = _targets(ctx, key, hr)
    _helmchart(ctx, key, hr)
    _check_dependencies(ctx, key, hr, doc)
    retry = ctx.settings.requeue_dependency
    chart = read_artifact(ctx.store, chart_source_key(hr), scope=key.scope, retry_after=retry)
    plan = _plan(ctx, key, hr, doc, chart)
    targets = tuple(t.name for t in selection.targets) + selection.missing
    desired = Desired(
        plan.chart_version,
        plan.key,
        targets,
        plan.generation,
        timeout=hr.spec.timeout_seconds,
        handled=requested_at(doc) or "",
    )
    previous = state.publish(key, desired, {plan.key: plan.to_objects()})
    gone = set(previous.targets) - set(targets) if previous else set()
    return Routed(plan.chart_version, tuple(sorted(set(targets) | gone)))


def _deleted(
    ctx: WorkerContext, state: FleetState, key: ObjectKey, request_apply: RequestApply
) -> None:
    # The HelmChart made from spec.chart goes with it; each cluster's run uninstalls.
    for owned in ctx.store.list_owned(key):
        ctx.store.delete(owned)
    for cluster in state.results(key):
        request_apply(key, cluster)


HELM_RELEASE = FanOutKind(
    service=SERVICE,
    model=HelmRelease,
    uses=uses,
    steps=_steps,
    retry_interval=lambda hr: hr.spec.interval_seconds,
    keep_on_delete=KEEP,
    deleted=_deleted,
)
reconcile_helmrelease = HELM_RELEASE.reconcile
index_all = HELM_RELEASE.index_all
