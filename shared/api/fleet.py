"""sluice's own kinds (``fleet.sluice.dev``): Cluster, a fan-out target; and the fan-out fields.

``FanOutSpec`` holds the fields by which any kind that applies to clusters
(Kustomization, later HelmRelease) picks them: ``spec.clusters`` names Clusters
(in the object's namespace) and ``spec.clusterSelector`` selects them by label;
with neither, the object applies to the Cluster ``default``. The two cannot be
combined, and neither can be combined with Flux's single-cluster
``spec.kubeConfig``.

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

from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from shared.api.meta import (
    ApiModel,
    ApiObject,
    LabelSelector,
    LocalObjectReference,
    Name,
    SecretKeyReference,
)

__all__ = [
    "Cluster",
    "ClusterKubeConfig",
    "ClusterSpec",
    "FanOutSpec",
    "KubeConfigReference",
]


class KubeConfigReference(ApiModel):
    """``spec.kubeConfig``: a remote cluster, by Secret (key ``value``) or ConfigMap."""

    secret_ref: SecretKeyReference | None = None
    config_map_ref: LocalObjectReference | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise ValueError("expected exactly one of secretRef or configMapRef")
        return self


class FanOutSpec(ApiModel):
    """The spec fields that pick target clusters; a base of every fanned-out kind's spec."""

    # The three target fields stay in this order: each check reads the ones above it.
    kube_config: KubeConfigReference | None = None
    clusters: list[Name] | None = None
    cluster_selector: LabelSelector | None = None
    service_account_name: Name | None = None

    @field_validator("clusters")
    @classmethod
    def _clusters_are_a_set(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return value
        if info.data.get("kube_config") is not None:
            raise ValueError("cannot be combined with spec.kubeConfig: use one of them")
        if not value:
            raise ValueError("must name at least one Cluster; omit it for the default cluster")
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"names a Cluster more than once: {', '.join(duplicates)}")
        return value

    @field_validator("cluster_selector")
    @classmethod
    def _selector_alone(
        cls, value: LabelSelector | None, info: ValidationInfo
    ) -> LabelSelector | None:
        if value is None:
            return value
        if info.data.get("clusters") is not None:
            raise ValueError("cannot be combined with spec.clusters: use one of them")
        if info.data.get("kube_config") is not None:
            raise ValueError("cannot be combined with spec.kubeConfig: use one of them")
        return value


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
