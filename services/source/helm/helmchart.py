"""HelmChart: package a chart from its source's artifact (Git, Bucket) or a Helm repository.

The steps of source-controller's HelmChart reconciler (FLUX-API §2.4):

1. find the source (``spec.sourceRef``, same namespace) and record that this
   chart uses it, so the source's next artifact wakes the chart at once;
   no source or no artifact yet: FetchFailed, tried again;
2. ``observedSourceArtifactRevision`` is the source artifact's revision;
3. build (``chartbuild``); the stored chart is reused when its name and
   version are unchanged and the spec is the one it was built for;
4. store ``<chart>-<version>.tgz``; ``observedChartName``, and
   ``observedValuesFiles`` when ``ignoreMissingValuesFiles`` is set.

Failure kinds: a chart path leaving the source is Stalled (only the spec can
fix it). Flux also stalls on a chart or values file missing from the source;
sluice retries those instead, because a stalled object is not run again
until its spec changes, while Flux re-runs it on the source's next revision,
which may well add the file.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from services.source.helm.chartauth import dependency_logins, repository_of
from services.source.helm.chartbuild import (
    CHART_PULL_ERROR,
    INVALID_CHART_REFERENCE,
    ChartBuild,
    ChartBuildError,
    LocalBuild,
    build_local,
)
from services.source.helm.chartremote import (
    RemoteBuild,
    RepositoryAuthError,
    chart_versions,
    download_chart,
    finish_remote,
    oci_versions,
    pick_version,
    planned,
    pull_chart,
    resolve_chart_url,
)
from services.source.helm.chartversion import chart_filename, version_metadata
from services.source.helm.helmauth import repository_auth
from services.source.reconcile import Produced, SourceKind, SourceRun
from services.source.storage import StorageError
from shared.api import HelmChart, InvalidObjects, parse_as
from shared.api.conditions import AUTHENTICATION_FAILED, BUILD_FAILED, FETCH_FAILED
from shared.artifacts import ArtifactError, fetch_artifact, fetch_file
from shared.celeryapp import task_limits
from shared.dependents import DependentsIndex
from shared.keys import ObjectKey
from shared.reconcile import Stalled, Transient, Waiting
from shared.scopes import candidates, resolve
from shared.toolrun import ToolLimits
from shared.tools import ToolMissingError
from shared.worker import WorkerContext

__all__ = ["HELM_CHART", "chart_uses", "index_charts"]

# HelmChart has no spec.timeout: the bound of one helm run and one download.
_BUILD_TIMEOUT = 300.0
_SOURCE_UNAVAILABLE = "SourceUnavailable"
_NO_SOURCE_ARTIFACT = "NoSourceArtifact"
_PULLED = "ChartPullSucceeded"
_PACKAGED = "ChartPackageSucceeded"
# Flux's RemoteReference.Validate, ``^([-a-z0-9]+/?\.?)+$``, written so that a
# backtracking engine stays linear: every repetition starts with a separator.
_CHART_NAME = re.compile(r"[-a-z0-9]+(?:(?:/\.?|\.)[-a-z0-9]+)*(?:/\.?|\.)?")


def chart_uses(chart: HelmChart, key: ObjectKey) -> list[ObjectKey]:
    """The sources a HelmChart of ``key``'s scope may read (own scope, then fleet-wide)."""
    ref = chart.spec.source_ref
    return list(candidates(ObjectKey(ref.kind, key.namespace, ref.name), key.scope))


def index_charts(ctx: WorkerContext) -> None:
    """Record every HelmChart's source once, at worker start.

    Each reconcile keeps its own edge current; this covers charts stored
    before the index existed, which would otherwise hear no artifact-ready
    event until their next interval.
    """
    index = DependentsIndex(ctx.client)
    for scope in ("", *ctx.store.scopes()):
        for doc in ctx.store.list("HelmChart", scope=scope):
            try:
                chart = parse_as(doc, HelmChart)
            except InvalidObjects:
                continue  # its reconcile reports it
            key = ObjectKey.of(doc, scope)
            index.set_uses(key, chart_uses(chart, key))


def _produce(run: SourceRun) -> Produced:
    chart: HelmChart = run.obj
    DependentsIndex(run.ctx.client).set_uses(run.key, chart_uses(chart, run.key))
    ref = chart.spec.source_ref
    wanted = ObjectKey(ref.kind, run.key.namespace, ref.name)
    _, source = resolve(run.ctx.store, wanted, run.key.scope)
    if source is None:
        raise Transient(
            _SOURCE_UNAVAILABLE,
            f"failed to get source: {ref.kind} '{run.key.namespace}/{ref.name}' not found",
            condition=FETCH_FAILED,
        )
    artifact = (source.get("status") or {}).get("artifact") or {}
    oci = ref.kind == "HelmRepository" and (source.get("spec") or {}).get("type") == "oci"
    if not oci and not (artifact.get("url") and artifact.get("digest")):
        raise Waiting(
            _NO_SOURCE_ARTIFACT,
            f"no artifact available for {ref.kind} source '{ref.name}'",
            condition=FETCH_FAILED,
        )
    if artifact.get("revision"):
        run.status["observedSourceArtifactRevision"] = str(artifact["revision"])
    with tempfile.TemporaryDirectory(prefix="sluice-chart-") as scratch:
        try:
            if ref.kind == "HelmRepository":
                build = _build_from_repository(run, chart, source, scratch=Path(scratch))
            else:
                build = _build_from_tarball(run, chart, artifact, scratch=Path(scratch))
        except RepositoryAuthError as err:
            raise Transient(AUTHENTICATION_FAILED, str(err), condition=FETCH_FAILED) from err
        except ChartBuildError as err:
            kind = Stalled if err.spec_error else Transient
            raise kind(err.reason, str(err), condition=err.condition) from err
        except ToolMissingError as err:
            raise Transient(BUILD_FAILED, str(err), condition=BUILD_FAILED) from err
        return _store(run, chart, build)


def _cached(run: SourceRun) -> tuple[Path | None, tuple[str, ...] | None]:
    """The stored chart, when the spec is the one it was built for (Flux's ``Force``)."""
    if run.status.get("observedGeneration") != run.generation:
        return None, None
    stored = run.stored()
    if stored is None:
        return None, None
    observed = run.status.get("observedValuesFiles") or None
    return run.storage.local_path(str(stored["path"])), tuple(observed) if observed else None


def _build_from_tarball(
    run: SourceRun, chart: HelmChart, artifact: dict[str, Any], *, scratch: Path
) -> ChartBuild:
    settings = run.ctx.settings
    spec = chart.spec
    try:
        tree = fetch_artifact(
            str(artifact["url"]),
            str(artifact["digest"]),
            cache_dir=settings.cache_dir,
            timeout=_BUILD_TIMEOUT,
        )
    except ArtifactError as err:
        raise Transient(
            "ReadOperationFailed", f"failed to fetch source artifact: {err}", condition=FETCH_FAILED
        ) from err
    cached, cached_values = _cached(run)
    metadata = version_metadata(
        source_kind=spec.source_ref.kind,
        strategy=spec.reconcile_strategy,
        source_revision=str(artifact.get("revision", "")),
        values_files=spec.values_files,
        generation=run.generation,
    )
    local = LocalBuild(
        chart=spec.chart,
        metadata=metadata,
        values_files=spec.values_files,
        ignore_missing_values_files=spec.ignore_missing_values_files,
        cached=cached,
        cached_values_files=cached_values,
        logins=lambda deps: dependency_logins(run, deps),
    )
    limits = ToolLimits.from_settings(settings, timeout=_bounded(run, _BUILD_TIMEOUT))
    return build_local(tree, local, scratch=scratch, limits=limits)


def _build_from_repository(
    run: SourceRun, chart: HelmChart, doc: dict[str, Any], *, scratch: Path
) -> ChartBuild:
    """A chart of an HTTP Helm repository (from its index artifact) or an OCI one (its tags)."""
    repo = repository_of(doc)
    if repo is None:
        raise Transient(
            _SOURCE_UNAVAILABLE,
            f"failed to get source: HelmRepository '{chart.spec.source_ref.name}' is invalid",
            condition=FETCH_FAILED,
        )
    spec = chart.spec
    if not _CHART_NAME.fullmatch(spec.chart):
        raise ChartBuildError(
            INVALID_CHART_REFERENCE,
            f"invalid chart name '{spec.chart}': a valid name must be lower case letters and "
            "numbers and MAY be separated with dashes (-), slashes (/) or periods (.)",
            spec_error=True,
        )
    auth = repository_auth(run, repo)
    cached, cached_values = _cached(run)
    remote = RemoteBuild(
        chart=spec.chart,
        version=spec.version,
        metadata=version_metadata(
            source_kind="HelmRepository",
            strategy=spec.reconcile_strategy,
            source_revision="",
            values_files=spec.values_files,
            generation=run.generation,
        ),
        values_files=spec.values_files,
        ignore_missing_values_files=spec.ignore_missing_values_files,
        cached=cached,
        cached_values_files=cached_values,
    )
    if repo.spec.is_oci:
        versions = oci_versions(repo.spec.url, spec.chart, auth=auth)
    else:
        versions = chart_versions(_index(run, doc, timeout=auth.timeout), spec.chart)
    entry = pick_version(versions, spec.version, name=spec.chart)
    version, reused = planned(remote, entry)
    if reused is not None:
        return reused
    limits = ToolLimits.from_settings(run.ctx.settings, timeout=_bounded(run, auth.timeout))
    if repo.spec.is_oci:
        tgz = pull_chart(
            repo.spec.url,
            spec.chart,
            version=entry.version,
            dest=scratch / "pull",
            auth=auth,
        )
    elif not entry.urls:
        raise ChartBuildError(CHART_PULL_ERROR, f"chart '{entry.name}' has no downloadable URLs")
    else:
        url = resolve_chart_url(repo.spec.url, entry.urls[0])
        tgz = download_chart(url, scratch / "download.tgz", auth=auth)
    return finish_remote(
        tgz, remote, name=entry.name, version=version, scratch=scratch, limits=limits
    )


def _bounded(run: SourceRun, timeout: float) -> float:
    """``timeout``, kept below the task's soft time limit so helm stops first."""
    soft, _ = task_limits(run.ctx.settings)
    return min(timeout, soft)


def _index(run: SourceRun, doc: dict[str, Any], *, timeout: float) -> Path:
    """The HelmRepository's index artifact, fetched by URL and digest (kept per digest)."""
    artifact = (doc.get("status") or {}).get("artifact") or {}
    try:
        return fetch_file(
            str(artifact["url"]),
            str(artifact["digest"]),
            cache_dir=run.ctx.settings.cache_dir,
            timeout=timeout,
        )
    except ArtifactError as err:
        raise Transient(
            "ReadOperationFailed",
            f"failed to fetch the repository index: {err}",
            condition=FETCH_FAILED,
        ) from err


def _store(run: SourceRun, chart: HelmChart, build: ChartBuild) -> Produced:
    reason = _PACKAGED if build.packaged else _PULLED
    if build.path is None:
        return Produced(build.version, changed=False, ready_message=build.summary, reason=reason)
    filename = chart_filename(build.name, build.version)
    artifact = run.store(build.path, filename=filename, revision=build.version)
    run.status["observedChartName"] = build.name
    if chart.spec.ignore_missing_values_files and build.values_files:
        run.status["observedValuesFiles"] = list(build.values_files)
    else:
        run.status.pop("observedValuesFiles", None)
    try:
        latest = run.storage.symlink(str(artifact["path"]), alias="latest.tar.gz")
        run.status["url"] = f"{run.ctx.settings.artifact_url.rstrip('/')}/{latest}"
    except StorageError:
        pass  # as Flux: the convenience link is best effort; status.artifact.url is exact
    return Produced(
        build.version, changed=True, news=build.summary, ready_message=build.summary, reason=reason
    )


HELM_CHART = SourceKind(kind="HelmChart", model=HelmChart, produce=_produce)
