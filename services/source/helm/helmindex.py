"""A Helm repository's ``index.yaml``, downloaded only when it changed, kept once per machine.

One cache entry per repository URL and credentials (however many
HelmRepository objects name them), in a folder named by a keyed digest of
both: never a secret in a file name, and a digest no one can test passwords
against without the installation's own key. An entry holds the last index and
the server's validators (``ETag``, ``Last-Modified``); the next fetch is a
conditional GET, so an unchanged index costs the server a 304 and no body.
A lock per entry makes concurrent reconciles of one URL (on this machine)
take turns: the second one sees the first one's download and gets its 304.
The artifact made of an index is kept with it, so N objects parse a new
revision once. An entry no fetch used for a week goes when a new entry is made.

::

    IndexFetchError        the index could not be fetched (HTTP status, network, TLS)
    IndexTooLarge          the index is larger than MAX_INDEX_SIZE
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from filelock import FileLock

from services.source.helm.helmauth import RepositoryAuth

__all__ = [
    "MAX_INDEX_SIZE",
    "UNUSED_TTL",
    "IndexFetch",
    "IndexFetchError",
    "IndexTooLarge",
    "fetch_index",
    "index_url",
]

# Flux's default --helm-index-max-size.
MAX_INDEX_SIZE = 50 << 20
# A cache entry unused this long is removed when a new one is made.
UNUSED_TTL = 7 * 24 * 3600.0
_CHUNK = 1 << 16
_INDEX = "index.yaml"
_VALIDATORS = "validators.json"
_CONVERTED = "converted-"


class IndexFetchError(RuntimeError):
    """The index could not be fetched; the message names the URL (never credentials)."""


class IndexTooLarge(IndexFetchError):
    """The index is larger than :data:`MAX_INDEX_SIZE`."""


@dataclass(frozen=True)
class IndexFetch:
    """The repository's current index: its revision, and the artifact when the caller lacks it.

    ``artifact`` (the index as ``convert`` made it) is None when ``revision``
    is the one the caller said it has; ``downloaded`` says a body came over
    the wire this time (not a 304).
    """

    revision: str
    artifact: bytes | None
    downloaded: bool


def index_url(url: str) -> str:
    """Where the index of repository ``url`` is: ``<path>/index.yaml``, the query kept, as Helm."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + _INDEX))


def fetch_index(
    auth: RepositoryAuth,
    *,
    cache_dir: Path,
    convert: Callable[[bytes], bytes],
    have_revision: str = "",
) -> IndexFetch:
    """The current index of ``auth.url``: a conditional GET against the cached copy.

    ``convert`` turns a new index into the artifact's bytes (and raises when
    it is no index); its result is cached with the index, so the objects
    that share a repository parse each revision once. Raises
    IndexFetchError (with a message fit for a condition) when the server
    cannot be reached, refuses the credentials, or answers anything but 200
    or 304.
    """
    entry = cache_dir / _entry_name(cache_dir, auth)
    if not entry.is_dir():
        _sweep(cache_dir)
        entry.mkdir(parents=True, exist_ok=True)
    with FileLock(entry / ".lock"):
        os.utime(entry)  # in use: the sweep keeps it
        cached = _cached(entry)
        fresh = _download(auth, entry, cached)
        if fresh is None:  # 304: the cached copy is current
            assert cached is not None
            revision, downloaded = cached.revision, False
        else:
            revision, downloaded = fresh, True
        artifact = None if revision == have_revision else _converted(entry, revision, convert)
    return IndexFetch(revision=revision, artifact=artifact, downloaded=downloaded)


def _converted(entry: Path, revision: str, convert: Callable[[bytes], bytes]) -> bytes:
    """``convert`` of the entry's index, made once per revision and kept beside it."""
    path = entry / f"{_CONVERTED}{revision.removeprefix('sha256:')}"
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    artifact = convert((entry / _INDEX).read_bytes())
    for old in entry.glob(f"{_CONVERTED}*"):
        old.unlink(missing_ok=True)
    _write_atomically(path, artifact)
    return artifact


@dataclass(frozen=True)
class _Cached:
    revision: str
    etag: str
    last_modified: str


def _entry_name(cache_dir: Path, auth: RepositoryAuth) -> str:
    """A keyed digest of URL and credentials: the same for every object that shares them."""
    return hmac.new(_cache_key(cache_dir), auth.fingerprint(), hashlib.sha256).hexdigest()


def _cache_key(cache_dir: Path) -> bytes:
    """This cache's random key, made once (the first writer wins a race; others read it)."""
    path = cache_dir / ".key"
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    cache_dir.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".key.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(secrets.token_bytes(32))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic and never replaces another writer's key
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def _sweep(cache_dir: Path, *, now: float | None = None) -> None:
    """Remove entries no fetch used for :data:`UNUSED_TTL` (deleted repositories, old logins)."""
    limit = (time.time() if now is None else now) - UNUSED_TTL
    with contextlib.suppress(FileNotFoundError):
        for child in cache_dir.iterdir():
            with contextlib.suppress(OSError):
                if child.is_dir() and child.stat().st_mtime < limit:
                    shutil.rmtree(child)


def _cached(entry: Path) -> _Cached | None:
    """The cached index's validators, when the index is there with the recorded digest."""
    try:
        meta = json.loads((entry / _VALIDATORS).read_text())
        revision = str(meta["revision"])
        if _digest_file(entry / _INDEX) != revision:
            return None
        return _Cached(revision, str(meta.get("etag") or ""), str(meta.get("lastModified") or ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _download(auth: RepositoryAuth, entry: Path, cached: _Cached | None) -> str | None:
    """GET the index into the entry: its revision, or None on a 304 for ``cached``."""
    url = index_url(auth.url)
    headers = {}
    if cached is not None:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
    credentials = auth.credentials_for(url)
    # httpx's timeout bounds each read; spec.timeout bounds the whole fetch, as Go's does.
    deadline = time.monotonic() + auth.timeout
    try:
        with auth.client().stream("GET", url, headers=headers, auth=credentials) as response:
            if response.status_code == 304 and cached is not None:
                return None
            if response.status_code != 200:
                raise IndexFetchError(
                    f"failed to fetch {url} : {response.status_code} {response.reason_phrase}"
                )
            revision = _receive(response, entry, deadline=deadline)
            validators = {
                "revision": revision,
                "etag": response.headers.get("ETag", ""),
                "lastModified": response.headers.get("Last-Modified", ""),
            }
    except httpx.HTTPError as err:
        raise IndexFetchError(f"failed to fetch {url} : {_network_error(err)}") from err
    _write_atomically(entry / _VALIDATORS, json.dumps(validators).encode())
    return revision


def _receive(response: httpx.Response, entry: Path, *, deadline: float) -> str:
    """Stream the body into ``entry/index.yaml`` (atomically); its ``sha256:<hex>``."""
    digest = hashlib.sha256()
    size = 0
    handle, tmp = tempfile.mkstemp(dir=entry, prefix=".index.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            # Each read as it comes: a chunk size would wait for 64 KiB past the deadline.
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_INDEX_SIZE:
                    raise IndexTooLarge(
                        f"index exceeds the maximum index file size of {MAX_INDEX_SIZE} bytes"
                    )
                if time.monotonic() > deadline:
                    raise IndexFetchError(
                        f"{response.url}: the index did not arrive within the timeout"
                    )
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, entry / _INDEX)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return f"sha256:{digest.hexdigest()}"


def _network_error(err: httpx.HTTPError) -> str:
    """What went wrong, in words a user acts on (a TLS failure names the fix)."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate verification failed: {cause.verify_message}; "
                "put the CA that signed the server's certificate as ca.crt in the Secret "
                "named by spec.certSecretRef"
            )
        cause = cause.__cause__ or cause.__context__
    return str(err) or type(err).__name__


def _write_atomically(path: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _digest_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
