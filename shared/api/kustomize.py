"""Kustomization (``kustomize.toolkit.fluxcd.io``), FLUX-API §3.1, plus sluice fan-out.

Fan-out (``spec.clusters``, ``spec.clusterSelector``, ``spec.kubeConfig``) is
``fleet.FanOutSpec``, shared with every kind that applies to clusters.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from shared import yaml
from shared.api.durations import parse_duration
from shared.api.fleet import FanOutSpec, KubeConfigReference
from shared.api.meta import (
    Annotations,
    ApiModel,
    ApiObject,
    Duration,
    Interval,
    Labels,
    LocalObjectReference,
    Name,
    Namespace,
    NamespacedObjectKindReference,
)
from shared.cel import CelError, compile_bool
from shared.kube.driftignore import InvalidIgnoreRule, Target, parse_pointer

__all__ = [
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
    "fold_legacy_patches",
]

_VAR_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
# dependsOn[].readyExpr sees these two objects (Flux's names).
READY_EXPR_VARIABLES = ("self", "dep")


def _check_cel(text: str, variables: tuple[str, ...] | None) -> str:
    """Compile a CEL expression now, so `sluice apply` refuses one that cannot work."""
    try:
        compile_bool(text, variables=variables)
    except CelError as err:
        names = f" (its variables: {', '.join(variables)})" if variables else ""
        raise ValueError(f"{err}{names}") from err
    return text


def _health_expr(text: str) -> str:
    # Parsed only: the object's own fields are the variables, as in Flux.
    return _check_cel(text, None)


def _ready_expr(text: str) -> str:
    return _check_cel(text, READY_EXPR_VARIABLES)


HealthExpr = Annotated[str, Field(min_length=1), AfterValidator(_health_expr)]


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
    ready_expr: Annotated[str, AfterValidator(_ready_expr)] | None = None


class CustomHealthCheck(ApiModel):
    """``spec.healthCheckExprs[]``: CEL readiness rules for a kind."""

    api_version: str = Field(min_length=1)
    kind: str | None = None
    current: HealthExpr
    in_progress: HealthExpr | None = None
    failed: HealthExpr | None = None

    @property
    def group_kind(self) -> tuple[str, str | None]:
        """(API group, kind or None for the whole group): the key a rule is found by."""
        return self.api_version.rpartition("/")[0], self.kind or None


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

    @field_validator("service_account_name")
    @classmethod
    def _no_workload_identity(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(
                "cloud KMS through a service account is not supported by sluice yet: "
                "put age keys in the Secret named by spec.decryption.secretRef"
            )
        return value


class IgnoreRule(ApiModel):
    """``spec.ignore[]``: JSON pointers whose drift is ignored."""

    paths: list[str] = Field(min_length=1)
    target: Selector | None = None

    @field_validator("paths")
    @classmethod
    def _pointers(cls, value: list[str]) -> list[str]:
        for pointer in value:
            try:
                parse_pointer(pointer)
            except InvalidIgnoreRule as err:
                raise ValueError(str(err)) from err
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: Selector | None) -> Selector | None:
        if value is not None:
            try:
                Target.compile(value)
            except InvalidIgnoreRule as err:
                raise ValueError(str(err)) from err
        return value


class KustomizationSpec(FanOutSpec):
    """``Kustomization.spec``; the fan-out fields come from ``FanOutSpec``."""

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
    force: bool = False
    ignore: list[IgnoreRule] = Field(default_factory=list)
    suspend: bool = False

    @field_validator("health_check_exprs")
    @classmethod
    def _one_rule_per_kind(cls, value: list[CustomHealthCheck]) -> list[CustomHealthCheck]:
        seen: dict[tuple[str, str | None], int] = {}
        for index, rule in enumerate(value):
            group, kind = rule.group_kind
            if rule.group_kind in seen:
                what = f"kind {kind} of group {group or 'core'}" if kind else f"group {group}"
                raise ValueError(
                    f"entries {seen[rule.group_kind]} and {index} are both for {what}: "
                    "expected one rule per kind"
                )
            seen[rule.group_kind] = index
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


def fold_legacy_patches(block: dict[str, Any]) -> dict[str, Any]:
    """``patchesStrategicMerge`` / ``patchesJson6902`` of a beta document, moved into ``patches``.

    Kustomization v1beta* specs and HelmRelease v2beta* post-renderers carry the
    same two removed fields; both become ``patches`` entries after the existing ones.
    """
    block = dict(block)
    patches = list(block.get("patches") or [])
    smp = block.pop("patchesStrategicMerge", None)
    json6902 = block.pop("patchesJson6902", None)
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
        block["patches"] = patches
    return block


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
        return {**doc, "spec": fold_legacy_patches(spec)}
