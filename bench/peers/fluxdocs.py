"""Flux's own objects for a scenario: the same app and intervals as sluice's, Flux-shaped.

A sluice Kustomization picks its clusters with ``clusterSelector``; Flux has
one Kustomization per cluster, each reaching its cluster through
``spec.kubeConfig.secretRef`` (a Secret ``c<n>-kubeconfig`` on the hub), so
Flux never applies to the hub it runs against. Everything else (path,
prune, targetNamespace, namePrefix, retryInterval) is what
``bench.manifests.kustomization`` gives sluice.
"""

from __future__ import annotations

from typing import Any

from bench import manifests
from bench.manifests import NAMESPACE

__all__ = ["REQUESTED_AT", "kubeconfig_secret_name", "kustomization", "namespace"]

# What `flux reconcile` and the notification-controller's Receiver set to ask for a reconcile now.
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
Doc = dict[str, Any]


def kubeconfig_secret_name(cluster: int) -> str:
    """The hub Secret holding target cluster ``cluster``'s kubeconfig."""
    return f"c{cluster}-kubeconfig"


def namespace(name: str = NAMESPACE) -> Doc:
    """The namespace Flux's objects live in on the hub."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def kustomization(
    name: str,
    *,
    source: str,
    interval: str,
    cluster: int,
    path: str = "./app",
    target_namespace: str = "default",
    name_prefix: str | None = None,
) -> Doc:
    """sluice's bench Kustomization, applied to target cluster ``cluster`` by kubeConfig.

    Flux has no cluster selector: the same document with ``spec.kubeConfig`` in its place.
    """
    doc = manifests.kustomization(
        name,
        source=source,
        interval=interval,
        path=path,
        target_namespace=target_namespace,
        name_prefix=name_prefix,
    )
    del doc["spec"]["clusterSelector"]
    doc["spec"]["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret_name(cluster)}}
    return doc
