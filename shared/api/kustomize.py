"""Kustomization (``kustomize.toolkit.fluxcd.io``), FLUX-API §3.1, plus sluice fan-out.

Fan-out: ``spec.clusters`` names Clusters (in the Kustomization's namespace)
and ``spec.clusterSelector`` selects them by label; with neither, the
Kustomization applies to the default cluster. The two cannot be combined, and
neither can be combined with Flux's single-cluster ``spec.kubeConfig``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from shared import yaml
from shared.api.durations import parse_duration
from shared.api.kinds import KUSTOMIZE_GROUP, KindInfo, register
from shared.api.meta import (
    Annotations,
    ApiModel,
    ApiObject,
    Duration,
    Interval,
    Labels,
    LabelSelector,
    LocalObjectReference,
    Name,
    Namespace,
    NamespacedObjectKindReference,
    SecretKeyReference,
)

__all__ = [
    "KUSTOMIZATION",
    "CommonMetadata",
    "CustomHealthCheck",
    "Decryption",
    "DependencyReference",
    "IgnoreRule",
    "Image",
    "KubeConfigReference",
    "Kustomization",
    "KustomizationSpec",
    "Patch",
    "PostBuild",
    "Selector",
    "SourceReference",
    "SubstituteReference",
]

_VAR_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")


class SourceReference(ApiModel):
    """``spec.sourceRef``: the artifact source; namespace defaults to the Kustomization's."""

    api_version: str | None = None
    kind: Literal["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"]
    name: Name
    namespace: Namespace | None = None


class DependencyReference(ApiModel):
    """``spec.dependsOn[]``: a Kustomization that must be Ready first."""

    name: Name
    namespace: Namespace | None = None
    ready_expr: str | None = None


class CustomHealthCheck(ApiModel):
    """``spec.healthCheckExprs[]``: CEL readiness rules for a kind."""

    api_version: str = Field(min_length=1)
    kind: str | None = None
    current: str = Field(min_length=1)
    in_progress: str | None = None
    failed: str | None = None


class Selector(ApiModel):
    """Patch / ignore target: regexes over group, version, kind, name, namespace, selectors."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


class Patch(ApiModel):
    """``spec.patches[]``: a strategic-merge or JSON 6902 patch, as YAML text."""

    patch: str = Field(min_length=1)
    target: Selector | None = None


class Image(ApiModel):
    """``spec.images[]``: kustomize image override (digest wins over newTag)."""

    name: str = Field(min_length=1)
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None


class CommonMetadata(ApiModel):
    """``spec.commonMetadata``: labels and annotations added to every applied object."""

    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)


def _check_var_name(name: str) -> str:
    if not _VAR_NAME.fullmatch(name):
        raise ValueError(
            f'invalid variable name "{name}": expected letters, digits and "_", '
            "not starting with a digit"
        )
    return name


VarName = Annotated[str, AfterValidator(_check_var_name)]


class SubstituteReference(ApiModel):
    """``spec.postBuild.substituteFrom[]``: a ConfigMap or Secret of variables."""

    kind: Literal["ConfigMap", "Secret"]
    name: Name
    optional: bool = False


class PostBuild(ApiModel):
    """``spec.postBuild``: ``${var}`` substitution after the build."""

    substitute: dict[VarName, str] = Field(default_factory=dict)
    substitute_from: list[SubstituteReference] = Field(default_factory=list)
    substitute_strategy: Literal["WithVariables", "Always"] | None = None


class Decryption(ApiModel):
    """``spec.decryption``: SOPS keys."""

    provider: Literal["sops"]
    secret_ref: LocalObjectReference | None = None
    service_account_name: Name | None = None


class KubeConfigReference(ApiModel):
    """``spec.kubeConfig``: a remote cluster, by Secret (key ``value``) or ConfigMap."""

    secret_ref: SecretKeyReference | None = None
    config_map_ref: LocalObjectReference | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise ValueError("expected exactly one of secretRef or configMapRef")
        return self


class IgnoreRule(ApiModel):
    """``spec.ignore[]``: JSON pointers whose drift is ignored."""

    paths: list[str] = Field(min_length=1)
    target: Selector | None = None


class KustomizationSpec(ApiModel):
    """``Kustomization.spec``."""

    source_ref: SourceReference
    path: str = ""
    interval: Interval
    retry_interval: Interval | None = None
    timeout: Duration | None = None
    prune: bool
    deletion_policy: Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"] | None = None
    wait: bool = False
    health_checks: list[NamespacedObjectKindReference] = Field(default_factory=list)
    health_check_exprs: list[CustomHealthCheck] = Field(default_factory=list)
    depends_on: list[DependencyReference] = Field(default_factory=list)
    target_namespace: Namespace | None = None
    name_prefix: str | None = Field(default=None, max_length=200)
    name_suffix: str | None = Field(default=None, max_length=200)
    common_metadata: CommonMetadata | None = None
    patches: list[Patch] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    ignore_missing_components: bool = False
    build_metadata: list[Literal["originAnnotations", "transformerAnnotations"]] = Field(
        default_factory=list
    )
    post_build: PostBuild | None = None
    decryption: Decryption | None = None
    service_account_name: Name | None = None
    force: bool = False
    ignore: list[IgnoreRule] = Field(default_factory=list)
    suspend: bool = False
    # The three target fields stay in this order: each check reads the ones above it.
    kube_config: KubeConfigReference | None = None
    clusters: list[Name] | None = None
    cluster_selector: LabelSelector | None = None

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

    @property
    def interval_seconds(self) -> float:
        """``interval`` in seconds."""
        return parse_duration(self.interval)

    @property
    def retry_interval_seconds(self) -> float:
        """``retryInterval`` in seconds; defaults to the interval."""
        return parse_duration(self.retry_interval or self.interval)

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds; defaults to the interval."""
        return parse_duration(self.timeout or self.interval)


def _patch_text(value: object) -> str:
    return yaml.dump(value)


class Kustomization(ApiObject):
    """Build a path of a source artifact with kustomize and apply it to clusters."""

    spec: KustomizationSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v1beta1/v1beta2 -> v1: old patch fields become ``patches``; ``validation`` goes."""
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            return doc
        spec = dict(spec)
        spec.pop("validation", None)
        patches = list(spec.get("patches") or [])
        smp = spec.pop("patchesStrategicMerge", None)
        json6902 = spec.pop("patchesJson6902", None)
        if isinstance(smp, list):
            patches += [{"patch": _patch_text(p)} for p in smp]
        if isinstance(json6902, list):
            for item in json6902:
                if isinstance(item, dict):
                    patch: dict[str, Any] = {"patch": _patch_text(item.get("patch"))}
                    if "target" in item:
                        patch["target"] = item["target"]
                    patches.append(patch)
        if patches:
            spec["patches"] = patches
        return {**doc, "spec": spec}


KUSTOMIZATION = register(
    KindInfo(
        kind="Kustomization",
        group=KUSTOMIZE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="kustomizations",
        singular="kustomization",
        short_names=("ks",),
        service="kustomize",
        namespaced=True,
        has_interval=True,
        model=Kustomization,
    )
)
