"""sluice's own kinds (``fleet.sluice.dev``): Cluster, a fan-out target.

A Cluster is a kubeconfig held in a Secret of the same namespace (key
``value`` unless ``spec.kubeConfig.secretRef.key`` says otherwise) plus the
labels in ``metadata.labels`` that a Kustomization's ``spec.clusterSelector``
matches. Nothing reconciles a Cluster on its own: the services that apply to
clusters read it.

Example::

    apiVersion: fleet.sluice.dev/v1alpha1
    kind: Cluster
    metadata:
      name: prod-eu-1
      namespace: flux-system
      labels: {env: prod, region: eu}
    spec:
      kubeConfig:
        secretRef:
          name: prod-eu-1-kubeconfig
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.api.meta import ApiModel, ApiObject, SecretKeyReference

__all__ = ["Cluster", "ClusterKubeConfig", "ClusterSpec"]


class ClusterKubeConfig(ApiModel):
    """``spec.kubeConfig``: where the kubeconfig is kept."""

    secret_ref: SecretKeyReference


class ClusterSpec(ApiModel):
    """``Cluster.spec``."""

    kube_config: ClusterKubeConfig


class Cluster(ApiObject):
    """A target cluster for fan-out."""

    spec: ClusterSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @property
    def labels(self) -> dict[str, str]:
        """``metadata.labels``, what cluster selectors match."""
        return self.metadata.labels
