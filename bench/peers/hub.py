"""A small REST client for the hub apiserver that holds Flux's own objects.

It creates objects (all at once from a few threads, as ``kubectl apply`` of a
big file would), reads their status and sets annotations; and installs CRDs,
waiting until each is Established. Only the kinds the benchmark uses are known.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.kube import kube_http
from shared import yaml

__all__ = ["HubClient", "HubError"]

Doc = dict[str, Any]

# kind -> (API path prefix, plural, namespaced)
_KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Secret": ("/api/v1", "secrets", True),
    "GitRepository": ("/apis/source.toolkit.fluxcd.io/v1", "gitrepositories", True),
    "Kustomization": ("/apis/kustomize.toolkit.fluxcd.io/v1", "kustomizations", True),
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
}
_CREATE_THREADS = 8


class HubError(RuntimeError):
    """The hub apiserver refused a request (the message has its answer)."""


def _path(kind: str, namespace: str | None, name: str | None = None) -> str:
    prefix, plural, namespaced = _KINDS[kind]
    path = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
    return path if name is None else f"{path}/{name}"


class HubClient:
    """An admin HTTPS client for one apiserver, from its kubeconfig (embedded CA, bearer token)."""

    def __init__(self, kubeconfig: Path, *, timeout: float = 30.0) -> None:
        limits = httpx.Limits(max_connections=_CREATE_THREADS)
        self._http = kube_http(kubeconfig, timeout=timeout, limits=limits)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _check(self, response: httpx.Response, what: str) -> Any:
        if response.is_error:
            raise HubError(f"{what}: {response.status_code} {response.text[:500]}")
        return response.json()

    def create(self, doc: Doc) -> None:
        """Create one object; one that already exists is left as it is."""
        meta = doc["metadata"]
        response = self._http.post(_path(doc["kind"], meta.get("namespace")), json=doc)
        if response.status_code != 409:
            self._check(response, f"create {doc['kind']}/{meta['name']}")

    def create_all(self, docs: Sequence[Doc]) -> None:
        """Create many objects at once, a few requests in flight."""
        with ThreadPoolExecutor(max_workers=_CREATE_THREADS) as pool:
            for future in [pool.submit(self.create, doc) for doc in docs]:
                future.result()

    def get(self, kind: str, namespace: str | None, name: str) -> Doc | None:
        """One object, or None when it does not exist."""
        response = self._http.get(_path(kind, namespace, name))
        if response.status_code == 404:
            return None
        result: Doc = self._check(response, f"get {kind}/{name}")
        return result

    def items(self, kind: str, namespace: str | None) -> list[Doc]:
        """Every object of ``kind`` in ``namespace``."""
        items: list[Doc] = self._check(self._http.get(_path(kind, namespace)), f"list {kind}")[
            "items"
        ]
        return items

    def annotate(self, kind: str, namespace: str, name: str, annotations: dict[str, str]) -> None:
        """Set annotations on one object (a JSON merge patch, as ``kubectl annotate``)."""
        response = self._http.patch(
            _path(kind, namespace, name),
            json={"metadata": {"annotations": annotations}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        self._check(response, f"annotate {kind}/{name}")

    def install_crds(self, files: Iterable[Path], *, timeout: float) -> list[str]:
        """Create the CRDs in ``files`` and wait until every one is Established."""
        names = []
        for path in files:
            for doc in yaml.load_all(path.read_text(), source=str(path)):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    self.create(doc)
                    names.append(doc["metadata"]["name"])
        deadline = time.monotonic() + timeout
        for name in names:
            while not self._established(name):
                if time.monotonic() > deadline:
                    raise HubError(f"CRD {name} not Established after {timeout:.0f}s")
                time.sleep(0.1)
        return names

    def _established(self, name: str) -> bool:
        crd = self.get("CustomResourceDefinition", None, name) or {}
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
