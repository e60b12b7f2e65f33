"""A client for one cluster from a kubeconfig held in the store: self-contained, checked first.

``client_from_kubeconfig`` builds a ``KubeClient`` from kubeconfig text
(``client_from_dict`` from the parsed dict) without leaving credentials on disk:
the TLS context is built in memory, and a client key is only written,
owner-only, for the instant Python's ``ssl`` needs to read it. With
``impersonate`` every request acts as that service account (Flux's
``serviceAccountName``).

A kubeconfig from the store must hold everything it needs, as Flux requires:
a worker never reads a file or runs a command that a stored object names. So
before anything is built or sent, these are refused with a KubeconfigError
naming the field and what to use instead:

- file paths: ``certificate-authority``, ``client-certificate``, ``client-key``
  (use the ``-data`` forms) and ``tokenFile`` (use ``token``);
- commands: ``exec``, ``auth-provider``;
- ``insecure-skip-tls-verify``;
- an ``http://`` server, unless ``allow_http`` (the setting
  ``allow_http_clusters``, env ``SLUICE_ALLOW_HTTP_CLUSTERS``) allows it.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3

from shared import yaml
from shared.kube.client import KubeClient
from shared.kube.errors import KubeconfigError
from shared.kube.parallel import POOL_SIZE
from shared.private import private_dir, write_private

__all__ = ["ServiceAccount", "check_kubeconfig", "client_from_dict", "client_from_kubeconfig"]

# Fields naming a file, and the inline field to use instead.
_CLUSTER_FILES = {"certificate-authority": "certificate-authority-data"}
_USER_FILES = {
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
    "tokenFile": "token",
}


@dataclass(frozen=True)
class ServiceAccount:
    """A service account to impersonate."""

    namespace: str
    name: str

    @property
    def username(self) -> str:
        """The user name the API server knows it by."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def _data(section: Mapping[str, Any], key: str, where: str) -> bytes | None:
    """Inline ``<key>-data`` (base64); None when absent."""
    if not section.get(f"{key}-data"):
        return None
    try:
        return base64.b64decode(str(section[f"{key}-data"]), validate=True)
    except ValueError as exc:
        raise KubeconfigError(f"{where}.{key}-data: not valid base64") from exc


def _named(config: Mapping[str, Any], kind: str, name: str) -> Mapping[str, Any]:
    for item in config.get(f"{kind}s") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            section = item.get(kind) or {}
            if not isinstance(section, Mapping):
                raise KubeconfigError(f"kubeconfig: {kind}s[{name!r}].{kind} is not a mapping")
            return section
    raise KubeconfigError(f"kubeconfig: {kind} {name!r} is not defined in {kind}s[]")


def check_kubeconfig(
    cluster: Mapping[str, Any], user: Mapping[str, Any], *, allow_http: bool = False
) -> None:
    """Refuse what a stored kubeconfig may not hold (see the module docstring)."""
    sections = (("cluster", cluster, _CLUSTER_FILES), ("user", user, _USER_FILES))
    for where, section, files in sections:
        for field, inline in files.items():
            if section.get(field):
                raise KubeconfigError(
                    f"{where}.{field}: a kubeconfig from the store cannot name a file; "
                    f"put the value inline as {where}.{inline}"
                )
    if runs := [f for f in ("exec", "auth-provider") if user.get(f)]:
        raise KubeconfigError(
            f"user.{runs[0]}: kubeconfigs that run commands are not allowed; "
            "use user.token or user.client-certificate-data and user.client-key-data"
        )
    if cluster.get("insecure-skip-tls-verify"):
        raise KubeconfigError(
            "cluster.insecure-skip-tls-verify: TLS verification cannot be skipped; "
            "give cluster.certificate-authority-data instead"
        )
    server = str(cluster.get("server") or "")
    # Only the scheme is quoted: a server URL may carry credentials.
    scheme = urlsplit(server).scheme.lower()
    if scheme == "http" and not allow_http:
        raise KubeconfigError(
            "cluster.server: an http:// server would get credentials in clear text; "
            "use https://, or set SLUICE_ALLOW_HTTP_CLUSTERS=true for a local test cluster"
        )
    if scheme not in ("http", "https"):
        raise KubeconfigError(f"cluster.server: scheme {scheme!r} is not supported; use https://")


def _ssl_context(cluster: Mapping[str, Any], user: Mapping[str, Any]) -> ssl.SSLContext:
    ca = _data(cluster, "certificate-authority", "cluster")
    try:  # cadata takes PEM as text or DER as bytes
        pem = ca is not None and ca.lstrip().startswith(b"-----")
        ctx = ssl.create_default_context(cadata=ca.decode() if ca and pem else ca)
    except (ssl.SSLError, ValueError) as exc:
        message = "cluster.certificate-authority-data: not a valid certificate"
        raise KubeconfigError(message) from exc
    cert = _data(user, "client-certificate", "user")
    key = _data(user, "client-key", "user")
    if bool(cert) != bool(key):
        raise KubeconfigError(
            "user: client-certificate-data and client-key-data must be given together"
        )
    if cert and key:
        # ssl reads a key only from a file: keep it owner-only and only until loaded.
        with private_dir("sluice-tls-") as tmp:
            path = write_private(tmp / "tls.pem", cert.rstrip() + b"\n" + key)
            try:
                ctx.load_cert_chain(str(path))
            except ssl.SSLError as exc:
                raise KubeconfigError("user: client certificate or key is not valid") from exc
    return ctx


def client_from_dict(
    config: Mapping[str, Any],
    *,
    context: str | None = None,
    impersonate: ServiceAccount | None = None,
    allow_http: bool = False,
    timeout: float = 30.0,
) -> KubeClient:
    """A client for ``context`` (default: current-context) of a parsed kubeconfig."""
    ctx_name = context or config.get("current-context")
    if not ctx_name:
        raise KubeconfigError("kubeconfig: no context given and no current-context set")
    ctx = _named(config, "context", str(ctx_name))
    cluster = _named(config, "cluster", str(ctx.get("cluster", "")))
    user = _named(config, "user", str(ctx.get("user", ""))) if ctx.get("user") else {}
    if not cluster.get("server"):
        raise KubeconfigError(f"kubeconfig: cluster of context {ctx_name!r} has no server")
    check_kubeconfig(cluster, user, allow_http=allow_http)
    headers: dict[str, str] = {}
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    elif user.get("username"):
        credentials = f"{user['username']}:{user.get('password', '')}"
        headers["Authorization"] = urllib3.util.make_headers(basic_auth=credentials)[
            "authorization"
        ]
    if impersonate is not None:
        headers["Impersonate-User"] = impersonate.username
    pool_args: dict[str, Any] = {
        "ssl_context": _ssl_context(cluster, user),
        "cert_reqs": ssl.CERT_REQUIRED,
        "maxsize": POOL_SIZE,
    }
    if cluster.get("tls-server-name"):
        pool_args["server_hostname"] = str(cluster["tls-server-name"])
    pool: urllib3.PoolManager
    if cluster.get("proxy-url"):
        pool = urllib3.ProxyManager(str(cluster["proxy-url"]), **pool_args)
    else:
        pool = urllib3.PoolManager(**pool_args)
    return KubeClient(str(cluster["server"]), pool, headers=headers, timeout=timeout)


def client_from_kubeconfig(
    text: str,
    *,
    context: str | None = None,
    impersonate: ServiceAccount | None = None,
    allow_http: bool = False,
    timeout: float = 30.0,
) -> KubeClient:
    """A client from kubeconfig YAML text, as held in a kubeConfig Secret."""
    try:
        config = yaml.load(text, source="kubeconfig")
    except yaml.DocumentError as exc:
        # The message never quotes the text (it holds credentials); do not chain the cause.
        raise KubeconfigError(f"kubeconfig: not valid YAML: {exc.message}") from None
    if not isinstance(config, Mapping):
        raise KubeconfigError("kubeconfig: expected a mapping with clusters, users and contexts")
    return client_from_dict(
        config,
        context=context,
        impersonate=impersonate,
        allow_http=allow_http,
        timeout=timeout,
    )
