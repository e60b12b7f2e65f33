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
import os
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from services.source.chart import MAX_CHART_BYTES, ChartError, read_archive
from services.source.chartbuild import (
    CHART_PACKAGE_ERROR,
    CHART_PULL_ERROR,
    INVALID_CHART_REFERENCE,
    METADATA_PATCH_ERROR,
    VALUES_FILES_ERROR,
    ChartBuild,
    ChartBuildError,
    reuse_cached,
)
from services.source.chartvalues import ValuesFilesError, merge_values_files
from services.source.chartversion import (
    InvalidChartVersion,
    chart_filename,
    effective_values_files,
    with_metadata,
)
from services.source.helmtool import HelmError, RepositoryLogin, package, pull_oci
from shared.archive import UnsafeArchiveError, extract_tarball
from shared.semver import InvalidConstraint, Version, parse_constraint, parse_version
from shared.toolrun import ToolLimits
from shared.yaml import DocumentError, load

__all__ = [
    "IndexEntry",
    "RemoteBuild",
    "RepositoryAuthError",
    "download_chart",
    "finish_remote",
    "index_entries",
    "pick_version",
    "planned",
    "pull_chart",
    "resolve_chart_url",
]

# Flux's --helm-index-max-size default.
MAX_INDEX_BYTES = 50 << 20
_CHUNK = 1 << 16
# What source-controller reads as an authentication failure in a fetch error.
_AUTH_MARKERS = ("401", "unauthorized", "authentication required", "tls", "certificate")


class RepositoryAuthError(ChartBuildError):
    """The repository refused the credentials (HTTP 401/403) or the TLS handshake failed."""


@dataclass(frozen=True)
class IndexEntry:
    """One chart version of an index: where to download it."""

    name: str
    version: str
    urls: tuple[str, ...]
    created: str = ""


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


def index_entries(index: Path, name: str) -> list[IndexEntry]:
    """The versions of chart ``name`` in an index file; ChartBuildError when it has none."""
    if index.stat().st_size > MAX_INDEX_BYTES:
        raise ChartBuildError(CHART_PULL_ERROR, f"index is larger than {MAX_INDEX_BYTES} bytes")
    try:
        doc = load(index.read_bytes(), source="index.yaml")
    except DocumentError as err:
        raise ChartBuildError(CHART_PULL_ERROR, f"failed to load index: {err}") from None
    entries = (doc or {}).get("entries") if isinstance(doc, dict) else None
    versions = entries.get(name) if isinstance(entries, dict) else None
    if not versions:
        raise ChartBuildError(
            INVALID_CHART_REFERENCE,
            f"failed to get chart version for remote reference: no chart name found: '{name}'",
        )
    found = []
    for item in versions:
        if isinstance(item, dict) and isinstance(item.get("version"), str):
            urls = item.get("urls") or []
            found.append(
                IndexEntry(
                    name=str(item.get("name") or name),
                    version=item["version"],
                    urls=tuple(str(u) for u in urls if isinstance(u, str)),
                    created=str(item.get("created") or ""),
                )
            )
    return found


def pick_version(entries: Sequence[IndexEntry], constraint: str, *, name: str) -> IndexEntry:
    """The entry Flux picks for ``constraint``; ChartBuildError naming the range when none fits."""
    for entry in entries:
        if constraint and entry.version == constraint:
            return entry
    try:
        parsed = parse_constraint(constraint or "*")
    except InvalidConstraint as err:
        raise ChartBuildError(INVALID_CHART_REFERENCE, str(err)) from None
    matching: list[tuple[Version, IndexEntry]] = []
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

    def order(a: tuple[Version, IndexEntry], b: tuple[Version, IndexEntry]) -> int:
        by_version = a[0].compare(b[0])
        if by_version:
            return by_version
        return (a[1].created > b[1].created) - (a[1].created < b[1].created)

    return max(matching, key=functools.cmp_to_key(order))[1]


def resolve_chart_url(repository_url: str, reference: str) -> str:
    """Helm's ``ResolveReferenceURL``: an absolute URL as it is, else relative to the repository."""
    if urlsplit(reference).scheme:
        return reference
    parts = urlsplit(repository_url)
    base = parts._replace(path=parts.path.rstrip("/") + "/").geturl()
    resolved = urlsplit(urljoin(base, reference))
    return resolved._replace(query=parts.query).geturl()


@contextmanager
def _tls(login: RepositoryLogin | None) -> Iterator[ssl.SSLContext | bool]:
    """The TLS settings for httpx; a client key goes through a private file for the time of it."""
    if login is None or not (login.ca_pem or login.cert_pem):
        yield True
        return
    context = ssl.create_default_context(cadata=login.ca_pem.decode() if login.ca_pem else None)
    if login.cert_pem and login.key_pem:
        with tempfile.TemporaryDirectory(prefix="sluice-tls-") as home:
            cert, key = Path(home) / "tls.crt", Path(home) / "tls.key"
            for path, data in ((cert, login.cert_pem), (key, login.key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            context.load_cert_chain(cert, key)
    yield context


def download_chart(
    url: str,
    dest: Path,
    *,
    repository_url: str,
    login: RepositoryLogin | None,
    timeout: float,
) -> Path:
    """GET the chart archive at ``url`` into ``dest``; credentials only where helm sends them."""
    auth = None
    same_host = urlsplit(url).netloc == urlsplit(repository_url).netloc
    if login is not None and login.username and (same_host or login.pass_credentials):
        auth = httpx.BasicAuth(login.username, login.password)
    size = 0
    try:
        with (
            _tls(login) as verify,
            httpx.Client(verify=verify, timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url, auth=auth) as response,
        ):
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
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > MAX_CHART_BYTES:
                        raise ChartBuildError(
                            CHART_PULL_ERROR, f"chart at {url} is larger than {MAX_CHART_BYTES}"
                        )
                    out.write(chunk)
    except (httpx.HTTPError, ssl.SSLError) as err:
        raise ChartBuildError(
            CHART_PULL_ERROR, f"failed to download chart for remote reference: GET {url}: {err}"
        ) from None
    return dest


def pull_chart(
    url: str,
    chart: str,
    *,
    version: str,
    dest: Path,
    login: RepositoryLogin | None,
    insecure: bool,
    limits: ToolLimits,
) -> Path:
    """``helm pull`` of ``chart`` from the OCI repository ``url``; ChartBuildError says why not."""
    reference = f"{url.rstrip('/')}/{chart}"
    try:
        return pull_oci(
            reference, version=version, dest=dest, login=login, insecure=insecure, limits=limits
        )
    except HelmError as err:
        text = str(err)
        if any(marker in text.lower() for marker in _AUTH_MARKERS):
            raise RepositoryAuthError(
                CHART_PULL_ERROR, f"failed to authenticate with the Helm repository: {text}"
            ) from None
        raise ChartBuildError(
            CHART_PULL_ERROR, f"failed to pull chart '{reference}': {text}"
        ) from None


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


def planned(spec: RemoteBuild, entry: IndexEntry) -> tuple[str, ChartBuild | None]:
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
