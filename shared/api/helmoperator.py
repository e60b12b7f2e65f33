"""The Helm Operator's HelmRelease (``helm.fluxcd.io/v1``, Flux v1), as a closed model.

FLUX-API §9.3, field for field with the operator's ``pkg/apis/helm.fluxcd.io/v1``
types, so a typo or a wrong type in a Flux v1 document is told by field name
before it is converted (``helmmigration.convert_helm_operator``). Fields
without a Flux v2 equivalent are marked with ``helmsupport.unsupported``.
``test.cleanup`` (Helm 2 only) and ``chart.skipDepUpdate`` are read and
dropped: under Helm 3 the operator itself did nothing with the first, and
Flux builds only the missing chart dependencies, as a vendored chart needs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from shared.api.helmsupport import unsupported
from shared.api.meta import ApiModel, ApiObject, LocalObjectReference, Name, Namespace

__all__ = [
    "OPERATOR_API_VERSION",
    "ChartFileSelector",
    "ChartSource",
    "ExternalSourceSelector",
    "HelmOperatorRelease",
    "HelmOperatorReleaseSpec",
    "KeySelector",
    "ObjectReference",
    "OperatorRollback",
    "OperatorTest",
    "ValuesFromSource",
]

OPERATOR_API_VERSION = "helm.fluxcd.io/v1"


class ObjectReference(ApiModel):
    """``{name, namespace?}`` as the operator wrote it."""

    name: Name
    namespace: Namespace | None = None


class ChartSource(ApiModel):
    """``spec.chart``: a Helm repository chart, or a chart directory in Git."""

    repository: str | None = None
    name: str | None = None
    version: str | None = None
    chart_pull_secret: LocalObjectReference | None = None
    git: str | None = None
    ref: str | None = None
    path: str | None = None
    secret_ref: ObjectReference | None = None
    skip_dep_update: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if bool(self.repository) == bool(self.git):
            raise ValueError(
                "expected exactly one of repository (with name, version) or git (with path, ref)"
            )
        if self.repository and not self.name:
            raise ValueError("repository needs name: the chart's name in that repository")
        if self.git and not self.path:
            raise ValueError("git needs path: the chart's directory in that repository")
        return self


class KeySelector(ApiModel):
    """``configMapKeyRef`` / ``secretKeyRef``."""

    name: Name
    namespace: Namespace | None = None
    key: str | None = None
    optional: bool = False


class ExternalSourceSelector(ApiModel):
    """``externalSourceRef``: values from a URL (refused)."""

    url: str
    optional: bool | None = None


class ChartFileSelector(ApiModel):
    """``chartFileRef``: a values file inside the chart."""

    path: str = Field(min_length=1)
    optional: bool | None = None


class ValuesFromSource(ApiModel):
    """``spec.valuesFrom[]``: exactly one of the four references."""

    config_map_key_ref: KeySelector | None = None
    secret_key_ref: KeySelector | None = None
    external_source_ref: Annotated[
        ExternalSourceSelector | None, unsupported("v1:valuesFrom[].externalSourceRef")
    ] = None
    chart_file_ref: ChartFileSelector | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        set_ = [self.config_map_key_ref, self.secret_key_ref, self.chart_file_ref]
        if sum(ref is not None for ref in set_) != 1:
            raise ValueError(
                "expected exactly one of configMapKeyRef, secretKeyRef or chartFileRef"
            )
        return self


class OperatorRollback(ApiModel):
    """``spec.rollback``."""

    enable: bool = False
    retry: bool = False
    max_retries: int | None = None
    force: bool = False
    recreate: Annotated[bool, unsupported("v1:rollback.recreate")] = False
    disable_hooks: bool = False
    timeout: int | None = None
    wait: bool = False


class OperatorTest(ApiModel):
    """``spec.test``."""

    enable: bool = False
    ignore_failures: bool | None = None
    timeout: int | None = None
    cleanup: bool | None = None  # Helm 2 only


class HelmOperatorReleaseSpec(ApiModel):
    """``spec`` of a ``helm.fluxcd.io/v1`` HelmRelease."""

    helm_version: Annotated[Literal["v2", "v3"] | None, unsupported("v1:helmVersion")] = None
    chart: ChartSource
    release_name: str | None = None
    max_history: int | None = None
    value_file_secrets: list[LocalObjectReference] = Field(default_factory=list)
    values_from: list[ValuesFromSource] = Field(default_factory=list)
    target_namespace: Namespace | None = None
    timeout: int | None = None
    reset_values: bool | None = None
    skip_crds: bool = Field(default=False, alias="skipCRDs")
    wait: bool | None = None
    force_upgrade: bool = False
    rollback: OperatorRollback = Field(default_factory=OperatorRollback)
    test: OperatorTest = Field(default_factory=OperatorTest)
    values: dict[str, Any] | None = None
    disable_open_api_validation: bool = Field(default=False, alias="disableOpenAPIValidation")


class HelmOperatorRelease(ApiObject):
    """A Flux v1 Helm Operator HelmRelease, as read from a repository."""

    spec: HelmOperatorReleaseSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @property
    def operator_release_name(self) -> str:
        """The release name the operator used (its GetReleaseName)."""
        if self.spec.release_name:
            return self.spec.release_name
        target = self.spec.target_namespace or self.namespace
        if target != self.namespace:
            return f"{self.namespace}-{target}-{self.name}"
        return f"{target}-{self.name}"
