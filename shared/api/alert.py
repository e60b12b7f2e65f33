"""Alert (``notification.toolkit.fluxcd.io``): which events go to which Provider (FLUX-API §7.3).

v1beta3 is stored; v1beta1 and v1beta2 documents have the same fields (v1beta1
lacks ``inclusionList`` and ``eventMetadata``) and are read as they are.
The regular expressions are Go's (RE2), compiled at apply so a bad one is
refused there rather than failing every event.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from shared.api.meta import ApiModel, ApiObject, Labels, LocalObjectReference, Namespace
from shared.goregexp import compile_go

__all__ = ["EVENT_SOURCE_KINDS", "Alert", "AlertSpec", "EventSource"]

# The kinds Flux's CRD lets an Alert watch.
EVENT_SOURCE_KINDS = (
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
    "ArtifactGenerator",
    "ExternalArtifact",
)


def _go_regexp(pattern: str) -> str:
    compile_go(pattern)
    return pattern


GoRegexp = Annotated[str, AfterValidator(_go_regexp)]


class EventSource(ApiModel):
    """One ``eventSources`` entry: objects whose events the Alert forwards."""

    api_version: str | None = None
    kind: Literal[EVENT_SOURCE_KINDS]  # type: ignore[valid-type]
    name: str = Field(min_length=1, max_length=253)
    namespace: Namespace | None = None
    match_labels: Labels = Field(default_factory=dict)

    @model_validator(mode="after")
    def _labels_need_any_name(self) -> Self:
        if self.match_labels and self.name != "*":
            raise ValueError(
                f'matchLabels selects among all objects of a kind: set name to "*", '
                f'not "{self.name}"'
            )
        return self


class AlertSpec(ApiModel):
    """``Alert.spec``."""

    provider_ref: LocalObjectReference
    event_sources: list[EventSource] = Field(min_length=1)
    event_severity: Literal["info", "error"] = "info"
    inclusion_list: list[GoRegexp] = Field(default_factory=list)
    exclusion_list: list[GoRegexp] = Field(default_factory=list)
    event_metadata: dict[str, str] = Field(default_factory=dict)
    summary: str | None = Field(default=None, max_length=255)
    suspend: bool = False


class Alert(ApiObject):
    """Events of some objects, filtered, sent to one Provider."""

    spec: AlertSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)
