"""JSON REST calls to one cluster, with discovery: the verbs apply, prune, wait and helm need.

``KubeClient`` sends JSON over a urllib3 connection pool (built with its TLS
context and credentials by ``kubeconfig.py``) and resolves apiVersion + kind to
a resource through discovery, cached per client and refreshed on a miss (a CRD
applied a moment ago). Errors are those of ``errors.py``: ApiError,
UnknownKindError, UnreachableError.

Why not the ``kubernetes`` package's ApiClient: sluice needs only its transport
(a urllib3 pool and a JSON body), but importing it loads every generated model
and API class, 32 MiB in each worker that talks to clusters; the few lines here
do the same requests on the same urllib3.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from shared.kube.errors import ApiError, UnknownKindError, UnreachableError
from shared.kube.known import KnownApplied
from shared.kube.parallel import run_all

__all__ = ["APPLY_PATCH", "JSON_PATCH", "METADATA_LIST", "KubeClient", "ResourceInfo"]

APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
# A list of metadata only (what kubectl's and controller-runtime's metadata clients ask for).
METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"


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

    def __init__(
        self,
        host: str,
        pool: urllib3.PoolManager,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._pool = pool
        # Credentials and impersonation: sent with every request, never logged.
        self._headers = dict(headers or {})
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, str], dict[str, ResourceInfo]] = {}
        # Payloads known to be in place on this cluster: their dry runs are skipped.
        self.known = KnownApplied()
        # One discovery of a group version at a time: concurrent misses wait for it.
        self._discovering: dict[tuple[str, str], threading.Lock] = {}

    def close(self) -> None:
        """Release the connection pool."""
        self._pool.clear()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """One call; the decoded JSON answer, or ApiError / UnreachableError."""
        url = self.host + path + (f"?{urlencode(query)}" if query else "")
        payload = None if body is None else json.dumps(body, default=str).encode()
        headers = {**self._headers, "Content-Type": content_type, "Accept": accept}
        try:
            response = self._pool.request(
                method, url, body=payload, headers=headers, timeout=self.timeout
            )
        except urllib3.exceptions.HTTPError as exc:  # refused, timed out, TLS failed
            raise UnreachableError(f"{self.host}: {exc}") from exc
        data = response.data
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
            discovering = self._discovering.setdefault(key, threading.Lock())
        if cached is None or kind not in cached:
            with discovering:
                with self._lock:
                    current = self._kinds.get(key)
                if current is None or current is cached:  # nobody refreshed it meanwhile
                    current = self._discover(*key)
                    with self._lock:
                        self._kinds[key] = current
                cached = current
        if kind not in cached:
            raise UnknownKindError(
                f'no matches for kind "{kind}" in version "{api_version}": '
                "is its CustomResourceDefinition installed?"
            )
        return cached[kind]

    def prefetch(self, kinds: Iterable[tuple[str, str]]) -> None:
        """Discover the (apiVersion, kind) pairs not cached yet, side by side.

        Kinds the cluster does not serve are left for ``resource`` to refuse.
        """
        with self._lock:
            missing = {
                _split(v): (v, k) for v, k in kinds if k not in (self._kinds.get(_split(v)) or {})
            }
        run_all([partial(self._served, *pair) for pair in missing.values()])

    def _served(self, api_version: str, kind: str) -> ResourceInfo | None:
        try:
            return self.resource(api_version, kind)
        except (UnknownKindError, ApiError):
            return None

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

    def list_objects(
        self, api_version: str, kind: str, *, namespace: str = "", label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """The objects of ``kind`` in ``namespace`` (all namespaces when empty) that match.

        One request: ``label_selector`` is filtered by the API server. List items
        carry no apiVersion and kind.
        """
        info = self.resource(api_version, kind)
        query = {"labelSelector": label_selector} if label_selector else None
        listing = self.request("GET", info.path(namespace), query=query)
        return list(listing.get("items") or [])

    def update(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the object named by ``obj`` with it (PUT); the object as stored.

        With ``metadata.resourceVersion`` set, the write happens only if nobody
        wrote the object since that version: otherwise ApiError 409 (Conflict).
        """
        return self.request("PUT", self.path(obj), body=obj)

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
