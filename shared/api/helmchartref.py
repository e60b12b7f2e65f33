"""Where a HelmRelease's chart comes from: ``spec.chart`` or ``spec.chartRef`` (FLUX-API §4.1).

``spec.chart`` is the template of the HelmChart sluice creates and owns
(``<namespace>-<name>``, in the namespace of ``chart.spec.sourceRef``), for a
chart in a HelmRepository, GitRepository or Bucket; ``spec.chartRef`` names a
source object that already holds the chart: an OCIRepository, a HelmChart or
an ExternalArtifact. A HelmRelease has exactly one of the two.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.api.helmchart import HelmChartVerification, ValuesFiles, VersionRange
from shared.api.helmsupport import unsupported
from shared.api.meta import Annotations, ApiModel, Interval, Labels, Name, Namespace

__all__ = [
    "ChartReference",
    "HelmChartTemplate",
    "HelmChartTemplateMetadata",
    "HelmChartTemplateSourceReference",
    "HelmChartTemplateSpec",
]


class HelmChartTemplateSourceReference(ApiModel):
    """``chart.spec.sourceRef``: the chart's source; namespace defaults to the HelmRelease's."""

    api_version: str | None = None
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    name: Name
    namespace: Namespace | None = None


class HelmChartTemplateSpec(ApiModel):
    """``chart.spec``: the spec of the HelmChart sluice creates for the release."""

    chart: str = Field(min_length=1, max_length=2048)
    version: VersionRange = "*"
    source_ref: HelmChartTemplateSourceReference
    interval: Interval | None = None
    reconcile_strategy: Literal["ChartVersion", "Revision"] = "ChartVersion"
    values_files: ValuesFiles = Field(default_factory=list)
    ignore_missing_values_files: bool = False
    verify: Annotated[HelmChartVerification | None, unsupported("chart.spec.verify")] = None


class HelmChartTemplateMetadata(ApiModel):
    """``chart.metadata``: labels and annotations of the created HelmChart."""

    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)


class HelmChartTemplate(ApiModel):
    """``spec.chart``: the HelmChart template."""

    metadata: HelmChartTemplateMetadata | None = None
    spec: HelmChartTemplateSpec


class ChartReference(ApiModel):
    """``spec.chartRef``: a source object holding the chart; namespace defaults to the HR's."""

    api_version: str | None = None
    kind: Literal["OCIRepository", "HelmChart", "ExternalArtifact"]
    name: Name
    namespace: Namespace | None = None
