"""Build a chart from a Helm repository, as Flux's remote builder: pick, download, maybe repackage.

1. the version: from an HTTP repository's index (the HelmRepository's
   artifact), the entry that equals ``spec.version`` exactly, else the highest
   matching the range (``*`` by default; the newer ``created`` wins a tie);
2. when the stored artifact is that same name and version and the spec did
   not change, nothing is downloaded (an unchanged interval costs one index
   lookup);
3. download ``urls[0]`` (relative to the repository URL, or absolute), with
   the repository's credentials only on the repository's own host unless
   ``passCredentials``; check it is a chart;
4. with ``valuesFiles`` (paths inside the chart; ``values.yaml`` is the
   chart's own) or build metadata, extract it safely, merge the values and
   repackage it with helm at ``<version>+<generation>``.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from services.source.helm.chart import MAX_CHART_BYTES, ChartError, read_archive
from services.source.helm.chartbuild import (
    CHART_PACKAGE_ERROR,
    CHART_PULL_ERROR,
    INVALID_CHART_REFERENCE,
    METADATA_PATCH_ERROR,
    VALUES_FILES_ERROR,
    ChartBuild,
    ChartBuildError,
    reuse_cached,
)
from services.source.helm.chartindex import ChartVersion, InvalidIndex, parse_index
from services.source.helm.chartvalues import ValuesFilesError, merge_values_files
from services.source.helm.chartversion import (
    InvalidChartVersion,
    chart_filename,
    effective_values_files,
    with_metadata,
)
from services.source.helm.helmauth import RepositoryAuth
from services.source.helm.helmtool import HelmError, package
from shared.archive import UnsafeArchiveError, extract_tarball
from shared.oci import (
    HELM_CHART_MEDIA_TYPE,
    LayerNotFoundError,
    OciError,
)
from shared.oci import AuthenticationError as RegistryAuthenticationError
from shared.oci.manifest import Descriptor, Manifest
from shared.oci.reference import InvalidReferenceError, parse_repository_url
from shared.semver import InvalidConstraint, Version, parse_constraint, parse_version
from shared.toolrun import ToolLimits

__all__ = [
    "RemoteBuild",
    "RepositoryAuthError",
    "chart_versions",
    "download_chart",
    "finish_remote",
    "oci_versions",
    "pick_version",
    "planned",
    "pull_chart",
    "resolve_chart_url",
]

# Flux's --helm-index-max-size default.
MAX_INDEX_BYTES = 50 << 20
_LEGACY_CHART_MEDIA_TYPE = "application/tar+gzip"


class RepositoryAuthError(ChartBuildError):
    """The repository refused the credentials (HTTP 401/403) or the TLS handshake failed."""


@dataclass(frozen=True)
class RemoteBuild:
    """What to build from a Helm repository (the HelmChart spec, as the remote builder takes it)."""

    chart: str
    version: str
    metadata: str
    values_files: Sequence[str] = ()
    ignore_missing_values_files: bool = False
    cached: Path | None = None
    cached_values_files: tuple[str, ...] | None = None


def chart_versions(index: Path, name: str) -> tuple[ChartVersion, ...]:
    """The versions of chart ``name`` in an index artifact; ChartBuildError when it has none."""
    if index.stat().st_size > MAX_INDEX_BYTES:
        raise ChartBuildError(CHART_PULL_ERROR, f"index is larger than {MAX_INDEX_BYTES} bytes")
    try:
        versions = parse_index(index.read_bytes()).versions(name)
    except InvalidIndex as err:
        raise ChartBuildError(CHART_PULL_ERROR, f"failed to load index: {err}") from None
    if not versions:
        raise ChartBuildError(
            INVALID_CHART_REFERENCE,
            f"failed to get chart version for remote reference: no chart name found: '{name}'",
        )
    return versions


def oci_versions(url: str, name: str, *, auth: RepositoryAuth) -> tuple[ChartVersion, ...]:
    """The chart versions an OCI repository holds: its tags (``+`` is ``_`` in a tag, as
    ``helm push`` writes it)."""
    try:
        repository = parse_repository_url(f"{url.rstrip('/')}/{name}")
    except InvalidReferenceError as err:
        raise ChartBuildError(INVALID_CHART_REFERENCE, str(err), spec_error=True) from None
    try:
        with auth.registry_client(repository) as client:
            tags = client.tags()
    except RegistryAuthenticationError as err:
        raise RepositoryAuthError(
            CHART_PULL_ERROR, f"failed to authenticate with the Helm repository: {err}"
        ) from None
    except OciError as err:
        raise ChartBuildError(CHART_PULL_ERROR, f"failed to list the chart's tags: {err}") from None
    return tuple(ChartVersion(name=name, version=t.replace("_", "+"), urls=()) for t in tags)


def pick_version(entries: Sequence[ChartVersion], constraint: str, *, name: str) -> ChartVersion:
    """The entry Flux picks for ``constraint``; ChartBuildError naming the range when none fits."""
    for entry in entries:
        if constraint and entry.version == constraint:
            return entry
    try:
        parsed = parse_constraint(constraint or "*")
    except InvalidConstraint as err:
        raise ChartBuildError(INVALID_CHART_REFERENCE, str(err)) from None
    matching: list[tuple[Version, ChartVersion]] = []
    for entry in entries:
        version = parse_version(entry.version)
        if version is not None and parsed.check(version):
            matching.append((version, entry))
    if not matching:
        raise ChartBuildError(
            INVALID_CHART_REFERENCE,
            "failed to get chart version for remote reference: "
            f"no '{name}' chart with version matching '{constraint}' found",
        )

    def order(a: tuple[Version, ChartVersion], b: tuple[Version, ChartVersion]) -> int:
        by_version = a[0].compare(b[0])
        if by_version:
            return by_version
        left, right = _created(a[1]), _created(b[1])
        return (left > right) - (left < right)

    return max(matching, key=functools.cmp_to_key(order))[1]


def _created(entry: ChartVersion) -> str:
    return str(entry.document.get("created") or "")


def resolve_chart_url(repository_url: str, reference: str) -> str:
    """Helm's ``ResolveReferenceURL``: an absolute URL as it is, else relative to the repository."""
    if urlsplit(reference).scheme:
        return reference
    parts = urlsplit(repository_url)
    base = parts._replace(path=parts.path.rstrip("/") + "/").geturl()
    resolved = urlsplit(urljoin(base, reference))
    return resolved._replace(query=parts.query).geturl()


def download_chart(url: str, dest: Path, *, auth: RepositoryAuth) -> Path:
    """GET the chart archive at ``url`` into ``dest``; credentials only where helm sends them."""
    login = auth.credentials_for(url)
    size = 0
    # httpx's timeout bounds each read; the repository's timeout bounds the whole download.
    deadline = time.monotonic() + auth.timeout
    try:
        with auth.client().stream(
            "GET", url, auth=httpx.BasicAuth(*login) if login else None
        ) as response:
            if response.status_code in (401, 403):
                raise RepositoryAuthError(
                    CHART_PULL_ERROR,
                    f"failed to authenticate with the Helm repository: GET {url}: "
                    f"HTTP {response.status_code}",
                )
            if response.status_code != 200:
                raise ChartBuildError(
                    CHART_PULL_ERROR,
                    f"failed to download chart for remote reference: GET {url}: "
                    f"HTTP {response.status_code}",
                )
            with dest.open("wb") as out:
                # Each read as it comes: a chunk size would wait for 64 KiB past the deadline.
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_CHART_BYTES:
                        raise ChartBuildError(
                            CHART_PULL_ERROR, f"chart at {url} is larger than {MAX_CHART_BYTES}"
                        )
                    if time.monotonic() > deadline:
                        raise ChartBuildError(
                            CHART_PULL_ERROR,
                            f"failed to download chart for remote reference: GET {url}: "
                            f"the chart did not arrive within the timeout ({auth.timeout:g}s)",
                        )
                    out.write(chunk)
    except ssl.SSLError as err:
        raise RepositoryAuthError(
            CHART_PULL_ERROR, f"failed to authenticate with the Helm repository: {err}"
        ) from None
    except httpx.HTTPError as err:
        raise ChartBuildError(
            CHART_PULL_ERROR, f"failed to download chart for remote reference: GET {url}: {err}"
        ) from None
    return dest


def pull_chart(url: str, chart: str, *, version: str, dest: Path, auth: RepositoryAuth) -> Path:
    """The chart layer of ``chart`` at ``version`` in the OCI repository ``url``, as ``helm pull``.

    Read with shared/oci rather than ``helm pull``, which has no size limit: the
    layer is refused past Helm's chart size limit before a byte of it is written,
    checked against its digest, and the whole pull ends within the repository's timeout.
    """
    reference = f"{url.rstrip('/')}/{chart}"
    try:
        repository = parse_repository_url(reference)
    except InvalidReferenceError as err:
        raise ChartBuildError(INVALID_CHART_REFERENCE, str(err), spec_error=True) from None
    dest.mkdir(parents=True, exist_ok=True)
    tgz = dest / "chart.tgz"
    try:
        with auth.registry_client(repository) as client:
            manifest = client.manifest(version.replace("+", "_"))  # helm push's tag
            client.fetch_blob(_chart_layer(manifest), tgz, max_bytes=MAX_CHART_BYTES)
    except RegistryAuthenticationError as err:
        raise RepositoryAuthError(
            CHART_PULL_ERROR, f"failed to authenticate with the Helm repository: {err}"
        ) from None
    except OciError as err:
        tgz.unlink(missing_ok=True)
        text = str(err)
        if any(marker in text.lower() for marker in ("tls", "certificate")):
            raise RepositoryAuthError(
                CHART_PULL_ERROR, f"failed to authenticate with the Helm repository: {text}"
            ) from None
        raise ChartBuildError(
            CHART_PULL_ERROR, f"failed to pull chart '{reference}': {text}"
        ) from None
    return tgz


def _chart_layer(manifest: Manifest) -> Descriptor:
    """The chart layer (Helm also reads the legacy ``application/tar+gzip`` one)."""
    for media_type in (HELM_CHART_MEDIA_TYPE, _LEGACY_CHART_MEDIA_TYPE):
        for layer in manifest.layers:
            if layer.media_type == media_type:
                return layer
    raise LayerNotFoundError(f"manifest {manifest.digest} has no Helm chart layer")


def finish_remote(
    tgz: Path, spec: RemoteBuild, *, name: str, version: str, scratch: Path, limits: ToolLimits
) -> ChartBuild:
    """The downloaded chart as the artifact: as it is, or repackaged with values and metadata."""
    try:
        meta = read_archive(tgz)
    except ChartError as err:
        raise ChartBuildError(CHART_PULL_ERROR, f"failed to load chart metadata: {err}") from None
    if meta.name != name:
        raise ChartBuildError(
            CHART_PULL_ERROR, f"downloaded chart is '{meta.name}', the index says '{name}'"
        )
    values_files = effective_values_files(spec.values_files)
    if not values_files and not spec.metadata:
        out = scratch / chart_filename(name, version)
        tgz.replace(out)
        return ChartBuild(name, version, out, packaged=False)
    chart_dir = _extract(tgz, scratch / "chart")
    merged_files: tuple[str, ...] = ()
    if values_files:
        merged_files = _merge_into(chart_dir, values_files, spec)
    try:
        packaged = package(chart_dir, version=version, dest=scratch / "out", limits=limits)
    except HelmError as err:
        raise ChartBuildError(CHART_PACKAGE_ERROR, str(err)) from None
    return ChartBuild(name, version, packaged, True, merged_files)


def planned(spec: RemoteBuild, entry: ChartVersion) -> tuple[str, ChartBuild | None]:
    """The artifact version for ``entry``, and the stored chart when it can stay."""
    try:
        version = with_metadata(entry.version, spec.metadata)
    except InvalidChartVersion as err:
        raise ChartBuildError(METADATA_PATCH_ERROR, str(err)) from None
    values_files = effective_values_files(spec.values_files)
    cached = reuse_cached(
        spec.cached,
        name=entry.name,
        version=version,
        packaged=bool(values_files or spec.metadata),
        values_files=spec.cached_values_files
        if spec.cached_values_files is not None
        else values_files,
    )
    return version, cached


def _extract(tgz: Path, dest: Path) -> Path:
    try:
        extract_tarball(tgz, dest, max_bytes=MAX_CHART_BYTES * 10)
    except UnsafeArchiveError as err:
        raise ChartBuildError(
            CHART_PACKAGE_ERROR, f"failed to load downloaded chart: {err}"
        ) from None
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise ChartBuildError(CHART_PACKAGE_ERROR, "downloaded chart has no single chart folder")
    return tops[0]


def _merge_into(chart_dir: Path, values_files: Sequence[str], spec: RemoteBuild) -> tuple[str, ...]:
    try:
        merged = merge_values_files(
            chart_dir, values_files, ignore_missing=spec.ignore_missing_values_files
        )
    except ValuesFilesError as err:
        raise ChartBuildError(VALUES_FILES_ERROR, f"failed to merge chart values: {err}") from None
    target = chart_dir / "values.yaml"
    data = merged.encode()
    if target.is_file() and not target.is_symlink() and target.read_bytes() == data:
        return ()
    target.unlink(missing_ok=True)
    target.write_bytes(data)
    return merged.files
