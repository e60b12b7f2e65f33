"""Build a chart from a source tree (a GitRepository's or Bucket's artifact) as Flux does.

The steps of source-controller's ``localChartBuilder``:

1. find the chart at ``spec.chart`` inside the tree (a path leaving it is refused);
2. read its name and version; add the build metadata (``chartversion``);
3. when the stored artifact has that same name and version and the spec did
   not change, reuse it: nothing is packaged (so with ``ChartVersion`` a commit
   that does not bump the chart's version makes no new artifact);
4. otherwise copy the tree to a private scratch directory, write the merged
   ``valuesFiles`` over values.yaml, fill ``charts/`` with ``helm dependency
   build`` when declared dependencies are missing, and ``helm package`` it at
   the new version.

Failures carry Flux's build error reasons (``InvalidChartReference``,
``ValuesFilesError``, ``DependencyBuildError``, ``ChartPackageError``...) and
the condition Flux sets for each (FetchFailed or BuildFailed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.source.helm.chart import (
    MAX_CHART_BYTES,
    ChartError,
    ChartMeta,
    Dependency,
    read_archive,
    read_dir,
    unresolved,
)
from services.source.helm.chartvalues import ValuesFilesError, inside, merge_values_files
from services.source.helm.chartversion import (
    InvalidChartVersion,
    build_summary,
    chart_filename,
    effective_values_files,
    with_metadata,
)
from services.source.helm.helmtool import HelmError, RepositoryLogin, build_dependencies, package
from shared.api.conditions import BUILD_FAILED, FETCH_FAILED
from shared.archive import UnsafeArchiveError, extract_tarball
from shared.toolrun import ToolLimits

__all__ = [
    "ChartBuild",
    "ChartBuildError",
    "LocalBuild",
    "build_local",
    "reuse_cached",
]

INVALID_CHART_REFERENCE = "InvalidChartReference"
CHART_PULL_ERROR = "ChartPullError"
METADATA_PATCH_ERROR = "MetadataPatchError"
VALUES_FILES_ERROR = "ValuesFilesError"
DEPENDENCY_BUILD_ERROR = "DependencyBuildError"
CHART_PACKAGE_ERROR = "ChartPackageError"

_SUMMARIES = {
    INVALID_CHART_REFERENCE: ("invalid chart reference", FETCH_FAILED),
    CHART_PULL_ERROR: ("chart pull error", FETCH_FAILED),
    METADATA_PATCH_ERROR: ("chart metadata patch error", BUILD_FAILED),
    VALUES_FILES_ERROR: ("values files merge error", BUILD_FAILED),
    DEPENDENCY_BUILD_ERROR: ("dependency build error", BUILD_FAILED),
    CHART_PACKAGE_ERROR: ("chart package error", BUILD_FAILED),
}


class ChartBuildError(Exception):
    """A build step failed: ``reason`` is Flux's, ``condition`` the one Flux sets for it.

    ``spec_error``: only a spec change can fix it (a chart path leaving the
    source); otherwise a new source revision may.
    """

    def __init__(self, reason: str, detail: str, *, spec_error: bool = False) -> None:
        summary, condition = _SUMMARIES[reason]
        super().__init__(f"{summary}: {detail}")
        self.reason = reason
        self.condition = condition
        self.spec_error = spec_error


@dataclass(frozen=True)
class ChartBuild:
    """A built (or reused) chart: ``path`` is the new .tgz, None when the stored one stays."""

    name: str
    version: str
    path: Path | None
    packaged: bool
    values_files: tuple[str, ...] = ()
    dependencies: int = 0

    @property
    def summary(self) -> str:
        """Flux's message: ``packaged 'app' chart with version '1.2.3'``."""
        return build_summary(
            self.name, self.version, packaged=self.packaged, values_files=self.values_files
        )


@dataclass(frozen=True)
class LocalBuild:
    """What to build from a source tree (HelmChart spec, as the local builder takes it)."""

    chart: str
    metadata: str
    values_files: Sequence[str] = ()
    ignore_missing_values_files: bool = False
    # The stored artifact's file when the spec did not change since it was made.
    cached: Path | None = None
    cached_values_files: tuple[str, ...] | None = None
    # The credentials helm may use for the given remote dependencies.
    logins: Callable[[Sequence[Dependency]], list[RepositoryLogin]] = field(
        default=lambda _deps: []
    )


def reuse_cached(
    cached: Path | None, *, name: str, version: str, packaged: bool, values_files: Sequence[str]
) -> ChartBuild | None:
    """The stored chart as this build, when it has the same name and version."""
    if cached is None or not cached.is_file():
        return None
    try:
        meta = read_archive(cached)
    except ChartError:
        return None
    if (meta.name, meta.version) != (name, version):
        return None
    return ChartBuild(name, version, None, packaged, tuple(values_files))


def _chart_path(root: Path, chart: str) -> Path:
    """The chart directory (or packaged .tgz) at ``chart``, which must stay inside ``root``."""
    target = inside(root, chart)
    if target is None:
        raise ChartBuildError(
            INVALID_CHART_REFERENCE,
            f"chart path '{chart}' leaves the source root",
            spec_error=True,
        )
    if not target.exists():
        raise ChartBuildError(INVALID_CHART_REFERENCE, f"no chart found at path '{chart}'")
    return target


def _metadata(chart_path: Path) -> ChartMeta:
    try:
        return read_dir(chart_path) if chart_path.is_dir() else read_archive(chart_path)
    except ChartError as err:
        raise ChartBuildError(INVALID_CHART_REFERENCE, str(err)) from None


def build_local(tree: Path, spec: LocalBuild, *, scratch: Path, limits: ToolLimits) -> ChartBuild:
    """Build the chart at ``spec.chart`` in ``tree`` (read only) into ``scratch``."""
    root = Path(inside(tree, ".") or tree)
    chart_path = _chart_path(root, spec.chart)
    meta = _metadata(chart_path)
    try:
        version = with_metadata(meta.version, spec.metadata)
    except InvalidChartVersion as err:
        raise ChartBuildError(METADATA_PATCH_ERROR, str(err)) from None
    values_files = effective_values_files(spec.values_files)
    is_dir = chart_path.is_dir()
    packaging = is_dir or bool(spec.metadata) or bool(values_files)
    cached = reuse_cached(
        spec.cached,
        name=meta.name,
        version=version,
        packaged=packaging,
        values_files=spec.cached_values_files
        if spec.cached_values_files is not None
        else values_files,
    )
    if cached is not None:
        return cached
    out = scratch / "out"
    out.mkdir(parents=True, exist_ok=True)
    if not packaging:
        # A packaged chart in the source, used as it is.
        copy = out / chart_filename(meta.name, version)
        shutil.copyfile(chart_path, copy)
        return ChartBuild(meta.name, version, copy, False)
    work_chart = _workspace(root, chart_path, meta, scratch=scratch)
    merged_files: tuple[str, ...] = ()
    if values_files:
        merged_files = _write_values(root, work_chart, values_files, spec)
    dependencies = 0
    if is_dir:
        dependencies = _build_dependencies(
            scratch / "source", work_chart, meta, spec, limits=limits
        )
    try:
        tgz = package(work_chart, version=version, dest=out, limits=limits)
    except HelmError as err:
        raise ChartBuildError(CHART_PACKAGE_ERROR, str(err)) from None
    return ChartBuild(meta.name, version, tgz, True, merged_files, dependencies)


def _workspace(root: Path, chart_path: Path, meta: ChartMeta, *, scratch: Path) -> Path:
    """A private, writable copy of the chart, laid out as in the source.

    A directory chart is copied alone when it is self-contained, else with the
    whole tree (a ``file://`` dependency or a symlink may reach beside it); a
    packaged chart is extracted.
    """
    if chart_path.is_dir():
        work = scratch / "source"
        relative = chart_path.relative_to(root)
        if _self_contained(chart_path, meta):
            shutil.copytree(chart_path, work / relative, symlinks=True)
        else:
            shutil.copytree(root, work, symlinks=True)
        return work / relative
    extracted = scratch / "chart"
    try:
        extract_tarball(chart_path, extracted, max_bytes=MAX_CHART_BYTES * 10)
    except UnsafeArchiveError as err:
        raise ChartBuildError(CHART_PACKAGE_ERROR, str(err)) from None
    tops = [p for p in extracted.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise ChartBuildError(
            CHART_PACKAGE_ERROR, f"chart archive '{chart_path.name}' has no single chart folder"
        )
    return tops[0]


def _self_contained(chart_dir: Path, meta: ChartMeta) -> bool:
    """No ``file://`` dependency and no symlink that leaves the chart's folder."""
    if any(d.repository.startswith("file://") for d in meta.dependencies):
        return False
    real = os.path.realpath(chart_dir)
    for folder, dirnames, filenames in os.walk(chart_dir):
        for entry in (*dirnames, *filenames):
            path = os.path.join(folder, entry)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if os.path.commonpath([real, target]) != real:
                    return False
    return True


def _write_values(
    root: Path, work_chart: Path, values_files: Sequence[str], spec: LocalBuild
) -> tuple[str, ...]:
    """Write the merged values over the chart's values.yaml; the files that contributed.

    Nothing is written, and no file is reported, when the merge equals the
    chart's own values (as Flux's ``OverwriteChartDefaultValues``).
    """
    try:
        merged = merge_values_files(
            root, values_files, ignore_missing=spec.ignore_missing_values_files
        )
    except ValuesFilesError as err:
        raise ChartBuildError(VALUES_FILES_ERROR, str(err)) from None
    target = work_chart / "values.yaml"
    if not target.is_file() and not target.is_symlink():
        raise ChartBuildError(VALUES_FILES_ERROR, "failed to locate values file: values.yaml")
    data = merged.encode()
    if not target.is_symlink() and target.read_bytes() == data:
        return ()
    target.unlink()
    target.write_bytes(data)
    return merged.files


def _build_dependencies(
    work: Path, work_chart: Path, meta: ChartMeta, spec: LocalBuild, *, limits: ToolLimits
) -> int:
    """Fill ``charts/`` with the missing dependencies; how many there were."""
    try:
        missing = unresolved(work_chart, meta, root=work)
    except ChartError as err:
        raise ChartBuildError(DEPENDENCY_BUILD_ERROR, str(err)) from None
    if not missing:
        return 0
    had_lock = (work_chart / "Chart.lock").exists()
    remote = [d for d in missing if not d.local]
    try:
        build_dependencies(work_chart, logins=spec.logins(remote), limits=limits)
    except HelmError as err:
        raise ChartBuildError(DEPENDENCY_BUILD_ERROR, str(err)) from None
    if not had_lock:
        # helm writes a Chart.lock when it resolves from Chart.yaml; Flux's
        # build adds the dependencies alone, so the package carries none.
        (work_chart / "Chart.lock").unlink(missing_ok=True)
    return len(missing)
