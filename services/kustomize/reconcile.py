"""Reconcile a Kustomization: source, dependencies, one build, then one apply per cluster.

Steps follow kustomize-controller's pipeline (guards, source, dependsOn,
artifact, build, route), except that applying is fanned out: this step
records the *desired* build and asks for one ``kustomize.apply`` per target
cluster, which the per-cluster runs (``shared.fleet.run`` with kustomize's act
step in ``cluster.py``) carry out in parallel.
Toolkit objects found in the build go into sluice's store, owned by this
Kustomization; everything else goes to the clusters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.kustomize.build import ArtifactPathError, BuildCache, BuildOptions, build_cached
from services.kustomize.decrypt import decryption_keys
from services.kustomize.generate import BuildSpec
from services.kustomize.manifests import BuildFailed, classify
from services.kustomize.variables import MissingVariables, post_build_variables
from shared.api import Cluster, InvalidObjects, Kustomization, parse_as, validate
from shared.api.conditions import (
    ARTIFACT_FAILED,
    BUILD_FAILED,
    DEPENDENCY_NOT_READY,
    READY,
    Outcome,
    get_condition,
    summarize,
)
from shared.artifacts import ArtifactError, fetch_artifact
from shared.events import Severity
from shared.fleet.state import Desired, FleetState
from shared.fleet.status import update_status, write_summary
from shared.fleet.targets import select_targets
from shared.keys import ObjectKey
from shared.metrics import BUILD_CACHE, count
from shared.tools import ToolMissingError
from shared.worker import WorkerContext, requested_at

__all__ = ["Failure", "RequestApply", "reconcile_kustomization"]

RequestApply = Callable[[ObjectKey, str], None]


@dataclass(frozen=True)
class Failure(Exception):
    """A step failed with a Flux reason; ``retry_after`` overrides retryInterval."""

    reason: str
    message: str
    retry_after: float | None = None
    stalled: bool = False


def _source(ctx: WorkerContext, ks: Kustomization) -> tuple[str, str, str]:
    """(revision, url, digest) of the source's artifact."""
    ref = ks.spec.source_ref
    key = ObjectKey(ref.kind, ref.namespace or ks.namespace, ref.name)
    doc = ctx.store.get(key)
    if doc is None:
        raise Failure(ARTIFACT_FAILED, f"{ref.kind} '{key.namespace}/{key.name}' not found")
    artifact = (doc.get("status") or {}).get("artifact")
    if not artifact:
        raise Failure(
            ARTIFACT_FAILED,
            f"{ref.kind} '{key.namespace}/{key.name}' has no artifact yet; waiting for it",
            retry_after=ctx.settings.requeue_dependency,
        )
    return str(artifact["revision"]), str(artifact["url"]), str(artifact["digest"])


def _check_dependencies(ctx: WorkerContext, ks: Kustomization, revision: str) -> None:
    for dep in ks.spec.depends_on:
        key = ObjectKey("Kustomization", dep.namespace or ks.namespace, dep.name)
        doc = ctx.store.get(key)
        wait = ctx.settings.requeue_dependency
        if doc is None:
            raise Failure(DEPENDENCY_NOT_READY, f"dependency '{key}' not found", wait)
        status = doc.get("status") or {}
        ready = get_condition(status, READY)
        current = status.get("observedGeneration") == doc["metadata"].get("generation")
        if not (ready and ready.get("status") == "True" and current):
            raise Failure(DEPENDENCY_NOT_READY, f"dependency '{key}' is not ready", wait)
        same_source = dep_source(doc) == dep_source_of(ks)
        if same_source and status.get("lastAppliedRevision") != revision:
            raise Failure(
                DEPENDENCY_NOT_READY,
                f"dependency '{key}' is not ready at revision {revision}",
                wait,
            )


def dep_source(doc: dict[str, Any]) -> tuple[str, str, str]:
    """The (kind, namespace, name) of a Kustomization document's source."""
    ref = doc["spec"]["sourceRef"]
    return ref["kind"], ref.get("namespace") or doc["metadata"]["namespace"], ref["name"]


def dep_source_of(ks: Kustomization) -> tuple[str, str, str]:
    """The (kind, namespace, name) of a Kustomization's source."""
    ref = ks.spec.source_ref
    return ref.kind, ref.namespace or ks.namespace, ref.name


def _build(ctx: WorkerContext, ks: Kustomization, doc: dict[str, Any]) -> list[dict[str, Any]]:
    revision, url, digest = _source(ctx, ks)
    _check_dependencies(ctx, ks, revision)
    try:
        root = fetch_artifact(url, digest, cache_dir=ctx.settings.cache_dir)
        objects, cache_hit = build_cached(
            BuildCache(ctx.settings.cache_dir / "builds", ctx.store.cipher),
            root,
            digest=digest,
            path=ks.spec.path,
            spec=BuildSpec.from_spec(doc["spec"]),
            post_build=post_build_variables(ctx.store, ks),
            decryption=decryption_keys(ctx.store, ks),
            # Flux loads without kustomize's restrictor; the build checks that no
            # reference leaves the artifact root, symlinks included.
            options=BuildOptions(load_restrictor="LoadRestrictionsNone"),
        )
    except (ArtifactError, ArtifactPathError) as err:
        raise Failure(ARTIFACT_FAILED, str(err)) from err
    except (BuildFailed, ToolMissingError, MissingVariables) as err:
        raise Failure(BUILD_FAILED, str(err)) from err
    except ValueError as err:
        # Sealing for the cache: "Secret/ns/name: stringData.port must be a string".
        raise Failure(BUILD_FAILED, str(err)) from err
    count(ctx.client, BUILD_CACHE, {"result": "hit" if cache_hit else "miss"})
    if not cache_hit:
        FleetState(ctx.client, service="kustomize", cipher=ctx.store.cipher).count_build()
    return objects


def _store_toolkit_objects(
    ctx: WorkerContext, key: ObjectKey, ks: Kustomization, objects: list[dict[str, Any]]
) -> None:
    """Put toolkit objects of the build into the store, owned by ``key``; prune the rest."""
    docs = []
    errors = []
    for index, obj in enumerate(objects):
        obj = {**obj, "metadata": {**obj["metadata"]}}
        obj["metadata"].setdefault("namespace", ks.spec.target_namespace or ks.namespace)
        errors += validate(obj, source=f"{key} build", index=index)
        docs.append(obj)
    if errors:
        raise Failure(BUILD_FAILED, "; ".join(str(e) for e in errors))
    try:
        ctx.store.apply_all(docs, owner=key)
    except InvalidObjects as err:
        raise Failure(BUILD_FAILED, "; ".join(str(e) for e in err.errors)) from err
    if ks.spec.prune:
        keep = {ObjectKey.of(d) for d in docs}
        for owned in ctx.store.list_owned(key):
            if owned not in keep:
                ctx.store.delete(owned)


def content_key(objects: list[dict[str, Any]]) -> str:
    """The build key: sha256 of the rendered objects, so equal builds share one entry."""
    canonical = json.dumps(objects, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def reconcile_kustomization(
    ctx: WorkerContext, key: ObjectKey, request_apply: RequestApply
) -> None:
    """Build the newest revision once and ask each target cluster to apply it."""
    state = FleetState(ctx.client, service="kustomize", cipher=ctx.store.cipher)
    doc = ctx.store.get(key)
    if doc is None:
        _deleted(ctx, state, key, request_apply)
        return
    ks = parse_as(doc, Kustomization)
    if ks.spec.suspend:
        return
    token = requested_at(doc)
    try:
        objects = _build(ctx, ks, doc)
        revision = _source(ctx, ks)[0]
        routed = classify(objects)
        _store_toolkit_objects(ctx, key, ks, list(routed.store))
        clusters = [parse_as(c, Cluster) for c in ctx.store.list("Cluster", ks.namespace)]
        try:
            selection = select_targets(ks.spec, clusters)
        except ValueError as err:
            raise Failure("ReconciliationFailed", str(err), stalled=True) from err
    except Failure as failure:
        _failed(ctx, key, ks, failure, token)
        return
    cluster_objects = list(routed.clusters)
    build_key = content_key(cluster_objects)
    state.put_build(build_key, cluster_objects)
    previous = state.desired(key)
    targets = tuple(t.name for t in selection.targets) + selection.missing
    state.set_desired(
        key,
        Desired(
            revision,
            build_key,
            targets,
            int(doc["metadata"].get("generation", 1)),
            prune=ks.spec.prune,
        ),
    )

    def progressing(_doc: dict[str, Any], status: dict[str, Any]) -> None:
        status["lastAttemptedRevision"] = revision
        if token is not None:
            status["lastHandledReconcileAt"] = token

    update_status(ctx.store, key, progressing)
    # A cluster that left the targets is visited once more, to prune it.
    gone = set(previous.targets) - set(targets) if previous else set()
    for cluster in sorted(set(targets) | gone):
        request_apply(key, cluster)
    write_summary(ctx.store, state, key)


def _deleted(
    ctx: WorkerContext, state: FleetState, key: ObjectKey, request_apply: RequestApply
) -> None:
    for owned in ctx.store.list_owned(key):
        ctx.store.delete(owned)
    for cluster in state.results(key):
        request_apply(key, cluster)


def _failed(
    ctx: WorkerContext, key: ObjectKey, ks: Kustomization, failure: Failure, token: str | None
) -> None:
    def change(doc: dict[str, Any], status: dict[str, Any]) -> None:
        generation = int(doc["metadata"].get("generation", 1))
        outcome = Outcome.STALLED if failure.stalled else Outcome.FAILED
        summarize(
            status, outcome, message=failure.message, reason=failure.reason, generation=generation
        )
        if token is not None:
            status["lastHandledReconcileAt"] = token

    update_status(ctx.store, key, change)
    severity: Severity = "info" if failure.reason == DEPENDENCY_NOT_READY else "error"
    ctx.emit(
        "reconcile-failed", key, reason=failure.reason, message=failure.message, severity=severity
    )
    if not failure.stalled:
        delay = failure.retry_after or ks.spec.retry_interval_seconds
        ctx.requeue_after(key, delay)
