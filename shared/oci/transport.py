"""How sluice talks to a registry: schemes, logins, deadlines and bounded reads.

``RegistryTransport`` holds one repository's connection state: the scheme that
answered (HTTPS first; HTTP for a loopback, ``localhost`` or private-address
registry, or any with ``insecure``), the login (``WWW-Authenticate``
challenge on the first 401: ``Basic`` with the credentials, or ``Bearer``
with a token from the challenge's realm, anonymous when there are none,
scoped ``pull`` or ``pull,push``), optionally remembered in a ``LoginCache``
for the next client, and the deadline every call is bounded by. Answers are
read up to a size, never whole, and failures become ``shared.oci.errors``
with the HTTP status and without a credential. ``RegistryClient`` (the
distribution API) is built on it.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import httpx

from shared.oci.auth import Challenge, RegistryCredentials, TlsMaterial, parse_challenge
from shared.oci.errors import (
    AuthenticationError,
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
from shared.oci.reference import OciReference

__all__ = ["RegistryTransport", "json_object", "same_host"]

# A registry's answers are read up to these sizes, never whole: a hostile
# one must not fill the worker's memory with a token or an error.
_MAX_TOKEN_BYTES = 1 << 20
_MAX_ERROR_BYTES = 64 << 10
_USER_AGENT = "sluice"


@cache
def _system_trust() -> ssl.SSLContext:
    """The system's CAs, loaded once per process: a new context costs ~22 ms of CPU
    (measured: httpx.Client() 22 ms, with a shared context 0.08 ms), once per reconcile."""
    return ssl.create_default_context()


class RegistryTransport:
    """One repository's connection, login and deadline; ``RegistryClient`` speaks the API."""

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
        self._preferred = ""  # the scheme that answered last time: tried first
        self._answered = False  # whether the registry has answered this client with a success
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
            self._preferred = self._remembered.scheme
        # As source-controller: insecure without a certSecretRef also accepts any certificate.
        verify: ssl.SSLContext | bool = _system_trust()
        if tls is not None:
            verify = tls.context()
        elif insecure if insecure_tls is None else insecure_tls:
            verify = False
        self._http = httpx.Client(
            verify=verify, timeout=timeout, headers={"User-Agent": _USER_AGENT}
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

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
        if (
            response.status_code == 400
            and not isinstance(content, Iterator)
            and self._stale_scheme(response)
        ):
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
                body = read_prefix(response, _MAX_ERROR_BYTES)
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
        # A remembered scheme goes first, never alone: a registry that moved to TLS still answers.
        schemes = sorted(self._schemes, key=lambda scheme: scheme != self._preferred)
        for scheme in [self._scheme] if self._scheme else schemes:
            url = path if "://" in path else f"{scheme}://{self.repository.api_host}{path}"
            sent = dict(headers or {})
            # The login is the registry's own: an upload Location on another host
            # (a storage service) gets none, as go-containerregistry's transports.
            if self._authorization and same_host(url, f"{scheme}://{self.repository.api_host}"):
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

    def _stale_scheme(self, response: httpx.Response) -> bool:
        """Whether a 400 came from a remembered plain-HTTP scheme that a registry now serving
        TLS refuses (its answer to HTTP on a TLS port): then forget it and start afresh."""
        if self._answered or self._preferred != "http" or response.request.url.scheme != "http":
            return False
        response.close()
        if self._logins is not None:
            self._logins.forget(self._login_key)
        self._remembered, self._preferred, self._scheme = None, "", ""
        return True

    def _remember(self) -> None:
        """Keep this client's login for the next one (when it has a cache and it changed)."""
        self._answered = True
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
        doc = json_object(content, f"token from {realm}")
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
        detail = registry_errors(body) or f"HTTP {status}"
        message = f"{method} {self._shown(path)}: {detail}"
        if status in (401, 403):
            return AuthenticationError(message, status=status)
        if status == 404:
            return NotFoundError(message, status=status)
        return RegistryError(message, status=status)


def same_host(url: str, base: str) -> bool:
    """Whether ``url`` is on ``base``'s host and port (a default port written or not)."""
    left, right = httpx.URL(url), httpx.URL(base)
    defaults = {"http": 80, "https": 443}
    return left.host.lower() == right.host.lower() and (left.port or defaults.get(left.scheme)) == (
        right.port or defaults.get(right.scheme)
    )


def registry_errors(body: bytes) -> str:
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


def json_object(content: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise RegistryError(f"{where}: the answer is not JSON") from err
    if not isinstance(doc, dict):
        raise RegistryError(f"{where}: the answer is not a JSON object")
    return doc


def read_prefix(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (an error's explanation), the rest left unread."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])
