"""Reconcile a Kustomization: source, dependencies, one build, then one apply per cluster.

Steps follow kustomize-controller's pipeline (guards, source, dependsOn,
artifact, build, route), except that applying is fanned out: this step
records the *desired* build and asks for one ``kustomize.apply`` per target
cluster, which the per-cluster runs (``shared.fleet.run`` with kustomize's act
step in ``cluster.py``) carry out in parallel. Toolkit objects found in the
build go into sluice's store, owned by this Kustomization; everything else goes
to the clusters. The toolkit objects are checked here (valid, not another
Kustomization's) but stored only once every target cluster applied the build
(``shared.fleet.commit``), so a revision a cluster refuses stores none of them;
a build with no cluster objects stores them here.

The guards, the one status write and the routing are every fan-out
service's (``shared.fleet.reconcile``); this module is the steps. The source's
artifact is read once and that one value is built and recorded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.kustomize.build import ArtifactPathError, BuildCache, BuildOptions, build_cached
from services.kustomize.decrypt import decryption_keys
from services.kustomize.deletion import OnDeletion, deletion_of, on_deletion
from services.kustomize.generate import BuildSpec
from services.kustomize.manifests import BuildFailed, as_stored, classify
from services.kustomize.variables import MissingVariables, post_build_variables
from shared.api import InvalidObjects, Kustomization, validate
from shared.api.conditions import (
    ARTIFACT_FAILED,
    BUILD_FAILED,
    DEPENDENCY_NOT_READY,
    INVALID_CEL_EXPRESSION,
    RECONCILIATION_FAILED,
)
from shared.api.legacy import keep_stored_sources
from shared.artifacts import ArtifactError, fetch_artifact
from shared.cel import EvaluationError, Expression, InvalidExpression
from shared.celeryapp import task_limits
from shared.dependson import compile_ready_expr, not_ready_reason
from shared.fleet.commit import commit, released_by
from shared.fleet.connect import clusters_for
from shared.fleet.reconcile import FanOutKind, RequestApply, Routed
from shared.fleet.state import Desired, FleetState
from shared.fleet.targets import TargetSelection, select_targets
from shared.keys import ObjectKey
from shared.kube.customhealth import CustomHealth, InvalidHealthChecks
from shared.metrics import BUILD_CACHE, count
from shared.reconcile import (
    ReconcileError,
    Stalled,
    Transient,
    Waiting,
)
from shared.scopes import candidates, resolve
from shared.store import InvalidObject, OwnedByAnother
from shared.tenancy import refuse_cross_namespace
from shared.toolrun import ToolLimits
from shared.tools import ToolMissingError
from shared.worker import WorkerContext, requested_at

__all__ = ["KUSTOMIZATION", "SourceArtifact", "index_all", "reconcile_kustomization", "uses"]

SERVICE = "kustomize"
# Where a source artifact's metadata names the revision it was made from.
ORIGIN_REVISION = "org.opencontainers.image.revision"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceArtifact:
    """The source's artifact as read once at the start of a reconcile."""

    revision: str
    url: str
    digest: str
    origin_revision: str = ""


def _source(ctx: WorkerContext, key: ObjectKey, ks: Kustomization) -> SourceArtifact:
    key, doc = resolve(ctx.store, _source_key_of(ks), key.scope)
    ref = ks.spec.source_ref
    wait = ctx.settings.requeue_dependency
    if doc is None:
        message = f"{ref.kind} '{key.namespace}/{key.name}' not found"
        if ref.kind == "ExternalArtifact":
            # Nobody applies one by hand: say who makes it.
            message += ": an ArtifactGenerator (or another producer) creates it; waiting for it"
        raise Waiting(ARTIFACT_FAILED, message, retry_after=wait)
    artifact = (doc.get("status") or {}).get("artifact")
    if not artifact:
        message = f"{ref.kind} '{key.namespace}/{key.name}' has no artifact yet; waiting for it"
        raise Waiting(ARTIFACT_FAILED, message, retry_after=wait)
    origin = str((artifact.get("metadata") or {}).get(ORIGIN_REVISION, ""))
    return SourceArtifact(
        str(artifact["revision"]), str(artifact["url"]), str(artifact["digest"]), origin
    )


def _ready_expr(text: str | None) -> Expression | None:
    if text is None:
        return None
    try:
        return compile_ready_expr(text)
    except InvalidExpression as err:
        raise Stalled(INVALID_CEL_EXPRESSION, f"dependsOn readyExpr: {err}") from err


def _check_dependencies(
    ctx: WorkerContext, own: ObjectKey, ks: Kustomization, doc: dict[str, Any], revision: str
) -> None:
    wait = ctx.settings.requeue_dependency
    for dep in ks.spec.depends_on:
        ref = ObjectKey("Kustomization", dep.namespace or ks.namespace, dep.name)
        key, dep_doc = resolve(ctx.store, ref, own.scope)
        expr = _ready_expr(dep.ready_expr)
        if dep_doc is None:
            raise Waiting(DEPENDENCY_NOT_READY, f"dependency '{key}' not found", retry_after=wait)
        try:
            reason = not_ready_reason(doc, dep_doc, revision=revision, ready_expr=expr)
        except EvaluationError as err:
            # As Flux: an expression that fails on these objects waits like a not-ready one.
            reason = f"dependency '{key}': {err}"
        if reason is not None:
            raise Waiting(DEPENDENCY_NOT_READY, reason, retry_after=wait)


def _source_key_of(ks: Kustomization) -> ObjectKey:
    ref = ks.spec.source_ref
    return ObjectKey(ref.kind, ref.namespace or ks.namespace, ref.name)


def _health_rules(ks: Kustomization) -> None:
    """Stall on healthCheckExprs that do not compile, before any work (Flux's first step)."""
    try:
        CustomHealth.compile(ks.spec.health_check_exprs)
    except InvalidHealthChecks as err:
        raise Stalled(INVALID_CEL_EXPRESSION, str(err)) from err


def _references(ks: Kustomization) -> dict[str, ObjectKey]:
    """The objects a Kustomization's reconcile reads, by the field that names them."""
    refs = {"spec.sourceRef": _source_key_of(ks)}
    for i, dep in enumerate(ks.spec.depends_on):
        key = ObjectKey("Kustomization", dep.namespace or ks.namespace, dep.name)
        refs[f"spec.dependsOn[{i}]"] = key
    return refs


def uses(ks: Kustomization, scope: str = "") -> list[ObjectKey]:
    """What a Kustomization of ``scope`` reads: its source and its dependencies.

    A reference that may fall back to the fleet-wide scope (``shared.scopes``)
    is listed in both, so an event about either wakes it.
    """
    return [c for ref in _references(ks).values() for c in candidates(ref, scope)]


def _build_timeout(ctx: WorkerContext, ks: Kustomization) -> float:
    """The Kustomization's timeout, bounded by the task's soft time limit."""
    soft, _ = task_limits(ctx.settings)
    return min(ks.spec.timeout_seconds, soft)


def _build(
    ctx: WorkerContext,
    key: ObjectKey,
    ks: Kustomization,
    doc: dict[str, Any],
    artifact: SourceArtifact,
) -> list[dict[str, Any]]:
    try:
        root = fetch_artifact(artifact.url, artifact.digest, cache_dir=ctx.settings.cache_dir)
        objects, cache_hit = build_cached(
            BuildCache(ctx.settings.cache_dir / "builds", ctx.store.cipher),
            root,
            digest=artifact.digest,
            path=ks.spec.path,
            spec=BuildSpec.from_spec(doc["spec"]),
            post_build=post_build_variables(ctx.store, ks, key.scope),
            decryption=decryption_keys(ctx.store, ks, key.scope),
            # Flux loads without kustomize's restrictor; the build checks that no
            # reference leaves the artifact root, symlinks included.
            options=BuildOptions(
                load_restrictor="LoadRestrictionsNone",
                limits=ToolLimits.from_settings(ctx.settings, timeout=_build_timeout(ctx, ks)),
            ),
        )
    except (ArtifactError, ArtifactPathError) as err:
        raise Transient(ARTIFACT_FAILED, str(err)) from err
    except (BuildFailed, ToolMissingError, MissingVariables) as err:
        raise Transient(BUILD_FAILED, str(err)) from err
    except ValueError as err:
        # Sealing for the cache: "Secret/ns/name: stringData.port must be a string".
        raise Transient(BUILD_FAILED, str(err)) from err
    count(ctx.client, BUILD_CACHE, {"result": "hit" if cache_hit else "miss"})
    if not cache_hit:
        FleetState(ctx.client, service=SERVICE, cipher=ctx.store.cipher).count_build()
    return objects


def _toolkit_objects(
    ctx: WorkerContext, key: ObjectKey, ks: Kustomization, objects: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The build's toolkit objects as the store will hold them, checked; none stored yet.

    Refused now, before any cluster applies anything: an invalid one, and one that
    another Kustomization owns and still yields (the store refuses it again when
    they are committed).
    """
    source = f"{key} build"
    try:
        docs = as_stored(objects, namespace=ks.spec.target_namespace or ks.namespace, source=source)
    except BuildFailed as err:
        raise Transient(BUILD_FAILED, str(err)) from err
    docs, errors = keep_stored_sources(
        docs, stored=lambda k: ctx.store.get(k.in_scope(key.scope)), owner=key, source=source
    )
    errors += [e for i, obj in enumerate(docs) for e in validate(obj, source=source, index=i)]
    if errors:
        raise Transient(BUILD_FAILED, "; ".join(str(e) for e in errors))
    released = released_by(FleetState(ctx.client, service=SERVICE, cipher=ctx.store.cipher))
    _storable(
        lambda: ctx.store.check_apply_all(docs, owner=key, scope=key.scope, released=released)
    )
    return docs


def _storable(write: Callable[[], object]) -> None:
    """Run a check or write of the build's toolkit objects; the store's refusals as failures."""
    try:
        write()
    except InvalidObjects as err:
        raise Transient(BUILD_FAILED, "; ".join(str(e) for e in err.errors)) from err
    except OwnedByAnother as err:
        raise Transient(RECONCILIATION_FAILED, str(err)) from err
    except InvalidObject as err:
        # Over the store's limits for one apply (objects, bytes): say so, as a build error.
        raise Transient(BUILD_FAILED, f"toolkit objects of the build: {err}") from err


def content_key(objects: list[dict[str, Any]]) -> str:
    """The build key: sha256 of the rendered objects, so equal builds share one entry."""
    canonical = json.dumps(objects, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _targets(ctx: WorkerContext, key: ObjectKey, ks: Kustomization) -> TargetSelection:
    clusters, default = clusters_for(ctx.store, key)
    try:
        return select_targets(ks.spec, clusters, default=default)
    except ValueError as err:
        raise Stalled(RECONCILIATION_FAILED, str(err)) from err


def _steps(ctx: WorkerContext, key: ObjectKey, ks: Kustomization, doc: dict[str, Any]) -> Routed:
    state = FleetState(ctx.client, service=SERVICE, cipher=ctx.store.cipher)
    _health_rules(ks)
    refuse_cross_namespace(ctx.settings, key, _references(ks))
    selection = _targets(ctx, key, ks)  # a spec no retry can fix stalls before any fetch
    artifact = _source(ctx, key, ks)
    try:
        _check_dependencies(ctx, key, ks, doc, artifact.revision)
        routed = classify(_build(ctx, key, ks, doc, artifact))
        toolkit = _toolkit_objects(ctx, key, ks, list(routed.store))
    except ReconcileError as err:
        # Flux records and reports the revision a failed build was of.
        err.revision = artifact.revision
        raise
    store_key = content_key(toolkit)
    cluster_objects = list(routed.clusters)
    build_key = content_key(cluster_objects)
    targets = tuple(t.name for t in selection.targets) + selection.missing
    generation = int(doc["metadata"].get("generation", 1))
    health = ks.spec.wait or bool(ks.spec.health_checks)
    deletion = on_deletion(ks.spec.deletion_policy, prune=ks.spec.prune)
    desired = Desired(
        artifact.revision,
        build_key,
        targets,
        generation,
        prune=ks.spec.prune,
        health=health,
        deletion=str(deletion),
        timeout=ks.spec.timeout_seconds,
        store_key=store_key,
        origin_revision=artifact.origin_revision,
        handled=requested_at(doc) or "",
    )
    previous = state.publish(key, desired, {store_key: toolkit, build_key: cluster_objects})
    if not cluster_objects or not targets:
        # Nothing a cluster could refuse (a bootstrap of toolkit objects only).
        _storable(lambda: commit(ctx.store, state, key, desired))
    # A cluster that left the targets is visited once more, to prune it.
    gone = set(previous.targets) - set(targets) if previous else set()
    return Routed(artifact.revision, tuple(sorted(set(targets) | gone)))


def _deleted(
    ctx: WorkerContext, state: FleetState, key: ObjectKey, request_apply: RequestApply
) -> None:
    # The toolkit objects of its builds go or stay as its deletionPolicy says, like the
    # cluster objects, which each cluster's run releases.
    if deletion_of(state.desired(key)).deletes:
        for owned in ctx.store.list_owned(key):
            ctx.store.delete(owned)
    for cluster in state.results(key):
        request_apply(key, cluster)


KUSTOMIZATION = FanOutKind(
    service=SERVICE,
    model=Kustomization,
    uses=uses,
    steps=_steps,
    retry_interval=lambda ks: ks.spec.retry_interval_seconds,
    keep_on_delete=str(OnDeletion.ORPHAN),
    deleted=_deleted,
)
reconcile_kustomization = KUSTOMIZATION.reconcile
index_all = KUSTOMIZATION.index_all
