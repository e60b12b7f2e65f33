"""A Kubernetes client for one target cluster: kubeconfig in, JSON REST calls out.

``client_from_kubeconfig`` builds a ``kubernetes`` ApiClient from kubeconfig text
(or ``client_from_dict`` from the parsed dict) without leaving credentials on
disk: the TLS context is built in memory, and a client key is only written,
owner-only, for the instant Python's ``ssl`` needs to read it. As Flux does by
default, kubeconfigs that run commands (``exec``, ``auth-provider``) or skip TLS
verification are refused unless allowed. With ``impersonate`` every request
acts as that service account (Flux's ``serviceAccountName``).

``KubeClient`` resolves apiVersion + kind to a resource through discovery, cached
per client and refreshed on a miss (a CRD applied a moment ago), and offers the
few verbs apply, prune and wait need. Errors::

    KubeError
    ├── ApiError          the API server answered with an error Status
    ├── UnknownKindError  no resource serves that apiVersion/kind
    ├── UnreachableError  the API server could not be reached (transient)
    └── KubeconfigError   the kubeconfig is unusable
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException

from shared import yaml

__all__ = [
    "ApiError",
    "KubeClient",
    "KubeError",
    "KubeconfigError",
    "ResourceInfo",
    "ServiceAccount",
    "UnknownKindError",
    "UnreachableError",
    "client_from_dict",
    "client_from_kubeconfig",
]

APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"


class KubeError(Exception):
    """A request to a target cluster failed."""


class ApiError(KubeError):
    """The API server refused a request; ``reason`` and ``message`` are its own."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.status = status
        self.reason = reason
        self.message = message


class UnknownKindError(KubeError):
    """No API resource serves the given apiVersion and kind."""


class UnreachableError(KubeError):
    """The API server did not answer; worth retrying."""


class KubeconfigError(KubeError, ValueError):
    """The kubeconfig cannot be used, with the field at fault."""


@dataclass(frozen=True)
class ServiceAccount:
    """A service account to impersonate."""

    namespace: str
    name: str

    @property
    def username(self) -> str:
        """The user name the API server knows it by."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


@dataclass(frozen=True)
class ResourceInfo:
    """Where one kind is served: its plural resource name and whether it is namespaced."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        """The REST path of the collection (no name) or of one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return f"{base}/{quote(name, safe='')}" if name else base


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class KubeClient:
    """JSON REST calls to one cluster, with a per-client discovery cache."""

    def __init__(self, api: ApiClient, *, timeout: float = 30.0) -> None:
        self.api = api
        self.timeout = timeout
        self._untyped: Any = api  # the generated client's methods carry no annotations
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, str], dict[str, ResourceInfo]] = {}

    def close(self) -> None:
        """Release the connection pool."""
        self._untyped.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One call; the decoded JSON answer, or ApiError / UnreachableError."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self.api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
            data = cast(Any, response).read()
        except ApiException as exc:  # the REST layer's wrapper for TLS failures
            raise UnreachableError(f"{self.host}: {exc.reason}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise UnreachableError(f"{self.host}: {exc}") from exc
        decoded: Any = None
        if data:
            try:
                decoded = json.loads(data)
            except ValueError:
                decoded = {"message": data.decode("utf-8", "replace")[:500]}
        if not 200 <= response.status < 300:
            info = decoded if isinstance(decoded, dict) else {}
            http = str(response.reason or response.status).replace(" ", "")
            reason = str(info.get("reason") or http)
            raise ApiError(response.status, reason, str(info.get("message") or ""))
        return decoded if isinstance(decoded, dict) else {}

    @property
    def host(self) -> str:
        """The API server URL."""
        return str(self.api.configuration.host)

    def _discover(self, group: str, version: str) -> dict[str, ResourceInfo]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return {}
            raise
        kinds: dict[str, ResourceInfo] = {}
        for res in listing.get("resources") or []:
            kind, name = str(res["kind"]), str(res["name"])
            if "/" not in name:  # not a subresource such as deployments/scale
                kinds.setdefault(kind, ResourceInfo(group, version, kind, name, res["namespaced"]))
        return kinds

    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """The resource serving ``kind`` at ``api_version``; UnknownKindError when none does."""
        key = _split(api_version)
        with self._lock:
            cached = self._kinds.get(key)
        if cached is None or kind not in cached:
            cached = self._discover(*key)
            with self._lock:
                self._kinds[key] = cached
        if kind not in cached:
            raise UnknownKindError(
                f'no matches for kind "{kind}" in version "{api_version}": '
                "is its CustomResourceDefinition installed?"
            )
        return cached[kind]

    def path(self, obj: Mapping[str, Any], *, collection: bool = False) -> str:
        """The REST path of the object named by ``obj``, or of its collection."""
        meta = obj.get("metadata") or {}
        info = self.resource(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        name = "" if collection else str(meta.get("name") or "")
        return info.path(str(meta.get("namespace") or ""), name)

    def get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """The live object named by ``obj`` (apiVersion, kind, metadata), or None."""
        try:
            return self.request("GET", self.path(obj))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply ``obj``; ``dry_run`` asks the API server to check it only."""
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH", self.path(obj), query=query, body=obj, content_type=APPLY_PATCH
        )

    def delete(
        self, obj: Mapping[str, Any], *, propagation: str = "Background", uid: str = ""
    ) -> bool:
        """Delete the object named by ``obj``; only that incarnation when ``uid`` is given.

        False when it was already gone.
        """
        body: dict[str, Any] = {"propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", self.path(obj), body=body)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _data(section: Mapping[str, Any], key: str, where: str) -> bytes | None:
    """Inline ``<key>-data`` (base64) or the file named by ``<key>``."""
    if section.get(f"{key}-data"):
        try:
            return base64.b64decode(str(section[f"{key}-data"]), validate=True)
        except ValueError as exc:
            raise KubeconfigError(f"{where}.{key}-data: not valid base64") from exc
    if section.get(key):
        try:
            return Path(str(section[key])).read_bytes()
        except OSError as exc:
            raise KubeconfigError(f"{where}.{key}: cannot read {section[key]!r}") from exc
    return None


def _named(config: Mapping[str, Any], kind: str, name: str) -> Mapping[str, Any]:
    for item in config.get(f"{kind}s") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return item.get(kind) or {}
    raise KubeconfigError(f"kubeconfig: {kind} {name!r} is not defined in {kind}s[]")


def _ssl_context(
    cluster: Mapping[str, Any], user: Mapping[str, Any], *, verify: bool
) -> ssl.SSLContext:
    ca = _data(cluster, "certificate-authority", "cluster")
    try:  # cadata takes PEM as text or DER as bytes
        pem = ca is not None and ca.lstrip().startswith(b"-----")
        ctx = ssl.create_default_context(cadata=ca.decode() if ca and pem else ca)
    except (ssl.SSLError, ValueError) as exc:
        raise KubeconfigError("cluster.certificate-authority: not a valid certificate") from exc
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert = _data(user, "client-certificate", "user")
    key = _data(user, "client-key", "user")
    if bool(cert) != bool(key):
        raise KubeconfigError("user: client-certificate and client-key must be given together")
    if cert and key:
        # ssl reads a key only from a file: keep it owner-only and only until loaded.
        with tempfile.TemporaryDirectory(prefix="sluice-tls-") as tmp:  # mode 0700
            path = os.path.join(tmp, "tls.pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(cert.rstrip() + b"\n" + key)
            try:
                ctx.load_cert_chain(path)
            except ssl.SSLError as exc:
                raise KubeconfigError("user: client certificate or key is not valid") from exc
    return ctx


def client_from_dict(
    config: Mapping[str, Any],
    *,
    context: str | None = None,
    impersonate: ServiceAccount | None = None,
    allow_insecure: bool = False,
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
    if runs := [f for f in ("exec", "auth-provider") if user.get(f)]:
        raise KubeconfigError(
            f"user.{runs[0]}: kubeconfigs that run commands are not allowed; "
            "use a token or a client certificate"
        )
    verify = not cluster.get("insecure-skip-tls-verify", False)
    if not verify and not allow_insecure:
        raise KubeconfigError(
            "cluster.insecure-skip-tls-verify: TLS verification cannot be skipped; "
            "give certificate-authority-data instead"
        )
    configuration = Configuration(host=str(cluster["server"]).rstrip("/"))
    configuration.verify_ssl = verify
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            token = Path(str(user["tokenFile"])).read_text().strip()
        except OSError as exc:
            raise KubeconfigError(f"user.tokenFile: cannot read {user['tokenFile']!r}") from exc
    if token:
        configuration.api_key = {"authorization": f"Bearer {token}"}
    elif user.get("username"):
        credentials = f"{user['username']}:{user.get('password', '')}"
        basic = urllib3.util.make_headers(basic_auth=credentials)["authorization"]
        configuration.api_key = {"authorization": basic}
    api = ApiClient(configuration)
    pool_args: dict[str, Any] = {
        "ssl_context": _ssl_context(cluster, user, verify=verify),
        "cert_reqs": ssl.CERT_REQUIRED if verify else ssl.CERT_NONE,
        "maxsize": 8,
    }
    if cluster.get("tls-server-name"):
        pool_args["server_hostname"] = str(cluster["tls-server-name"])
    if cluster.get("proxy-url"):
        api.rest_client.pool_manager = urllib3.ProxyManager(str(cluster["proxy-url"]), **pool_args)
    else:
        api.rest_client.pool_manager = urllib3.PoolManager(**pool_args)
    if impersonate is not None:
        api.default_headers["Impersonate-User"] = impersonate.username
    return KubeClient(api, timeout=timeout)


def client_from_kubeconfig(
    text: str,
    *,
    context: str | None = None,
    impersonate: ServiceAccount | None = None,
    allow_insecure: bool = False,
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
        allow_insecure=allow_insecure,
        timeout=timeout,
    )
