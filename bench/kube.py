"""Read what landed in a sandbox cluster, over the apiserver's REST API (for the stopwatch)."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import httpx

from shared import yaml

__all__ = ["KubeReader", "kube_http"]


def kube_http(
    kubeconfig: Path, *, timeout: float, limits: httpx.Limits | None = None
) -> httpx.Client:
    """An HTTPS client for a sandbox cluster's kubeconfig (embedded CA, bearer token)."""
    config = yaml.load(kubeconfig.read_text(), source=str(kubeconfig))
    cluster = config["clusters"][0]["cluster"]
    token = config["users"][0]["user"]["token"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    return httpx.Client(
        base_url=cluster["server"],
        verify=ssl.create_default_context(cadata=ca),
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        limits=limits or httpx.Limits(),
    )


class KubeReader:
    """A small HTTPS client for one cluster, from its kubeconfig (embedded CA, bearer token)."""

    def __init__(self, kubeconfig: Path, *, timeout: float = 5.0) -> None:
        self._http = kube_http(kubeconfig, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def configmap_value(self, namespace: str, name: str) -> str | None:
        """``data.value`` of a ConfigMap, or None when it (or the apiserver) is not there."""
        try:
            response = self._http.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        data: dict[str, Any] = response.json().get("data") or {}
        value = data.get("value")
        return None if value is None else str(value)

    def has_configmap(self, namespace: str, name: str) -> bool:
        """Whether ConfigMap ``namespace/name`` exists (False when the apiserver is not there)."""
        try:
            response = self._http.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def container_image(self, namespace: str, name: str) -> str | None:
        """The first container's image of Deployment ``namespace/name`` (None when absent)."""
        try:
            response = self._http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        containers = response.json()["spec"]["template"]["spec"].get("containers") or [{}]
        image = containers[0].get("image")
        return None if image is None else str(image)

    def count_configmaps(self, namespace: str, *, label: str) -> int:
        """How many ConfigMaps in ``namespace`` carry label ``label`` (any value)."""
        return self._count("configmaps", namespace, label)

    def count_secrets(self, namespace: str, *, label: str) -> int:
        """How many Secrets in ``namespace`` match label selector ``label``."""
        return self._count("secrets", namespace, label)

    def _count(self, resource: str, namespace: str, label: str) -> int:
        response = self._http.get(
            f"/api/v1/namespaces/{namespace}/{resource}",
            params={"labelSelector": label},
            timeout=60.0,
        )
        response.raise_for_status()
        return len(response.json().get("items") or [])
