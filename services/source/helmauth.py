"""What a HelmRepository's Secrets say about reaching it: basic auth, TLS, passCredentials.

Read as Flux's ``getter.GetClientOpts`` reads them:

- ``spec.secretRef``: ``username`` and ``password`` (both or neither); for
  the default type, TLS keys in the same Secret are still read (deprecated,
  Flux logs a warning) when there is no ``certSecretRef``; for type oci the
  Secret may instead be a ``.dockerconfigjson`` whose entry for the
  registry's host gives the login.
- ``spec.certSecretRef``: ``tls.crt`` + ``tls.key`` (a client certificate)
  and/or ``ca.crt`` (added to the system's CAs, as Flux does); the legacy
  names ``certFile``, ``keyFile``, ``caFile`` are read when the new ones are
  absent. It takes precedence over TLS keys in ``secretRef``.
- ``spec.passCredentials``: the credentials go to a chart URL on another
  scheme or host (port included) only when true — Helm's rule, which a
  HelmChart pulling ``entries[].urls`` of the index applies through
  :meth:`RepositoryAuth.credentials_for`.

:func:`repository_auth` is the one entry point; HelmChart calls it too with
the HelmRepository it pulls from. The values never leave this module's
objects in a message, a repr or a file name: :meth:`RepositoryAuth.fingerprint`
is what a cache may be keyed by.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.source.reconcile import SourceRun
from shared.api.conditions import AUTHENTICATION_FAILED, FETCH_FAILED
from shared.api.helmrepository import HelmRepository
from shared.reconcile import Transient

__all__ = [
    "RepositoryAuth",
    "RepositoryTLS",
    "TLSConfigError",
    "normalize_url",
    "repository_auth",
    "same_origin",
]

_DOCKER_CONFIG = ".dockerconfigjson"
# New name first: Flux's fluxcd/pkg reads the legacy name only when the new one is absent.
_TLS_KEYS = {
    "cert": ("tls.crt", "certFile"),
    "key": ("tls.key", "keyFile"),
    "ca": ("ca.crt", "caFile"),
}


class TLSConfigError(ValueError):
    """The TLS material of a Secret cannot be used (a cert without its key, a bad PEM)."""


@dataclass(frozen=True)
class RepositoryTLS:
    """PEM material from a Secret: a client certificate pair and/or a CA."""

    cert: bytes = field(default=b"", repr=False)
    key: bytes = field(default=b"", repr=False)
    ca: bytes = field(default=b"", repr=False)

    def context(self) -> ssl.SSLContext:
        """An SSL context trusting the system's CAs plus ``ca``, presenting the pair if any."""
        context = ssl.create_default_context()
        try:
            if self.ca:
                context.load_verify_locations(cadata=self.ca.decode("ascii", "replace"))
            if self.cert:
                _load_pair(context, self.cert, self.key)
        except (ssl.SSLError, ValueError) as err:
            raise TLSConfigError(f"failed to construct Helm client's TLS config: {err}") from err
        return context


def _load_pair(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load a PEM pair: ssl only reads files, so a private 0600 file lives for the call."""
    with tempfile.TemporaryDirectory(prefix="sluice-tls-") as scratch:
        path = os.path.join(scratch, "pair.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(cert.rstrip(b"\n") + b"\n" + key)
        context.load_cert_chain(path)


@dataclass(frozen=True)
class RepositoryAuth:
    """How to reach one HelmRepository: where, as whom, over which TLS, for how long."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    tls: RepositoryTLS | None = None
    pass_credentials: bool = False
    insecure: bool = False
    timeout: float = 60.0

    @property
    def has_login(self) -> bool:
        """Whether credentials were given (a registry login is then required to pass)."""
        return bool(self.username or self.password)

    def credentials_for(self, url: str) -> tuple[str, str] | None:
        """``(username, password)`` to send to ``url``, or None.

        Helm's rule: to the repository's own scheme and host (port included),
        and anywhere else only with ``passCredentials``.
        """
        if not (self.username and self.password):
            return None
        if self.pass_credentials or same_origin(self.url, url):
            return self.username, self.password
        return None

    def client(self) -> httpx.Client:
        """A shared httpx client with this TLS and timeout; auth goes per request.

        Shared (and never closed by callers): a new client loads the system CA
        bundle into a new TLS context, ~20 ms of CPU, at every interval of
        every HelmRepository otherwise.
        """
        return _client(self.tls, self.timeout)

    def fingerprint(self) -> bytes:
        """A digest of everything that changes what the server answers: URL and credentials."""
        digest = hashlib.sha256()
        tls = self.tls or RepositoryTLS()
        for part in (self.url, self.username, self.password):
            digest.update(part.encode() + b"\0")
        for blob in (tls.cert, tls.key, tls.ca):
            digest.update(hashlib.sha256(blob).digest())
        return digest.digest()


@functools.lru_cache(maxsize=64)
def _client(tls: RepositoryTLS | None, timeout: float) -> httpx.Client:
    return httpx.Client(
        verify=tls.context() if tls is not None else True,
        timeout=timeout,
        follow_redirects=True,  # httpx drops Authorization on a redirect to another origin
    )


def normalize_url(url: str) -> str:
    """Flux's NormalizeURL: one trailing ``/`` on an HTTP/S path, none on an oci:// one.

    Two HelmRepositories (or a chart dependency) naming one repository with
    and without the slash are the same repository.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit(parts._replace(path=path if parts.scheme.lower() == "oci" else path + "/"))


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme and host:port (Helm compares ``url.Host``, port included)."""
    left, right = urlsplit(a), urlsplit(b)
    return (
        left.scheme.lower() == right.scheme.lower()
        and left.netloc.lower().rpartition("@")[2] == right.netloc.lower().rpartition("@")[2]
    )


def repository_auth(run: SourceRun, repo: HelmRepository) -> RepositoryAuth:
    """Read ``repo``'s Secrets (in ``run``'s namespace and scope) into a :class:`RepositoryAuth`.

    A missing Secret or unusable credentials are Transient, AuthenticationFailed
    (a Secret may be created or fixed later), with messages naming keys, never values.
    """
    spec = repo.spec
    username = password = ""
    tls: RepositoryTLS | None = None
    if spec.cert_secret_ref is not None:
        name = spec.cert_secret_ref.name
        tls = _tls_from(run.secret(name, field="spec.certSecretRef"), f"{repo.namespace}/{name}")
    if spec.secret_ref is not None:
        name = spec.secret_ref.name
        data = run.secret(name, field="spec.secretRef")
        where = f"{repo.namespace}/{name}"
        if spec.is_oci and _DOCKER_CONFIG in data:
            username, password = _docker_login(data[_DOCKER_CONFIG], spec.url, where)
        else:
            username, password = _basic_auth(data, where)
        if tls is None and not spec.is_oci:
            tls = _tls_from(data, where, required=False)
    if tls is not None:
        try:
            tls.context()  # refuse unusable material here, with the Secret's name
        except TLSConfigError as err:
            raise _auth_failed(str(err)) from err
    return RepositoryAuth(
        url=normalize_url(spec.url),
        username=username,
        password=password,
        tls=tls,
        pass_credentials=spec.pass_credentials,
        insecure=spec.insecure,
        timeout=spec.timeout_seconds,
    )


def _auth_failed(message: str) -> Transient:
    return Transient(AUTHENTICATION_FAILED, message, condition=FETCH_FAILED)


def _basic_auth(data: dict[str, bytes], where: str) -> tuple[str, str]:
    has_user, has_password = "username" in data, "password" in data
    if has_user != has_password:
        present, missing = ("username", "password") if has_user else ("password", "username")
        raise _auth_failed(
            f"secret '{where}': malformed basic auth - has '{present}' but missing '{missing}'"
        )
    return data.get("username", b"").decode(), data.get("password", b"").decode()


def _tls_from(data: dict[str, bytes], where: str, *, required: bool = True) -> RepositoryTLS | None:
    found = {
        what: next((data[k] for k in keys if k in data), b"") for what, keys in _TLS_KEYS.items()
    }
    if found["cert"] and not found["key"]:
        raise _auth_failed(f"secret '{where}' contains 'tls.crt' but missing 'tls.key'")
    if found["key"] and not found["cert"]:
        raise _auth_failed(f"secret '{where}' contains 'tls.key' but missing 'tls.crt'")
    if not (found["cert"] or found["ca"]):
        if required:
            raise _auth_failed(
                f"secret '{where}' has no CA certificate ('ca.crt') "
                "or client certificate pair ('tls.crt' and 'tls.key')"
            )
        return None
    return RepositoryTLS(cert=found["cert"], key=found["key"], ca=found["ca"])


def _docker_login(config: bytes, url: str, where: str) -> tuple[str, str]:
    """The login for ``url``'s host in a Docker config, as Flux's KeychainFromSecret finds it."""
    host = urlsplit(url).netloc.lower()
    try:
        auths = json.loads(config).get("auths") or {}
    except (ValueError, AttributeError) as err:
        raise _auth_failed(f"unable to load Docker config from Secret '{where}'") from err
    for server, entry in auths.items() if isinstance(auths, dict) else ():
        if _hostname(server) != host or not isinstance(entry, dict):
            continue
        username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        if entry.get("auth") and not (username or password):
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as err:
                raise _auth_failed(f"invalid 'auth' for '{host}' in Secret '{where}'") from err
        if bool(username) != bool(password):
            raise _auth_failed(
                f"invalid '{where}' secret data: required fields 'username' and 'password'"
            )
        return username, password
    raise _auth_failed(f"no auth config for '{host}' in the docker-registry Secret '{where}'")


def _hostname(server: str) -> str:
    """Docker's ConvertToHostname: ``https://host:5000/v1/`` -> ``host:5000``."""
    text = server.lower()
    for prefix in ("http://", "https://"):
        text = text.removeprefix(prefix)
    return text.partition("/")[0]
