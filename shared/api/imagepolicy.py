"""ImagePolicy (``image.toolkit.fluxcd.io/v1``; v1beta1 and v1beta2 read): which tag is latest.

FLUX-API §5.2. Every field of Flux's type is acted on (the choice itself is
``services/image/policy.py``); what image-reflector-controller would only
find out at reconcile (a bad regexp or range, no rule or two rules,
``interval`` without ``digestReflectionPolicy: Always``) is refused at
``sluice apply``.

Conversion is Flux's: the three versions share one spec (the CRD converted
with ``strategy: None``); a status written by an older controller
(``latestImage``, ``observedPreviousImage`` strings) is read into
``latestRef`` and ``observedPreviousRef``.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from shared.api.durations import parse_duration
from shared.api.meta import ApiModel, ApiObject, Duration, NamespacedObjectReference
from shared.goregexp import InvalidRegexp, compile_go
from shared.semver import InvalidConstraint, parse_constraint

__all__ = [
    "DEFAULT_DIGEST_INTERVAL",
    "AlphabeticalPolicy",
    "ImagePolicy",
    "ImagePolicyChoice",
    "ImagePolicySpec",
    "NumericalPolicy",
    "SemVerPolicy",
    "TagFilter",
    "image_ref_from_string",
]

# Flux's digest refresh period when digestReflectionPolicy is Always and interval unset (or 0).
DEFAULT_DIGEST_INTERVAL = 600.0


class SemVerPolicy(ApiModel):
    """``policy.semver``: the highest version within ``range``."""

    range: str

    @field_validator("range")
    @classmethod
    def _valid_range(cls, value: str) -> str:
        try:
            parse_constraint(value)
        except InvalidConstraint as err:
            raise ValueError(f'invalid semver range "{value}": {err}') from None
        return value


class AlphabeticalPolicy(ApiModel):
    """``policy.alphabetical``: ``asc`` chooses the last tag in byte order, ``desc`` the first."""

    order: Literal["asc", "desc"] = "asc"


class NumericalPolicy(ApiModel):
    """``policy.numerical``: ``asc`` chooses the greatest number, ``desc`` the least."""

    order: Literal["asc", "desc"] = "asc"


class ImagePolicyChoice(ApiModel):
    """``spec.policy``: exactly one rule."""

    semver: SemVerPolicy | None = None
    alphabetical: AlphabeticalPolicy | None = None
    numerical: NumericalPolicy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        named = [k for k in ("semver", "alphabetical", "numerical") if getattr(self, k) is not None]
        # Flux stalls on none ("ImagePolicyChoice object is invalid") and silently
        # takes semver, then alphabetical, when several are set: both refused here.
        if len(named) != 1:
            got = f"got {' and '.join(named)}" if named else "got none"
            raise ValueError(f"set exactly one of semver, alphabetical or numerical ({got})")
        return self


class TagFilter(ApiModel):
    """``spec.filterTags``: a Go regexp tags must match, and what to compare instead of the tag."""

    pattern: str = ""
    extract: str = ""

    @field_validator("pattern")
    @classmethod
    def _go_regexp(cls, value: str) -> str:
        try:
            compile_go(value)
        except InvalidRegexp as err:
            raise ValueError(f'invalid regular expression "{value}": {err}') from None
        return value


class ImagePolicySpec(ApiModel):
    """``ImagePolicy.spec``."""

    image_repository_ref: NamespacedObjectReference
    policy: ImagePolicyChoice
    filter_tags: TagFilter | None = None
    digest_reflection_policy: Literal["Never", "IfNotPresent", "Always"] = "Never"
    interval: Duration | None = None
    suspend: bool = False

    @model_validator(mode="after")
    def _interval_with_always_only(self) -> Self:
        # Flux's two CEL rules on the spec, with Flux's messages.
        always = self.digest_reflection_policy == "Always"
        if self.interval is not None and not always:
            raise ValueError(
                "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"
            )
        if always and self.interval is None:
            raise ValueError(
                "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"
            )
        return self

    @property
    def reflects_digest(self) -> bool:
        """Whether ``status.latestRef.digest`` is filled (IfNotPresent or Always)."""
        return self.digest_reflection_policy != "Never"

    @property
    def interval_seconds(self) -> float | None:
        """How often the digest is refreshed (Always only: ``interval``, 10m when 0), else None.

        None means the policy runs only when its ImageRepository's tags change.
        """
        if self.digest_reflection_policy != "Always":
            return None
        seconds = parse_duration(self.interval) if self.interval else 0.0
        return seconds or DEFAULT_DIGEST_INTERVAL


def image_ref_from_string(text: str) -> dict[str, str]:
    """``name:tag[@digest]`` (v1beta status ``latestImage``) as a v1 ``latestRef`` mapping."""
    image, _, digest = text.partition("@")
    slash = image.rfind("/")
    colon = image.rfind(":")
    name, tag = (image[:colon], image[colon + 1 :]) if colon > slash else (image, "")
    ref = {"name": name, "tag": tag}
    if digest:
        ref["digest"] = digest
    return ref


class ImagePolicy(ApiObject):
    """A rule that chooses the latest tag among an ImageRepository's scanned tags."""

    spec: ImagePolicySpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v1beta1/v1beta2 -> v1: the spec is the same; old status strings become refs."""
        status = doc.get("status")
        if not isinstance(status, dict):
            return doc
        status = dict(status)
        for old, new in (
            ("latestImage", "latestRef"),
            ("observedPreviousImage", "observedPreviousRef"),
        ):
            value = status.pop(old, None)
            if isinstance(value, str) and value and new not in status:
                status[new] = image_ref_from_string(value)
        return {**doc, "status": status}
