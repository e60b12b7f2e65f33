"""Which clusters an object applies to: a pure function of its fan-out spec and the Clusters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.api import Cluster
from shared.api.fleet import FanOutSpec

__all__ = [
    "DEFAULT_CLUSTER",
    "KUBECONFIG_TARGET",
    "Target",
    "TargetSelection",
    "cluster_target",
    "select_targets",
]

DEFAULT_CLUSTER = "default"
# spec.kubeConfig names one remote cluster directly, with no Cluster object.
KUBECONFIG_TARGET = "kubeconfig"


@dataclass(frozen=True)
class Target:
    """One cluster to apply to, and the Secret holding its kubeconfig.

    A Cluster's Secret is in the Cluster's namespace of the fleet-wide scope
    (``secret_namespace``, ``secret_scope`` ""); a ``spec.kubeConfig`` Secret
    (``secret_scope`` None) is a reference of the object, resolved in its scope.
    """

    name: str
    secret_name: str
    secret_key: str = "value"
    secret_namespace: str = ""  # "": the object's namespace
    secret_scope: str | None = None


@dataclass(frozen=True)
class TargetSelection:
    """The clusters to apply to, and the ones the spec names that don't exist."""

    targets: tuple[Target, ...]
    missing: tuple[str, ...] = ()


def cluster_target(cluster: Cluster) -> Target:
    """The target of one Cluster object: its name and kubeconfig Secret."""
    ref = cluster.spec.kube_config.secret_ref
    return Target(
        cluster.name,
        ref.name,
        ref.key or "value",
        secret_namespace=cluster.namespace,
        secret_scope="",
    )


def select_targets(
    spec: FanOutSpec, clusters: Sequence[Cluster], *, default: str = DEFAULT_CLUSTER
) -> TargetSelection:
    """Targets per spec: kubeConfig, a list of names, a label selector, or the ``default`` Cluster.

    ``clusters`` are the Cluster objects the object may target: those of its
    namespace, or in a Cluster's scope that Cluster alone (``default`` its name).
    """
    if spec.kube_config is not None:
        ref = spec.kube_config.secret_ref
        if ref is None:
            raise ValueError(
                "spec.kubeConfig.configMapRef (cloud provider login) is not supported: "
                "put the kubeconfig in a Secret and use spec.kubeConfig.secretRef"
            )
        return TargetSelection((Target(KUBECONFIG_TARGET, ref.name, ref.key or "value"),))
    by_name = {c.name: c for c in clusters}
    if spec.cluster_selector is not None:
        selector = spec.cluster_selector
        chosen = sorted((c for c in clusters if selector.matches(c.labels)), key=lambda c: c.name)
        return TargetSelection(tuple(cluster_target(c) for c in chosen))
    names = spec.clusters if spec.clusters is not None else [default]
    found = tuple(cluster_target(by_name[n]) for n in names if n in by_name)
    missing = tuple(n for n in names if n not in by_name)
    return TargetSelection(found, missing)
