"""Small readers of sandbox cluster state for assertions."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s

from tests.fixtures.cluster import api_client

__all__ = ["configmap_data", "namespaced_names"]


def configmap_data(kubeconfig: Path, name: str, namespace: str) -> dict[str, str] | None:
    """A ConfigMap's data, or None when it does not exist."""
    api = k8s.CoreV1Api(api_client(kubeconfig))
    try:
        return dict(api.read_namespaced_config_map(name, namespace).data or {})
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    finally:
        api.api_client.close()


def namespaced_names(kubeconfig: Path, namespace: str) -> set[str]:
    """Names of the ConfigMaps in a namespace (minus kube-root-ca.crt)."""
    api = k8s.CoreV1Api(api_client(kubeconfig))
    try:
        items = api.list_namespaced_config_map(namespace).items
    finally:
        api.api_client.close()
    return {i.metadata.name for i in items} - {"kube-root-ca.crt"}
