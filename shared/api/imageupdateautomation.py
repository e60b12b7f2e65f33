"""ImageUpdateAutomation (``image.toolkit.fluxcd.io/v1``; v1beta1, v1beta2 read): commits new tags.

FLUX-API §6.1. Every field of Flux's type is either acted on or refused here,
at ``sluice apply``: commit signing (``git.commit.signingKey``) is not
implemented. What image-automation-controller would stall on at reconcile
(no ``spec.git``: InvalidSourceConfiguration) is refused at apply.

Conversion: the three versions share one spec (the CRD converted with
``strategy: None``). What differs is the commit message template's data:
v1beta1 templates read ``.Updated``, which v1 removed (Flux stalls with
RemovedTemplateField). A document read as v1beta1 or v1beta2 is stored as
v1 carrying ``sluice.dev/converted-from: <its apiVersion>``
(:attr:`ImageUpdateAutomation.applied_as`), and
:attr:`ImageUpdateAutomation.legacy_template_data` is True for one applied
as v1beta1: the renderer offers it ``.Updated`` (the lead's rule, 22:40).
For the record, image-automation-controller v0.38 to v0.41, which served
both betas, gave every template ``.Updated`` beside ``.Changed``; widening
the rule to v1beta2 is changing :data:`UPDATED_TEMPLATE_VERSIONS`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from shared.api.durations import parse_duration
from shared.api.legacy import CONVERTED_FROM
from shared.api.meta import (
    ApiModel,
    ApiObject,
    Interval,
    LabelSelector,
    LocalObjectReference,
    Name,
    Namespace,
)
from shared.api.source import GitRepositoryRef

__all__ = [
    "DEFAULT_MESSAGE_TEMPLATE",
    "LEGACY_API_VERSIONS",
    "UPDATED_TEMPLATE_VERSIONS",
    "CommitSpec",
    "CommitUser",
    "GitCheckoutSpec",
    "GitSpec",
    "ImageUpdateAutomation",
    "ImageUpdateAutomationSpec",
    "PushSpec",
    "SigningKey",
    "SourceReference",
    "UpdateStrategy",
]

# Flux's commit message when messageTemplate is empty.
DEFAULT_MESSAGE_TEMPLATE = "Update from image update automation"
GROUP = "image.toolkit.fluxcd.io"
LEGACY_API_VERSIONS = (f"{GROUP}/v1beta1", f"{GROUP}/v1beta2")
# The apiVersions whose commit templates are given v1beta1's ``.Updated``.
UPDATED_TEMPLATE_VERSIONS = (f"{GROUP}/v1beta1",)


class SourceReference(ApiModel):
    """``spec.sourceRef``: the GitRepository to clone and push to (its URL and credentials)."""

    api_version: str | None = None
    kind: Literal["GitRepository"] = "GitRepository"
    name: Name
    namespace: Namespace | None = None


class GitCheckoutSpec(ApiModel):
    """``git.checkout``: what to clone instead of the GitRepository's own ``spec.ref``."""

    ref: GitRepositoryRef


class CommitUser(ApiModel):
    """``git.commit.author``: author and committer of the commits."""

    name: str = ""
    email: str = Field(min_length=1)


class SigningKey(ApiModel):
    """``git.commit.signingKey``: refused at apply (see :class:`CommitSpec`)."""

    secret_ref: LocalObjectReference
    type: Literal["gpg", "ssh"] = "gpg"


class CommitSpec(ApiModel):
    """``git.commit``."""

    author: CommitUser
    signing_key: SigningKey | None = None
    message_template: str = ""
    message_template_values: dict[str, str] = Field(default_factory=dict)

    @field_validator("signing_key")
    @classmethod
    def _no_signing(cls, value: SigningKey | None) -> SigningKey | None:
        if value is not None:
            raise ValueError(
                f"signing commits ({value.type}) is not supported by sluice yet: remove "
                "signingKey (commits are pushed unsigned), or sign them in a later step"
            )
        return value

    @property
    def message(self) -> str:
        """The template to render: ``messageTemplate``, Flux's default when empty."""
        return self.message_template or DEFAULT_MESSAGE_TEMPLATE


class PushSpec(ApiModel):
    """``git.push``: the branch to push to (else the checkout branch), a refspec, options."""

    branch: str = ""
    refspec: str = ""
    options: dict[str, str] = Field(default_factory=dict)


class GitSpec(ApiModel):
    """``spec.git``."""

    checkout: GitCheckoutSpec | None = None
    commit: CommitSpec
    push: PushSpec | None = None

    @property
    def push_branch(self) -> str:
        """``push.branch``, "" when commits go back to the checkout branch."""
        return self.push.branch if self.push else ""

    @property
    def refspec(self) -> str:
        """``push.refspec``, "" when none."""
        return self.push.refspec if self.push else ""


class UpdateStrategy(ApiModel):
    """``spec.update``: the strategy over the files under ``path`` (default: the root).

    ``Setters`` is Flux's (markers naming ImagePolicies); ``FluxV1`` is sluice's
    extension for Flux v1 users: fluxd's ``fluxcd.io/automated`` and
    ``fluxcd.io/tag.<container>`` annotations in the files say what to update,
    and no ImagePolicy is read.
    """

    strategy: Literal["Setters", "FluxV1"] = "Setters"
    path: str = ""


class ImageUpdateAutomationSpec(ApiModel):
    """``ImageUpdateAutomation.spec``."""

    source_ref: SourceReference
    # Optional in Flux's type, "in practice mandatory": Flux stalls without it.
    git: GitSpec
    interval: Interval
    policy_selector: LabelSelector | None = None
    update: UpdateStrategy = Field(default_factory=UpdateStrategy)
    suspend: bool = False

    @property
    def interval_seconds(self) -> float:
        """``interval`` in seconds."""
        return parse_duration(self.interval)

    @model_validator(mode="after")
    def _v1_reads_no_policies(self) -> ImageUpdateAutomationSpec:
        if self.update.strategy == "FluxV1" and self.policy_selector is not None:
            raise ValueError(
                "policySelector selects ImagePolicies, which strategy FluxV1 does not read "
                "(the fluxcd.io/ annotations in the files choose the tags): remove "
                "policySelector, or use strategy Setters"
            )
        return self


class ImageUpdateAutomation(ApiObject):
    """Commits the tags ImagePolicies chose into the files of a Git repository."""

    spec: ImageUpdateAutomationSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @property
    def applied_as(self) -> str:
        """The apiVersion the document was written in (stored as v1 whatever it was)."""
        written = self.metadata.annotations.get(CONVERTED_FROM, "")
        return written if written in LEGACY_API_VERSIONS else self.api_version

    @property
    def legacy_template_data(self) -> bool:
        """Whether the commit template is given v1beta1's ``.Updated`` (applied as v1beta1)."""
        return self.applied_as in UPDATED_TEMPLATE_VERSIONS

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v1beta1/v1beta2 -> v1: the same spec, marked with the version it was written in."""
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or api_version not in LEGACY_API_VERSIONS:
            return doc
        annotations = meta.get("annotations")
        if annotations is not None and not isinstance(annotations, dict):
            return doc  # validation says what is wrong with it
        notes = {**(annotations or {}), CONVERTED_FROM: api_version}
        return {**doc, "metadata": {**meta, "annotations": notes}}
