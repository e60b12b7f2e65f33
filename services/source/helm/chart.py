"""A Helm chart's metadata and dependencies, read from a directory or a packaged archive.

What source-controller's ``LoadChartMetadata`` and dependency manager decide
before anything is built: the chart's name and version (checked as Helm checks
them), which declared dependencies are missing from ``charts/``, and whether
each can be resolved: a local one (``file://`` or vendored) must stay inside
the source root, a remote one must name an ``http(s)://`` or ``oci://``
repository. Reading an archive only looks at ``<chart>/Chart.yaml`` and
refuses entries that would leave the archive's root.

Exceptions::

    ChartError   the chart or a dependency cannot be used; the message says why
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from services.source.helm.chartvalues import inside
from shared.archive import MAX_ENTRIES
from shared.semver import parse_version
from shared.yaml import DocumentError, load

__all__ = ["ChartError", "ChartMeta", "Dependency", "read_archive", "read_dir", "unresolved"]

# Flux's limits (helm.MaxChartFileSize, helm.MaxChartSize).
MAX_CHART_FILE_BYTES = 5 << 20
MAX_CHART_BYTES = 10 << 20
_NAMES = ("Chart.yaml", "requirements.yaml")


class ChartError(ValueError):
    """The chart (or one of its dependencies) cannot be read or resolved."""


@dataclass(frozen=True)
class Dependency:
    """One entry of Chart.yaml's ``dependencies`` (or a lock file's)."""

    name: str
    version: str
    repository: str
    alias: str = ""

    @property
    def local(self) -> bool:
        """Vendored in ``charts/`` or a ``file://`` path: nothing to download."""
        return self.repository == "" or self.repository.startswith("file://")

    @property
    def key(self) -> str:
        """The name the dependency has in the parent chart."""
        return self.alias or self.name


@dataclass(frozen=True)
class ChartMeta:
    """A chart's name, version and declared dependencies."""

    name: str
    version: str
    dependencies: tuple[Dependency, ...] = ()


def _parse(documents: dict[str, bytes], where: str) -> ChartMeta:
    if "Chart.yaml" not in documents:
        raise ChartError(f"no 'Chart.yaml' found in {where}")
    merged: dict[str, Any] = {}
    for file in _NAMES:
        if file not in documents:
            continue
        try:
            doc = load(documents[file], source=f"{where}/{file}")
        except DocumentError as err:
            raise ChartError(f"cannot load '{file}': {err}") from None
        if doc is not None and not isinstance(doc, dict):
            raise ChartError(f"cannot load '{file}': expected a mapping")
        merged.update(doc or {})
    name, version = merged.get("name"), merged.get("version")
    if not isinstance(name, str) or not name:
        raise ChartError(f"validation: chart.metadata.name is required ({where}/Chart.yaml)")
    if name != PurePosixPath(name).name or "\\" in name:
        # Helm's rule: the name becomes a file name (<name>-<version>.tgz), so a
        # path in it would write the chart outside the folder it is built in.
        raise ChartError(
            f'validation: chart.metadata.name "{name}" is invalid ({where}/Chart.yaml)'
        )
    if not isinstance(version, str) or parse_version(version) is None:
        raise ChartError(
            f"validation: chart.metadata.version {version!r} is invalid: expected SemVer "
            f"such as 1.2.3 ({where}/Chart.yaml)"
        )
    return ChartMeta(name, version, _dependencies(merged.get("dependencies")))


def _dependencies(raw: object) -> tuple[Dependency, ...]:
    if not isinstance(raw, list):
        return ()
    deps = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            deps.append(
                Dependency(
                    name=item["name"],
                    version=str(item.get("version") or ""),
                    repository=str(item.get("repository") or ""),
                    alias=str(item.get("alias") or ""),
                )
            )
    return tuple(deps)


def _read_small(path: Path) -> bytes:
    if path.stat().st_size > MAX_CHART_FILE_BYTES:
        raise ChartError(f"size of '{path.name}' exceeds {MAX_CHART_FILE_BYTES} bytes")
    return path.read_bytes()


def read_dir(chart_dir: Path) -> ChartMeta:
    """The metadata of the chart in ``chart_dir`` (Chart.yaml, and requirements.yaml for v1)."""
    documents = {n: _read_small(chart_dir / n) for n in _NAMES if (chart_dir / n).is_file()}
    return _parse(documents, chart_dir.name)


def read_archive(archive: Path) -> ChartMeta:
    """The metadata of a packaged chart (``<chart>/Chart.yaml`` inside the .tgz)."""
    if archive.stat().st_size > MAX_CHART_BYTES:
        raise ChartError(f"size of chart '{archive.name}' exceeds {MAX_CHART_BYTES} bytes")
    documents: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_ENTRIES:
                    raise ChartError(
                        f"chart archive '{archive.name}' holds more than {MAX_ENTRIES} entries"
                    )
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    raise ChartError("chart illegally references a path outside its directory")
                if len(parts) != 2 or parts[1] not in _NAMES or not member.isreg():
                    continue
                if member.size > MAX_CHART_FILE_BYTES:
                    raise ChartError(f"size of '{member.name}' exceeds the limit")
                data = tar.extractfile(member)
                if data is not None:
                    documents[parts[1]] = data.read()
    except (OSError, tarfile.TarError, EOFError) as err:
        raise ChartError(f"cannot read chart archive '{archive.name}': {err}") from None
    return _parse(documents, archive.name)


def _present(chart_dir: Path) -> set[str]:
    """The names of the subcharts already in ``charts/`` (directories and archives)."""
    names: set[str] = set()
    charts = chart_dir / "charts"
    if not charts.is_dir():
        return names
    for entry in charts.iterdir():
        try:
            if entry.is_dir() and (entry / "Chart.yaml").is_file():
                names.add(read_dir(entry).name)
            elif entry.is_file() and entry.name.endswith(".tgz"):
                names.add(read_archive(entry).name)
        except ChartError:
            continue  # helm reports a broken subchart when it loads the chart
    return names


def _locked(chart_dir: Path, meta: ChartMeta) -> tuple[Dependency, ...]:
    for lock in ("Chart.lock", "requirements.lock"):
        path = chart_dir / lock
        if path.is_file():
            try:
                doc = load(_read_small(path), source=lock)
            except DocumentError as err:
                raise ChartError(f"cannot load '{lock}': {err}") from None
            if isinstance(doc, dict):
                return _dependencies(doc.get("dependencies"))
    return meta.dependencies


def unresolved(chart_dir: Path, meta: ChartMeta, *, root: Path) -> list[Dependency]:
    """The dependencies missing from ``charts/``, each checked as resolvable; [] when none.

    ChartError for a local one that leaves ``root`` or is not there, and for a
    remote one that names no ``http(s)://`` or ``oci://`` repository.
    """
    wanted = _locked(chart_dir, meta)
    present = _present(chart_dir)
    missing = [d for d in wanted if d.name not in present and d.key not in present]
    relative_chart = chart_dir.relative_to(root).as_posix()
    for dep in missing:
        if dep.local:
            _check_local(dep, chart=relative_chart, root=root)
        elif not dep.repository.startswith(("http://", "https://", "oci://")):
            what = (
                "aliased repository dependency is not supported"
                if dep.repository.startswith("@")
                else "invalid dependency repository URL"
            )
            raise ChartError(
                f"failed to add remote dependency '{dep.key}': {what}: {dep.repository}"
            )
    return missing


def _check_local(dep: Dependency, *, chart: str, root: Path) -> None:
    """The path helm will read for a local dependency must be a chart inside ``root``.

    Computed as helm's ``GetLocalPath`` does: ``file://`` stripped, an absolute
    path taken as it is (refused: it is outside any source), anything else
    relative to the chart.
    """
    if dep.repository == "":
        relative = f"{chart}/charts/{dep.name}"
    else:
        path = dep.repository.removeprefix("file://")
        if path.startswith("/"):
            raise ChartError(
                f"failed to add local dependency '{dep.key}': '{dep.repository}' is an "
                "absolute path; write it relative to the chart, inside the source"
            )
        relative = f"{chart}/{path}"
    target = inside(root, relative)
    if target is None:
        raise ChartError(
            f"failed to add local dependency '{dep.key}': '{dep.repository}' leaves the source root"
        )
    if not target.exists():
        raise ChartError(
            f"failed to add local dependency '{dep.key}': no chart found at "
            f"'{relative}' (reference '{dep.repository}')"
        )
