"""HelmChart (``source.toolkit.fluxcd.io/v1``): a chart from a Helm repository, Git or a Bucket.

FLUX-API §2.4. ``chart`` is a chart name in a HelmRepository, or a path inside
a GitRepository's or Bucket's artifact; ``version`` a semver range (Helm
repositories only); ``valuesFiles`` replace the chart's values.yaml by their
merge. v1beta2/v1beta1 documents are read too: their ``valuesFile`` is merged
before ``valuesFiles`` (as Flux's ``GetValuesFiles`` does) and ``accessFrom``,
never enforced by Flux, is dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from shared.api.durations import parse_duration
from shared.api.meta import ApiModel, ApiObject, Interval, LocalObjectReference, Name
from shared.semver import InvalidConstraint, parse_constraint

__all__ = [
    "CHART_SOURCE_KINDS",
    "HelmChart",
    "HelmChartSourceReference",
    "HelmChartSpec",
    "HelmChartVerification",
    "ValuesFiles",
    "VersionRange",
    "check_values_files",
    "check_version_range",
]

CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")


def check_version_range(value: str) -> str:
    """Accept a chart version semver range (empty means ``*``), else raise ValueError."""
    try:
        parse_constraint(value or "*")
    except InvalidConstraint as err:
        raise ValueError(
            f'invalid version "{value}": expected a semver range such as "*", "1.2.x" '
            f'or ">=1.0.0 <2.0.0" ({err})'
        ) from None
    return value or "*"


def check_values_files(paths: list[str]) -> list[str]:
    """Accept values file paths relative to the source root, else raise ValueError."""
    for path in paths:
        if not path or path.startswith("/"):
            raise ValueError(
                f'values file "{path}": expected a path relative to the source root, '
                'e.g. "values-prod.yaml" or "charts/app/values-prod.yaml"'
            )
    return paths


# The two fields a HelmChart and a HelmRelease's chart template share.
VersionRange = Annotated[str, AfterValidator(check_version_range)]
ValuesFiles = Annotated[list[str], AfterValidator(check_values_files)]


class HelmChartSourceReference(ApiModel):
    """``spec.sourceRef``: the source in the chart's namespace (LocalHelmChartSourceReference)."""

    api_version: str | None = None
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    name: Name


class HelmChartVerification(ApiModel):
    """``spec.verify``: signature verification of an OCI chart (read so it can be refused)."""

    provider: Literal["cosign", "notation"] = "cosign"
    secret_ref: LocalObjectReference | None = None
    match_oidc_identity: list[dict[str, Any]] = Field(
        default_factory=list, alias="matchOIDCIdentity"
    )


class HelmChartSpec(ApiModel):
    """``HelmChart.spec``."""

    chart: str = Field(min_length=1)
    version: VersionRange = "*"
    source_ref: HelmChartSourceReference
    interval: Interval
    reconcile_strategy: Literal["ChartVersion", "Revision"] = "ChartVersion"
    values_files: ValuesFiles = Field(default_factory=list)
    ignore_missing_values_files: bool = False
    suspend: bool = False
    verify: HelmChartVerification | None = None

    # Fields of Flux's API that sluice does not act on yet are refused, never
    # stored and ignored.
    @field_validator("verify")
    @classmethod
    def _no_verification(cls, value: HelmChartVerification | None) -> None:
        if value is not None:
            raise ValueError(
                f"signature verification ({value.provider}) of charts is not supported by "
                "sluice yet: remove spec.verify, or verify the chart before it is published"
            )
        return None

    @property
    def interval_seconds(self) -> float:
        """``interval`` in seconds."""
        return parse_duration(self.interval)


class HelmChart(ApiObject):
    """A Helm chart to fetch or package as an artifact."""

    spec: HelmChartSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v1beta1/v1beta2 -> v1: ``valuesFile`` leads ``valuesFiles``; ``accessFrom`` goes."""
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            return doc
        spec = {k: v for k, v in spec.items() if k not in ("valuesFile", "accessFrom")}
        single = (doc.get("spec") or {}).get("valuesFile")
        if isinstance(single, str) and single:
            spec["valuesFiles"] = [single, *(spec.get("valuesFiles") or [])]
        return {**doc, "spec": spec}
