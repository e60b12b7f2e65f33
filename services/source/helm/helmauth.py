"""What a HelmRepository's Secrets say about reaching it: basic auth, TLS, passCredentials.

Read as Flux's ``getter.GetClientOpts`` reads them:

- ``spec.secretRef``: ``username`` and ``password`` (both or neither); TLS
  keys in the same Secret are still read (deprecated, Flux logs a warning)
  when there is no ``certSecretRef``; for type oci the Secret may instead be
  a ``.dockerconfigjson`` whose entry for the registry's host gives the login.
- ``spec.certSecretRef``: ``tls.crt`` + ``tls.key`` (a client certificate)
  and/or ``ca.crt`` (added to the system's CAs, as Flux does); the legacy
  names ``certFile``, ``keyFile``, ``caFile`` are read when the new ones are
  absent. It takes precedence over TLS keys in ``secretRef``.
- ``spec.passCredentials``: the credentials go to a chart URL on another
  scheme or host (port included) only when true — Helm's rule, which a
  HelmChart pulling ``entries[].urls`` of the index applies through
  :meth:`RepositoryAuth.credentials_for`.

:func:`repository_auth` is the one entry point; HelmChart calls it too with
the HelmRepository it pulls from. TLS keys and Docker configs are read by
``shared.oci`` (one reader for every kind that has them). The values never leave this module's
objects in a message, a repr or a file name: :meth:`RepositoryAuth.fingerprint`
is what a cache may be keyed by.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.source.reconcile import SourceRun
from shared.api.conditions import AUTHENTICATION_FAILED, FETCH_FAILED
from shared.api.helmrepository import HelmRepository
from shared.oci import (
    CredentialsError,
    OciReference,
    RegistryClient,
    RegistryCredentials,
    TlsMaterial,
    credentials_from_dockerconfig,
)
from shared.reconcile import Transient

__all__ = [
    "RepositoryAuth",
    "normalize_url",
    "repository_auth",
    "same_origin",
]

_DOCKER_CONFIG = ".dockerconfigjson"


@dataclass(frozen=True)
class RepositoryAuth:
    """How to reach one HelmRepository: where, as whom, over which TLS, for how long."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    tls: TlsMaterial | None = None
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
        tls = self.tls or TlsMaterial()
        for part in (self.url, self.username, self.password):
            digest.update(part.encode() + b"\0")
        for blob in (tls.client_cert, tls.client_key, tls.ca_cert):
            digest.update(hashlib.sha256(blob).digest())
        return digest.digest()

    def registry_credentials(self) -> RegistryCredentials:
        """The login as shared/oci's client takes it (type oci)."""
        return RegistryCredentials(self.username, self.password)

    def registry_client(self, repository: OciReference) -> RegistryClient:
        """A client of ``repository`` with this login, bound by the timeout as a whole."""
        return RegistryClient(
            repository,
            credentials=self.registry_credentials(),
            tls=self.tls,
            insecure=self.insecure,
            timeout=self.timeout,
            deadline=time.monotonic() + self.timeout,
        )


@functools.lru_cache(maxsize=64)
def _client(tls: TlsMaterial | None, timeout: float) -> httpx.Client:
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
    tls: TlsMaterial | None = None
    tls_from = ""
    if spec.cert_secret_ref is not None:
        tls_from = f"{repo.namespace}/{spec.cert_secret_ref.name}"
        data = run.secret(spec.cert_secret_ref.name, field="spec.certSecretRef")
        tls = _tls_from(data, tls_from)
    if spec.secret_ref is not None:
        where = f"{repo.namespace}/{spec.secret_ref.name}"
        data = run.secret(spec.secret_ref.name, field="spec.secretRef")
        if spec.is_oci and _DOCKER_CONFIG in data:
            username, password = _docker_login(data, spec.url, where)
        else:
            username, password = _basic_auth(data, where)
        if tls is None:  # deprecated, still read: TLS keys in secretRef
            tls, tls_from = _tls_from(data, where, required=False), where
    if tls is not None:
        try:
            _client(tls, spec.timeout_seconds)  # unusable material fails here, named
        except CredentialsError as err:
            raise _auth_failed(
                f"failed to construct Helm client's TLS config from secret '{tls_from}': {err}"
            ) from err
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


def _tls_from(data: dict[str, bytes], where: str, *, required: bool = True) -> TlsMaterial | None:
    """The TLS keys of a Secret (legacy names too), with Flux's words for what is missing."""
    tls = TlsMaterial.from_secret(data)
    if tls.client_cert and not tls.client_key:
        raise _auth_failed(f"secret '{where}' contains 'tls.crt' but missing 'tls.key'")
    if tls.client_key and not tls.client_cert:
        raise _auth_failed(f"secret '{where}' contains 'tls.key' but missing 'tls.crt'")
    if not (tls.client_cert or tls.ca_cert):
        if required:
            raise _auth_failed(
                f"secret '{where}' has no CA certificate ('ca.crt') "
                "or client certificate pair ('tls.crt' and 'tls.key')"
            )
        return None
    return tls


def _docker_login(data: dict[str, bytes], url: str, where: str) -> tuple[str, str]:
    """The login for ``url``'s registry in a dockerconfigjson Secret.

    Flux's HelmRepository (KeychainFromSecret) refuses a config without an
    entry for the registry, where an OCIRepository goes anonymous.
    """
    host = urlsplit(url).netloc.lower()
    try:
        found = credentials_from_dockerconfig(data, host, where=f"secret '{where}'")
    except CredentialsError as err:
        raise _auth_failed(str(err)) from err
    if found.empty:
        raise _auth_failed(f"no auth config for '{host}' in the docker-registry Secret '{where}'")
    if not (found.username and found.password):
        raise _auth_failed(
            f"invalid '{where}' secret data: required fields 'username' and 'password'"
        )
    return found.username, found.password
