"""Registry credentials and TLS: dockerconfigjson Secrets, credential files, challenges.

Credentials come from a ``kubernetes.io/dockerconfigjson`` Secret (``secretRef``,
keys ``.dockerconfigjson`` or the older ``.dockercfg``), a Docker config file
(``~/.docker/config.json``, for the CLI), or a ``user:password`` line (the
CLI's ``--creds-file`` / ``SLUICE_OCI_CREDS``). They are never part of a
repr, a message or a URL. TLS material is a ``certSecretRef``'s ``tls.crt``,
``tls.key`` and ``ca.crt`` (or the legacy ``certFile``, ``keyFile``,
``caFile``), added to the system's CAs as source-controller does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.private import private_dir, write_private

__all__ = [
    "Challenge",
    "CredentialsError",
    "RegistryCredentials",
    "TlsMaterial",
    "credentials_from_dockerconfig",
    "parse_challenge",
    "parse_creds_line",
]


class CredentialsError(ValueError):
    """Credentials that cannot be read (malformed JSON, bad base64); never holds a secret."""


@dataclass(frozen=True)
class RegistryCredentials:
    """A user and password (or an identity token) for one registry."""

    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to log in with."""
        return not (self.username or self.password or self.identity_token)


_NO_CREDENTIALS = RegistryCredentials()


def _host_of(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``index.docker.io``: the host a config entry names."""
    host = re.sub(r"^[a-z]+://", "", key.strip()).split("/", 1)[0].lower()
    return "index.docker.io" if host in ("docker.io", "registry-1.docker.io") else host


def _entry_credentials(entry: Mapping[str, object], where: str) -> RegistryCredentials:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    auth = str(entry.get("auth") or "")
    if auth and not (username or password):
        try:
            decoded = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise CredentialsError(
                f"{where}: the auth field is not base64 of user:password"
            ) from err
        username, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialsError(f"{where}: the auth field is not base64 of user:password")
    return RegistryCredentials(username, password, str(entry.get("identitytoken") or ""))


def credentials_from_dockerconfig(
    data: Mapping[str, bytes], registry: str, *, where: str
) -> RegistryCredentials:
    """The credentials a Docker config (a Secret's data, or ``config.json``) holds for ``registry``.

    No entry for the registry means anonymous access, as Flux's keychain does.
    ``where`` names the Secret or file for error messages.
    """
    raw = data.get(".dockerconfigjson") or data.get("config.json")
    legacy = data.get(".dockercfg")
    if raw is None and legacy is None:
        raise CredentialsError(
            f"{where}: expected the key .dockerconfigjson (a dockerconfigjson Secret)"
        )
    try:
        doc = json.loads(raw if raw is not None else legacy or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CredentialsError(f"{where}: the Docker config is not valid JSON") from err
    if not isinstance(doc, dict):
        raise CredentialsError(f"{where}: the Docker config is not a JSON object")
    auths = doc.get("auths", {}) if raw is not None else doc
    if not isinstance(auths, dict):
        raise CredentialsError(f"{where}: auths is not a JSON object")
    wanted = _host_of(registry)
    for key, entry in auths.items():
        if _host_of(str(key)) == wanted and isinstance(entry, dict):
            return _entry_credentials(entry, where)
    return _NO_CREDENTIALS


def parse_creds_line(text: str, *, where: str) -> RegistryCredentials:
    """``user:password`` (or ``user`` alone, as ``flux push --creds``) from a file or variable."""
    line = text.strip()
    if not line:
        raise CredentialsError(f"{where} is empty: expected user:password")
    username, _, password = line.partition(":")
    return RegistryCredentials(username, password)


@dataclass(frozen=True)
class Challenge:
    """A ``WWW-Authenticate`` challenge: ``basic`` or ``bearer`` with its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str) -> Challenge | None:
    """The challenge of a ``WWW-Authenticate`` header, or None when there is none."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        quoted, bare = match[2], match[3]
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else (bare or "")
        params[match[1].lower()] = value
    return Challenge(scheme.lower(), params)


@dataclass(frozen=True)
class TlsMaterial:
    """PEM bytes of a certSecretRef: a CA to trust and a client certificate and key."""

    ca_cert: bytes = field(default=b"", repr=False)
    client_cert: bytes = field(default=b"", repr=False)
    client_key: bytes = field(default=b"", repr=False)

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes]) -> TlsMaterial:
        """Flux's keys, ``tls.crt``/``tls.key``/``ca.crt``, or the legacy ``certFile``..."""
        return cls(
            ca_cert=data.get("ca.crt", data.get("caFile", b"")),
            client_cert=data.get("tls.crt", data.get("certFile", b"")),
            client_key=data.get("tls.key", data.get("keyFile", b"")),
        )

    def context(self) -> ssl.SSLContext:
        """An SSL context trusting the system's CAs plus ``ca.crt``, presenting the client pair.

        Raises CredentialsError when the PEM data cannot be loaded (a key
        without a certificate, a certificate that is not PEM).
        """
        context = ssl.create_default_context()
        try:
            if self.ca_cert:
                context.load_verify_locations(cadata=self.ca_cert.decode())
            if bool(self.client_cert) != bool(self.client_key):
                raise CredentialsError("a client certificate needs both tls.crt and tls.key")
            if self.client_cert:
                _load_pair(context, self.client_cert, self.client_key)
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as err:
            if isinstance(err, CredentialsError):
                raise
            raise CredentialsError(
                f"cannot load the TLS certificates: {type(err).__name__}"
            ) from err
        return context


def _load_pair(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl only loads a client pair from files: private ones, removed at once.
    with private_dir("sluice-tls-") as scratch:
        crt = write_private(scratch / "tls.crt", cert)
        context.load_cert_chain(str(crt), str(write_private(scratch / "tls.key", key)))
