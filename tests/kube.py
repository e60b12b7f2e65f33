"""Small readers of sandbox cluster state for assertions, and Clusters registered in a store."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from kubernetes import client as k8s

from shared.store import Store
from tests.fixtures.cluster import api_client

T = TypeVar("T")

__all__ = [
    "configmap_data",
    "namespace_exists",
    "namespaced_names",
    "owned_objects",
    "register_cluster",
    "secret_data",
    "unreachable_kubeconfig",
]


def _read_or_none(kubeconfig: Path, read: Callable[[k8s.CoreV1Api], T]) -> T | None:
    """``read`` on the cluster's core API; None when it answers 404 (no such object)."""
    api = k8s.CoreV1Api(api_client(kubeconfig))
    try:
        return read(api)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    finally:
        api.api_client.close()


def configmap_data(kubeconfig: Path, name: str, namespace: str) -> dict[str, str] | None:
    """A ConfigMap's data, or None when it does not exist."""
    return _read_or_none(
        kubeconfig, lambda api: dict(api.read_namespaced_config_map(name, namespace).data or {})
    )


def secret_data(kubeconfig: Path, name: str, namespace: str) -> dict[str, str] | None:
    """A Secret's data, decoded, or None when it does not exist."""
    data = _read_or_none(
        kubeconfig, lambda api: api.read_namespaced_secret(name, namespace).data or {}
    )
    if data is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def namespace_exists(kubeconfig: Path, name: str) -> bool:
    """Whether the Namespace exists on the cluster."""
    return _read_or_none(kubeconfig, lambda api: api.read_namespace(name)) is not None


def namespaced_names(kubeconfig: Path, namespace: str) -> set[str]:
    """Names of the ConfigMaps in a namespace (minus kube-root-ca.crt)."""
    api = k8s.CoreV1Api(api_client(kubeconfig))
    try:
        items = api.list_namespaced_config_map(namespace).items
    finally:
        api.api_client.close()
    return {i.metadata.name for i in items} - {"kube-root-ca.crt"}


def owned_objects(kubeconfig: Path, name: str, namespace: str = "flux-system") -> set[str]:
    """Namespaces and ConfigMaps carrying Kustomization ``namespace/name``'s owner labels.

    As ``Namespace/<name>`` and ``ConfigMap/<namespace>/<name>``; a Namespace being deleted
    (the sandbox has no controller-manager to finish it) still counts.
    """
    selector = (
        f"kustomize.toolkit.fluxcd.io/name={name},kustomize.toolkit.fluxcd.io/namespace={namespace}"
    )
    api = k8s.CoreV1Api(api_client(kubeconfig))
    try:
        namespaces = api.list_namespace(label_selector=selector).items
        configmaps = api.list_config_map_for_all_namespaces(label_selector=selector).items
    finally:
        api.api_client.close()
    return {f"Namespace/{n.metadata.name}" for n in namespaces} | {
        f"ConfigMap/{c.metadata.namespace}/{c.metadata.name}" for c in configmaps
    }


def register_cluster(store: Store, name: str, kubeconfig: str, *, namespace: str) -> None:
    """Store Cluster ``name`` and its kubeconfig Secret, as ``sluice cluster add`` would."""
    value = base64.b64encode(kubeconfig.encode()).decode()
    secret = {"name": f"{name}-kubeconfig", "namespace": namespace}
    store.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": secret, "data": {"value": value}}
    )
    store.apply(
        {
            "apiVersion": "fleet.sluice.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"kubeConfig": {"secretRef": {"name": f"{name}-kubeconfig"}}},
        }
    )


def unreachable_kubeconfig(kubeconfig: Path) -> str:
    """The sandbox kubeconfig pointed at a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    return str(yaml.safe_dump(config))
