"""A chart's ``crds/``, applied before install and upgrade by the HelmRelease's ``crds`` policy.

helm-controller never lets Helm handle ``crds/`` (it runs every action with
``SkipCRDs``) and applies them itself first (internal/action/crds.go), with
the HelmRelease's owner labels:

- ``Skip``: nothing is applied;
- ``Create`` (the default of install and upgrade): the CRDs not on the
  cluster are created, those present are left as they are (Helm's own
  install rule, and on upgrade too, where Helm would do nothing);
- ``CreateReplace``: every CRD is created or updated to the chart's.

Then it waits until the CRDs it applied are Established (60s), so the
release's custom resources can be applied. CRDs are never deleted, and
objects of other kinds in ``crds/`` are left out, as Flux does.

The CRDs are those of the chart and of its enabled subcharts (Helm's
``CRDObjects`` after ``ProcessDependencies``): a dependency is left out when
its ``tags`` are all false or its ``condition`` is false in the values (the
chart's and its subcharts' defaults under the release's values). The
packaged chart is extracted with ``shared.archive`` (no entry may escape,
at most 100 MiB, Helm's limit for a chart), nested ``.tgz`` subcharts too.

Exceptions::

    ChartCrdsError   the chart's crds/ cannot be read, or applying them failed
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.helm.chart import ChartError, chart_root
from shared.api.helmactions import CrdsPolicy
from shared.archive import UnsafeArchiveError, extract_tarball
from shared.helmvalues import merge_maps
from shared.kube.apply import ApplyError, ApplyOptions, apply
from shared.kube.client import KubeClient
from shared.kube.errors import KubeError
from shared.kube.inventory import Action
from shared.kube.owner import Owner
from shared.yaml import DocumentError, load, load_all

__all__ = ["CRD_WAIT", "MAX_CHART_BYTES", "ChartCrdsError", "apply_chart_crds", "chart_crds"]

CRD_WAIT = 60.0
"""How long applied CRDs may take to be Established (Flux's fixed 60s)."""
MAX_CHART_BYTES = 100 << 20
"""The most a chart may hold once extracted (Helm's MaxDecompressedChartSize)."""
_MAX_DEPTH = 10  # subcharts of subcharts: far deeper than any real chart
_MANIFEST = (".yaml", ".yml", ".json")
_CRD_GROUP = "apiextensions.k8s.io"
_CRD_KIND = "CustomResourceDefinition"


class ChartCrdsError(RuntimeError):
    """The chart's crds/ cannot be read, or applying them failed or timed out."""


@dataclass(frozen=True)
class _Dependency:
    """One entry of Chart.yaml's ``dependencies``, as far as enabling it goes."""

    name: str
    alias: str = ""
    condition: str = ""
    tags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The subchart's name in values and in the chart: its alias, else its name."""
        return self.alias or self.name


@dataclass(frozen=True)
class _Chart:
    """A loaded chart: its crds/ files, its values, its dependencies and subcharts."""

    name: str
    crd_files: tuple[tuple[str, bytes], ...]
    values: Mapping[str, Any]
    dependencies: tuple[_Dependency, ...]
    subcharts: tuple[_Chart, ...] = field(default=())


def _yaml_map(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        loaded = load(path.read_bytes(), source=path.name)
    except DocumentError as err:
        raise ChartCrdsError(f"cannot read {path.name} of the chart: {err}") from None
    return loaded if isinstance(loaded, dict) else {}


def _dependencies(root: Path, meta: Mapping[str, Any]) -> tuple[_Dependency, ...]:
    # apiVersion v1 charts list them in requirements.yaml.
    listed = meta.get("dependencies") or _yaml_map(root / "requirements.yaml").get("dependencies")
    found: list[_Dependency] = []
    for entry in listed or []:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            continue
        tags = entry.get("tags") or []
        found.append(
            _Dependency(
                name=str(entry["name"]),
                alias=str(entry.get("alias") or ""),
                condition=str(entry.get("condition") or ""),
                tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            )
        )
    return tuple(found)


def _crd_files(root: Path) -> tuple[tuple[str, bytes], ...]:
    crds = root / "crds"
    if not crds.is_dir():
        return ()
    files = sorted(p for p in crds.rglob("*") if p.is_file() and p.suffix.lower() in _MANIFEST)
    return tuple((str(p.relative_to(root)), p.read_bytes()) for p in files)


def _chart_root(tree: Path, label: str) -> Path:
    try:
        return chart_root(tree)
    except ChartError as err:
        raise ChartCrdsError(f"{label}: {err}") from None


class _Budget:
    """Bytes still allowed for one chart, its packaged subcharts included."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def extract(self, archive: Path, scratch: Path, label: str) -> Path:
        """Extract ``archive`` under ``scratch`` within the budget; the chart's root."""
        dest = Path(tempfile.mkdtemp(prefix="chart-", dir=scratch))
        try:
            extract_tarball(archive, dest, max_bytes=self.left)
        except UnsafeArchiveError as err:
            raise ChartCrdsError(f"cannot read {label}: {err}") from None
        # Nested .tgz subcharts share the chart's limit: no bomb of bombs.
        self.left -= sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        return _chart_root(dest, label)


def _load(root: Path, scratch: Path, budget: _Budget, depth: int = 0) -> _Chart:
    if depth > _MAX_DEPTH:
        raise ChartCrdsError(f"subcharts nested more than {_MAX_DEPTH} deep")
    meta = _yaml_map(root / "Chart.yaml")
    subcharts: list[_Chart] = []
    charts = root / "charts"
    if charts.is_dir():
        for entry in sorted(charts.iterdir()):
            if entry.is_dir() and (entry / "Chart.yaml").is_file():
                subcharts.append(_load(entry, scratch, budget, depth + 1))
            elif entry.is_file() and entry.name.endswith(".tgz"):
                sub_root = budget.extract(entry, scratch, f"subchart {entry.name}")
                subcharts.append(_load(sub_root, scratch, budget, depth + 1))
    return _Chart(
        name=str(meta.get("name") or root.name),
        crd_files=_crd_files(root),
        values=_yaml_map(root / "values.yaml"),
        dependencies=_dependencies(root, meta),
        subcharts=tuple(subcharts),
    )


def _path_value(values: Mapping[str, Any], path: str) -> object:
    current: object = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _enabled(dep: _Dependency, values: Mapping[str, Any], prefix: str) -> bool:
    # Helm's processDependencyTags, then processDependencyConditions (which win).
    tags = values.get("tags")
    enabled = True
    if isinstance(tags, Mapping):
        seen = [tags[t] for t in dep.tags if isinstance(tags.get(t), bool)]
        enabled = any(seen) or not seen
    for condition in dep.condition.strip().split(","):
        value = _path_value(values, prefix + condition.strip()) if condition.strip() else None
        if isinstance(value, bool):
            return value
    return enabled


def _subcharts(chart: _Chart) -> Iterator[tuple[_Chart, _Dependency | None]]:
    """Each subchart as the chart uses it: named by its alias, with its Chart.yaml entry."""
    listed = {dep.name for dep in chart.dependencies}
    # Subcharts in charts/ that Chart.yaml does not list are always part of the chart.
    yield from ((sub, None) for sub in chart.subcharts if sub.name not in listed)
    by_name = {sub.name: sub for sub in chart.subcharts}
    for dep in chart.dependencies:
        sub = by_name.get(dep.name)
        if sub is not None:
            yield _Chart(dep.key, sub.crd_files, sub.values, sub.dependencies, sub.subcharts), dep


def _coalesced(chart: _Chart, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` over the chart's defaults, each subchart's defaults under its name."""
    merged = merge_maps(chart.values, values)
    for sub, _ in _subcharts(chart):
        own = merged.get(sub.name)
        merged[sub.name] = _coalesced(sub, own if isinstance(own, Mapping) else {})
    return merged


def _crd_sources(
    chart: _Chart, values: Mapping[str, Any], *, path: str = "", where: str = ""
) -> Iterator[tuple[str, bytes]]:
    """Each crds/ file (named ``charts/<sub>/crds/...``) of the chart and its enabled subcharts.

    ``path`` is the chart's place in the values (``sub.``), where conditions are read.
    """
    yield from ((f"{where}{name}", data) for name, data in chart.crd_files)
    for sub, dep in _subcharts(chart):
        if dep is not None and not _enabled(dep, values, path):
            continue
        yield from _crd_sources(
            sub, values, path=f"{path}{sub.name}.", where=f"{where}charts/{sub.name}/"
        )


def _is_crd(doc: Mapping[str, Any]) -> bool:
    group = str(doc.get("apiVersion", "")).partition("/")[0]
    return group == _CRD_GROUP and doc.get("kind") == _CRD_KIND


def chart_crds(
    chart: Path,
    *,
    values: Mapping[str, Any] | None = None,
    scratch: Path | None = None,
    max_bytes: int = MAX_CHART_BYTES,
) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of ``chart`` (packaged, or a directory) and its subcharts.

    ``values`` are the release's (they enable subcharts); ``scratch`` is where
    the chart is extracted (the system's temporary directory when None);
    ``max_bytes`` bounds its content, packaged subcharts included.
    Raises ChartCrdsError for an unreadable chart or a crds/ file that is not YAML.
    """
    with tempfile.TemporaryDirectory(prefix="sluice-crds-", dir=scratch) as tmp:
        budget = _Budget(max_bytes)
        # A directory is an artifact the worker unpacked within its own limits.
        root = chart if chart.is_dir() else budget.extract(chart, Path(tmp), chart.name)
        loaded = _load(root, Path(tmp), budget)
        values = _coalesced(loaded, values or {})
        crds: list[dict[str, Any]] = []
        for source, data in _crd_sources(loaded, values):
            try:
                docs = load_all(data, source=source)
            except DocumentError as err:
                raise ChartCrdsError(f"cannot read {source} of the chart: {err}") from None
            crds += [d for d in docs if isinstance(d, dict) and _is_crd(d)]
    return crds


def _names(crds: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str((c.get("metadata") or {}).get("name", "")) for c in crds]


def apply_chart_crds(
    client: KubeClient,
    chart: Path,
    *,
    policy: CrdsPolicy,
    owner: Owner,
    values: Mapping[str, Any] | None = None,
    timeout: float = CRD_WAIT,
    scratch: Path | None = None,
) -> list[str]:
    """Apply the chart's CRDs by ``policy``, wait until Established; the names created or changed.

    ``owner`` is the HelmRelease (``Owner.helm_release``): its labels go on
    each CRD applied. Raises ChartCrdsError when the chart cannot be read,
    the API server refuses a CRD, or one is not Established in ``timeout``.
    """
    if policy == "Skip":
        return []
    crds = chart_crds(chart, values=values, scratch=scratch)
    if not crds:
        return []
    try:
        if policy == "Create":
            crds = [c for c in crds if client.get(c) is None]
        changes = apply(client, crds, owner=owner, options=ApplyOptions(wait_timeout=timeout))
    except ApplyError as err:
        raise ChartCrdsError(f"failed to apply CustomResourceDefinitions: {err}") from None
    except KubeError as err:
        raise ChartCrdsError(f"failed to apply CustomResourceDefinitions: {err}") from None
    done = {Action.CREATED, Action.CONFIGURED}
    changed = {c.ref.name for c in changes if c.action in done}
    return [name for name in _names(crds) if name in changed]
