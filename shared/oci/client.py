"""A client of the OCI distribution API over httpx: tags, manifests, blobs, pushes.

Why httpx and not a registry library: httpx is already sluice's HTTP client,
and PyPI's OCI client (``oras``, on requests) has no per-registry client
certificate, gives no control over the cheap ``HEAD`` that resolves a tag, and
does not verify what it downloads against the digest it asked for. The part of
the distribution API a GitOps source needs is small: it is all here.

One client talks to one repository. Authentication follows the registry's
``WWW-Authenticate`` challenge on the first 401: ``Basic`` with the
credentials, or ``Bearer`` with a token from the challenge's realm (asked with
the credentials, anonymous when there are none), scoped to the repository
(``pull``, plus ``push`` for a pushing client). HTTPS is tried first; a
registry on loopback, ``localhost`` or a private address that does not speak
TLS is then reached over HTTP (as go-containerregistry does); ``insecure=True``
allows HTTP for any registry and, without TLS material, accepts any
certificate (source-controller's ``spec.insecure``). Every manifest and blob
read is checked against its digest; credentials never appear in a message.

Errors are the tree of ``shared.oci.errors``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from shared.oci.auth import Challenge, RegistryCredentials, TlsMaterial, parse_challenge
from shared.oci.errors import (
    AuthenticationError,
    DigestMismatchError,
    NotFoundError,
    OciError,
    RegistryError,
)
from shared.oci.logins import (
    BASIC_SECONDS,
    DEFAULT_TOKEN_SECONDS,
    Login,
    LoginCache,
    LoginKey,
)
from shared.oci.manifest import (
    ACCEPTED_MANIFESTS,
    Descriptor,
    Manifest,
    RawManifest,
    TagList,
    sha256_digest,
)
from shared.oci.reference import DIGEST_PATTERN, OciReference

__all__ = ["MAX_BLOB_BYTES", "RegistryClient"]

_MAX_MANIFEST_BYTES = 4 << 20  # the distribution spec's recommended limit
# A registry's other answers are read up to these sizes, never whole: a
# hostile one must not fill the worker's memory with a tag list, a token or an error.
_MAX_TAGS_BYTES = 32 << 20  # all pages together: ~250,000 tags of 128 characters
_MAX_TAG_PAGES = 1000
_MAX_TOKEN_BYTES = 1 << 20
_MAX_ERROR_BYTES = 64 << 10
MAX_BLOB_BYTES = 1 << 30
_CHUNK = 1 << 16
_USER_AGENT = "sluice"


@cache
def _system_trust() -> ssl.SSLContext:
    """The system's CAs, loaded once per process: a new context costs ~22 ms of CPU
    (measured: httpx.Client() 22 ms, with a shared context 0.08 ms), once per reconcile."""
    return ssl.create_default_context()


class RegistryClient:
    """The distribution API of one repository; use as a context manager."""

    def __init__(
        self,
        repository: OciReference,
        *,
        credentials: RegistryCredentials | None = None,
        tls: TlsMaterial | None = None,
        insecure: bool = False,
        push: bool = False,
        timeout: float = 60.0,
        deadline: float | None = None,
        logins: LoginCache | None = None,
        insecure_tls: bool | None = None,
    ) -> None:
        """``timeout`` bounds each connect and read; ``deadline`` (a ``time.monotonic()``
        value) bounds every call, however slowly the registry answers, as Flux's
        ``spec.timeout`` bounds a whole pull. ``logins`` remembers the login (token,
        scheme) for the next client of the same repository and credentials. ``insecure_tls``:
        accept any certificate (None: when ``insecure`` and no TLS material, as
        source-controller; image-reflector-controller's ``insecure`` only allows HTTP)."""
        self.repository = repository
        self._deadline = deadline
        self._credentials = credentials or RegistryCredentials()
        self._actions = "pull,push" if push else "pull"
        self._authorization = ""
        http_allowed = insecure or repository.plain_http_allowed
        self._schemes = ("https", "http") if http_allowed else ("https",)
        self._scheme = ""
        self._logins = logins
        self._login_key = LoginKey.of(
            repository.api_host,
            repository.repository,
            actions=self._actions,
            credentials=self._credentials,
        )
        self._login_seconds = BASIC_SECONDS
        self._remembered = logins.get(self._login_key) if logins is not None else None
        if self._remembered is not None:
            self._authorization = self._remembered.authorization
            self._scheme = self._remembered.scheme
        # As source-controller: insecure without a certSecretRef also accepts any certificate.
        verify: ssl.SSLContext | bool = _system_trust()
        if tls is not None:
            verify = tls.context()
        elif insecure if insecure_tls is None else insecure_tls:
            verify = False
        self._http = httpx.Client(
            verify=verify, timeout=timeout, headers={"User-Agent": _USER_AGENT}
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # --- reading -------------------------------------------------------------

    def login(self) -> None:
        """Check that the registry answers ``/v2/`` and takes the credentials (``helm registry
        login``): AuthenticationError when it refuses them, RegistryError when it does not answer.
        """
        with self._open("GET", "/v2/", what="log in to"):
            pass

    def tags(self) -> list[str]:
        """Every tag of the repository (following the ``Link`` pages)."""
        return list(self.list_tags().tags)

    def list_tags(self, *, page_size: int = 1000, etag: str = "") -> TagList:
        """Every tag, asking ``n=page_size`` a page and following ``Link: <...>; rel="next"``
        on the registry's own host only (another host is refused, as go-containerregistry).

        ``etag``: the ETag of a previous one-page answer, sent as ``If-None-Match``; a
        registry that answers 304 costs this one request and gives ``not_modified``.
        """
        found: list[str] = []
        path = f"/v2/{self.repository.repository}/tags/list?n={page_size}"
        where = f"tags of {self.repository.repository_url}"
        budget, pages, first_etag = _MAX_TAGS_BYTES, 0, ""
        while path:
            pages += 1
            if pages > _MAX_TAG_PAGES:
                raise RegistryError(f"{where}: more than {_MAX_TAG_PAGES} pages")
            headers = {"If-None-Match": etag} if etag and pages == 1 else None
            with self._open(
                "GET", path, headers=headers, what="list tags of", allow=(304,)
            ) as response:
                if response.status_code == 304:
                    return TagList((), etag=etag, not_modified=True, pages=1)
                content = self._read_limited(response, budget, where)
                budget -= len(content)
                doc = _json(content, where)
                found += [str(t) for t in (doc.get("tags") or [])]
                if pages == 1:
                    first_etag = str(response.headers.get("ETag", ""))
                path = _next_page(response.headers.get("Link", ""))
            if "://" in path and not _same_host(path, self._base()):
                raise RegistryError(f"{where}: the next page is on another host; refused")
        # An ETag names one page: a list of several cannot be checked by the first one's.
        return TagList(tuple(found), etag=first_etag if pages == 1 else "", pages=pages)

    def resolve(self, reference: str) -> str:
        """The manifest digest ``reference`` (a tag) points at, from one ``HEAD``."""
        path = f"/v2/{self.repository.repository}/manifests/{reference}"
        with self._open(
            "HEAD", path, headers={"Accept": ACCEPTED_MANIFESTS}, what="resolve"
        ) as response:
            digest = str(response.headers.get("Docker-Content-Digest", ""))
        if DIGEST_PATTERN.match(digest):
            return digest
        # A registry that does not say: read it (an index too: a multi-platform tag has a digest).
        return self.raw_manifest(reference).digest

    def manifest(self, reference: str) -> Manifest:
        """The image manifest at ``reference`` (tag or digest), checked against its digest."""
        raw = self.raw_manifest(reference)
        return Manifest.parse(
            raw.content, digest=raw.digest, media_type=raw.media_type, where=raw.where
        )

    def raw_manifest(self, reference: str) -> RawManifest:
        """The manifest or image index at ``reference``, unparsed, checked against its digest."""
        path = f"/v2/{self.repository.repository}/manifests/{reference}"
        where = (
            f"{self.repository.repository_url}@{reference}"
            if reference.startswith("sha256:")
            else f"{self.repository.repository_url}:{reference}"
        )
        with self._open(
            "GET", path, headers={"Accept": ACCEPTED_MANIFESTS}, what="get manifest of"
        ) as response:
            content = self._read_limited(response, _MAX_MANIFEST_BYTES, where)
            media_type = response.headers.get("Content-Type", "").split(";")[0]
        digest = sha256_digest(content)
        expected = reference if reference.startswith("sha256:") else ""
        if expected and digest != expected:
            raise DigestMismatchError(f"{where}: manifest content has digest {digest}")
        return RawManifest(digest=digest, media_type=media_type, content=content, where=where)

    def read_blob(self, descriptor: Descriptor, *, max_bytes: int) -> bytes:
        """A small blob (an image config) in memory, checked against its size and digest."""
        path = f"/v2/{self.repository.repository}/blobs/{descriptor.digest}"
        where = f"blob {descriptor.digest} of {self.repository.repository_url}"
        if descriptor.size > max_bytes:
            raise RegistryError(f"{where} is {descriptor.size} bytes, more than {max_bytes}")
        with self._open("GET", path, what="get", follow=True) as response:
            content = self._read_limited(response, descriptor.size, where)
        if sha256_digest(content) != descriptor.digest or len(content) != descriptor.size:
            raise DigestMismatchError(f"{where}: content does not match its digest")
        return content

    def fetch_blob(
        self, descriptor: Descriptor, dest: Path, *, max_bytes: int = MAX_BLOB_BYTES
    ) -> None:
        """Download a blob to ``dest``, checking its size and digest as it streams."""
        path = f"/v2/{self.repository.repository}/blobs/{descriptor.digest}"
        where = f"blob {descriptor.digest} of {self.repository.repository_url}"
        limit = min(max_bytes, descriptor.size)
        if descriptor.size > max_bytes:
            raise RegistryError(f"{where} is {descriptor.size} bytes, more than {max_bytes}")
        digest = hashlib.sha256()
        size = 0
        with self._open("GET", path, what="get", follow=True) as response, dest.open("wb") as out:
            for chunk in response.iter_bytes():
                self._check_deadline(where)
                size += len(chunk)
                if size > limit:
                    raise DigestMismatchError(
                        f"{where}: more than the {descriptor.size} bytes declared"
                    )
                digest.update(chunk)
                out.write(chunk)
        got = f"sha256:{digest.hexdigest()}"
        if got != descriptor.digest or size != descriptor.size:
            raise DigestMismatchError(f"{where}: downloaded content has digest {got}, {size} bytes")

    # --- writing -------------------------------------------------------------

    def push_blob(self, data: bytes | Path, *, digest: str = "") -> Descriptor:
        """Upload a blob (bytes, or a file streamed from disk) unless the registry has it."""
        if isinstance(data, bytes):
            digest, size = digest or sha256_digest(data), len(data)
        else:
            digest, size = digest or _file_digest(data), data.stat().st_size
        repo = self.repository.repository
        with self._open(
            "HEAD", f"/v2/{repo}/blobs/{digest}", what="check blob of", allow=(404,)
        ) as head:
            if head.status_code == 200:
                return Descriptor("", digest, size)
        with self._open("POST", f"/v2/{repo}/blobs/uploads/", what="start upload to") as started:
            location = started.headers.get("Location", "")
        if not location:
            raise RegistryError(
                f"{self.repository.repository_url}: upload started without a Location"
            )
        target = httpx.URL(self._base()).join(location).copy_merge_params({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(data, bytes):
            with self._open("PUT", str(target), headers=headers, content=data, what="upload to"):
                pass
        else:
            with (
                data.open("rb") as handle,
                self._open(
                    "PUT", str(target), headers=headers, content=_chunks(handle), what="upload to"
                ),
            ):
                pass
        return Descriptor("", digest, size)

    def push_manifest(self, tag: str, content: bytes, *, media_type: str) -> str:
        """Put a manifest under ``tag``; return its digest."""
        path = f"/v2/{self.repository.repository}/manifests/{tag}"
        headers = {"Content-Type": media_type}
        with self._open("PUT", path, headers=headers, content=content, what="push manifest to"):
            pass
        return sha256_digest(content)

    # --- transport -----------------------------------------------------------

    def _base(self) -> str:
        return f"{self._scheme or self._schemes[0]}://{self.repository.api_host}"

    @contextmanager
    def _open(
        self,
        method: str,
        path: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        follow: bool = False,
        allow: tuple[int, ...] = (),
    ) -> Iterator[httpx.Response]:
        """Send a request (authorizing on a 401 once), yield the streamed response."""
        response = self._send(method, path, headers, content, follow)
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            response.close()
            if self._logins is not None:
                self._logins.forget(self._login_key)
                self._remembered = None
            if isinstance(content, Iterator):
                raise AuthenticationError(
                    f"{method} {self._shown(path)}: authentication required", status=401
                )
            self._authorize(challenge)
            response = self._send(method, path, headers, content, follow)
        try:
            if response.status_code >= 300 and response.status_code not in allow:
                body = _read_prefix(response, _MAX_ERROR_BYTES)
                raise self._failure(method, path, response, what, body)
            self._remember()
            yield response
        except httpx.HTTPError as err:  # while the body streams
            self._check_deadline(f"{method} {self._shown(path)}")
            raise RegistryError(
                f"{method} {self._shown(path)}: {type(err).__name__}: {err}"
            ) from err
        finally:
            response.close()

    def _send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        content: bytes | Iterator[bytes] | None,
        follow: bool,
    ) -> httpx.Response:
        last: Exception | None = None
        for scheme in [self._scheme] if self._scheme else list(self._schemes):
            url = path if "://" in path else f"{scheme}://{self.repository.api_host}{path}"
            sent = dict(headers or {})
            # The login is the registry's own: an upload Location on another host
            # (a storage service) gets none, as go-containerregistry's transports.
            if self._authorization and _same_host(url, f"{scheme}://{self.repository.api_host}"):
                sent["Authorization"] = self._authorization
            self._check_deadline(f"{method} {self._shown(path)}")
            request = self._http.build_request(
                method, url, headers=sent, content=content, timeout=self._timeout()
            )
            try:
                response = self._http.send(request, stream=True, follow_redirects=follow)
            except httpx.ConnectError as err:
                last = err
                if isinstance(
                    err.__context__, ssl.SSLCertVerificationError
                ) or "CERTIFICATE" in str(err):
                    break  # TLS is spoken but not trusted: HTTP would not help
                continue
            except httpx.HTTPError as err:
                raise RegistryError(
                    f"{method} {self._shown(path)}: {type(err).__name__}: {err}"
                ) from err
            self._scheme = scheme
            return response
        raise RegistryError(f"{method} {self._shown(path)}: {last}") from last

    def _remember(self) -> None:
        """Keep this client's login for the next one (when it has a cache and it changed)."""
        login = Login(self._authorization, self._scheme)
        if self._logins is not None and login != self._remembered:
            self._logins.put(self._login_key, login, seconds=self._login_seconds)
            self._remembered = login

    def _authorize(self, challenge: Challenge | None) -> None:
        creds = self._credentials
        self._login_seconds = BASIC_SECONDS
        if challenge is None or challenge.scheme == "basic":
            if creds.empty:
                raise AuthenticationError(
                    f"{self.repository.repository_url}: authentication required, and no "
                    "credentials were given",
                    status=401,
                )
            pair = f"{creds.username}:{creds.password}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()
            return
        if challenge.scheme != "bearer" or not challenge.params.get("realm"):
            raise AuthenticationError(
                f"{self.repository.repository_url}: unsupported authentication scheme "
                f"{challenge.scheme!r}",
                status=401,
            )
        token, self._login_seconds = self._token(challenge)
        self._authorization = "Bearer " + token

    def _token(self, challenge: Challenge) -> tuple[str, float]:
        """A token from the challenge's realm, and how many seconds it is good for."""
        realm = challenge.params["realm"]
        scope = f"repository:{self.repository.repository}:{self._actions}"
        params = {"scope": scope}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        creds = self._credentials
        auth: tuple[str, str] | None = None
        if creds.identity_token:
            refresh = {"grant_type": "refresh_token", "refresh_token": creds.identity_token}
            request = self._http.build_request(
                "POST",
                realm,
                data={**params, **refresh, "client_id": _USER_AGENT},
                timeout=self._timeout(),
            )
        else:
            auth = (creds.username, creds.password) if not creds.empty else None
            request = self._http.build_request("GET", realm, params=params, timeout=self._timeout())
        try:
            response = self._http.send(request, stream=True, auth=auth)
            try:
                if response.status_code in (401, 403):
                    raise AuthenticationError(
                        f"{self.repository.repository_url}: the token service {realm} refused "
                        f"the credentials (HTTP {response.status_code})",
                        status=response.status_code,
                    )
                if response.status_code != 200:
                    raise RegistryError(
                        f"token request to {realm}: HTTP {response.status_code}",
                        status=response.status_code,
                    )
                content = self._read_limited(response, _MAX_TOKEN_BYTES, f"token from {realm}")
            finally:
                response.close()
        except httpx.HTTPError as err:
            raise RegistryError(f"token request to {realm}: {type(err).__name__}: {err}") from err
        doc = _json(content, f"token from {realm}")
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"token service {realm} answered without a token")
        expires = doc.get("expires_in")
        seconds = float(expires) if isinstance(expires, int | float) and expires > 0 else 0.0
        return token, seconds or DEFAULT_TOKEN_SECONDS

    def _check_deadline(self, where: str) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise RegistryError(f"{where}: the registry did not answer within the timeout")

    def _timeout(self) -> httpx.Timeout:
        """The client's timeout, cut to what is left before the deadline."""
        timeout = self._http.timeout
        if self._deadline is None:
            return timeout
        left = max(self._deadline - time.monotonic(), 0.001)
        return httpx.Timeout(
            connect=min(timeout.connect or left, left),
            read=min(timeout.read or left, left),
            write=min(timeout.write or left, left),
            pool=min(timeout.pool or left, left),
        )

    def _read_limited(self, response: httpx.Response, limit: int, where: str) -> bytes:
        """The body, refused past ``limit`` bytes or the deadline."""
        data = bytearray()
        for chunk in response.iter_bytes():
            self._check_deadline(where)
            data += chunk
            if len(data) > limit:
                raise RegistryError(f"{where}: the answer is larger than {limit} bytes")
        return bytes(data)

    def _shown(self, path: str) -> str:
        """The URL for a message, without its query (an upload's signed state)."""
        return (path if "://" in path else f"{self._base()}{path}").split("?")[0]

    def _failure(
        self, method: str, path: str, response: httpx.Response, what: str, body: bytes
    ) -> OciError:
        status = response.status_code
        detail = _registry_errors(body) or f"HTTP {status}"
        message = f"{method} {self._shown(path)}: {detail}"
        if status in (401, 403):
            return AuthenticationError(message, status=status)
        if status == 404:
            return NotFoundError(message, status=status)
        return RegistryError(message, status=status)


def _same_host(url: str, base: str) -> bool:
    """Whether ``url`` is on ``base``'s host and port (a default port written or not)."""
    left, right = httpx.URL(url), httpx.URL(base)
    defaults = {"http": 80, "https": 443}
    return left.host.lower() == right.host.lower() and (left.port or defaults.get(left.scheme)) == (
        right.port or defaults.get(right.scheme)
    )


def _registry_errors(body: bytes) -> str:
    """``CODE: message`` of the registry's JSON error body, as go-containerregistry shows it."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return ""
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return ""
    return "; ".join(
        f"{e.get('code', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)
    )


def _json(content: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise RegistryError(f"{where}: the answer is not JSON") from err
    if not isinstance(doc, dict):
        raise RegistryError(f"{where}: the answer is not a JSON object")
    return doc


def _next_page(link: str) -> str:
    """The path of a ``Link: <...>; rel="next"`` header, or ""."""
    for part in link.split(","):
        target, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return target.strip().strip("<>")
    return ""


def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (an error's explanation), the rest left unread."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk
