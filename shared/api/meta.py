"""Building blocks shared by every kind: the model base, names, metadata, references.

Models mirror the Flux Go types: camelCase field names on the wire, snake_case
in Python (``spec.target_namespace`` reads ``spec.targetNamespace``), frozen,
strict about types (the API server refuses ``prune: "true"``), and closed:
an unknown field is an error, as a structural CRD would prune or refuse it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, model_validator
from pydantic.alias_generators import to_camel

from shared.api.durations import parse_duration
from shared.keys import ObjectKey
from shared.labels import Selector, selector_from_dict

__all__ = [
    "DEFAULT_FETCH_TIMEOUT",
    "Annotations",
    "ApiModel",
    "ApiObject",
    "Duration",
    "FetchSpec",
    "Interval",
    "LabelKey",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LabelValue",
    "Labels",
    "LocalObjectReference",
    "Name",
    "Namespace",
    "NamespacedObjectKindReference",
    "NamespacedObjectReference",
    "ObjectMeta",
    "SecretKeyReference",
    "ShortDuration",
    "check_label_key",
    "check_label_value",
    "check_name",
    "check_namespace",
]

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


class ApiModel(BaseModel):
    """Base of every API model: camelCase aliases, frozen, strict, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


def _suggest(text: str, *, dots: bool = True) -> str:
    cleaned = re.sub(r"[^a-z0-9.-]+" if dots else r"[^a-z0-9-]+", "-", text.lower()).strip("-.")
    return f', e.g. "{cleaned}"' if cleaned and cleaned != text else ""


def check_name(text: str) -> str:
    """Accept a DNS-1123 subdomain (an object name), else raise ValueError."""
    if len(text) > 253 or not _DNS_SUBDOMAIN.fullmatch(text):
        raise ValueError(
            f'invalid name "{text}": expected a DNS-1123 subdomain: lowercase letters, digits, '
            f"'-' and '.', starting and ending with a letter or digit, at most 253 characters"
            f"{_suggest(text)}"
        )
    return text


def check_namespace(text: str) -> str:
    """Accept a DNS-1123 label (a namespace name), else raise ValueError."""
    if len(text) > 63 or not _DNS_LABEL.fullmatch(text):
        raise ValueError(
            f'invalid namespace "{text}": expected a DNS-1123 label: lowercase letters, digits '
            f"and '-', starting and ending with a letter or digit, at most 63 characters"
            f"{_suggest(text, dots=False)}"
        )
    return text


def check_label_key(key: str) -> str:
    """Accept a label or annotation key (``[prefix/]name``), else raise ValueError."""
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix))) or (
        len(name) > 63 or not _QUALIFIED.fullmatch(name)
    ):
        raise ValueError(
            f'invalid key "{key}": expected an optional DNS subdomain prefix and "/", then a '
            "name of at most 63 letters, digits, '-', '_' or '.' starting and ending with a "
            "letter or digit"
        )
    return key


def check_label_value(value: str) -> str:
    """Accept a label value (empty, or up to 63 name characters), else raise ValueError."""
    if value and (len(value) > 63 or not _QUALIFIED.fullmatch(value)):
        raise ValueError(
            f'invalid label value "{value}": expected at most 63 letters, digits, '
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


def _duration(*, allow_hours: bool = True, positive: bool = False) -> PlainValidator:
    def validate(value: object) -> str:
        if not isinstance(value, str):
            expected = "expected a Go duration string such as 1m or 1h30m"
            if isinstance(value, int | float) and not isinstance(value, bool):
                raise ValueError(f'{expected}, got a number: quote it with a unit, e.g. "{value}s"')
            got = "null" if value is None else f"a {type(value).__name__}"
            raise ValueError(f"{expected}, got {got}")
        if parse_duration(value, allow_hours=allow_hours) == 0 and positive:
            raise ValueError(f'invalid duration "{value}": must be greater than zero')
        return value

    return PlainValidator(validate, json_schema_input_type=str)


Name = Annotated[str, AfterValidator(check_name)]
Namespace = Annotated[str, AfterValidator(check_namespace)]
LabelKey = Annotated[str, AfterValidator(check_label_key)]
LabelValue = Annotated[str, AfterValidator(check_label_value)]
Labels = dict[LabelKey, LabelValue]
Annotations = dict[LabelKey, str]
Duration = Annotated[str, _duration()]
Interval = Annotated[str, _duration(positive=True)]
ShortDuration = Annotated[str, _duration(allow_hours=False)]


DEFAULT_FETCH_TIMEOUT = 60.0


class FetchSpec(ApiModel):
    """The spec fields every source that fetches on an interval shares (FLUX-API §1.1)."""

    interval: Interval
    timeout: ShortDuration | None = None
    suspend: bool = False

    @property
    def interval_seconds(self) -> float:
        """``interval`` in seconds."""
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds, 60 when unset (Flux's default for every source)."""
        return parse_duration(self.timeout) if self.timeout else DEFAULT_FETCH_TIMEOUT


class LocalObjectReference(ApiModel):
    """``{name}``: an object in the referrer's namespace."""

    name: Name


class SecretKeyReference(ApiModel):
    """``{name, key}``: one key of a Secret in the referrer's namespace."""

    name: Name
    key: str = "value"


class NamespacedObjectReference(ApiModel):
    """``{name, namespace?}``: namespace defaults to the referrer's."""

    name: Name
    namespace: Namespace | None = None


class NamespacedObjectKindReference(ApiModel):
    """``{apiVersion?, kind, name, namespace?}``."""

    api_version: str | None = None
    kind: str = Field(min_length=1)
    name: Name
    namespace: Namespace | None = None


class LabelSelectorRequirement(ApiModel):
    """One ``matchExpressions`` entry."""

    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[LabelValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty values list")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(ApiModel):
    """Kubernetes label selector; an empty selector matches everything."""

    match_labels: Labels = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    def to_selector(self) -> Selector:
        """The same selector as ``shared.labels`` evaluates it (one set of matching rules)."""
        return selector_from_dict(self.model_dump(by_alias=True))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies every term of the selector."""
        return self.to_selector().matches(labels)


class ObjectMeta(ApiModel):
    """``metadata``: what users write, plus what the API server adds on export."""

    name: Name
    namespace: Namespace | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    generation: int | None = None
    finalizers: list[str] = Field(default_factory=list)
    # Server-populated fields appear in `kubectl get -o yaml` output; accepted
    # so such exports load, never interpreted.
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    deletion_grace_period_seconds: int | None = None
    owner_references: list[dict[str, Any]] = Field(default_factory=list)
    managed_fields: list[dict[str, Any]] = Field(default_factory=list, repr=False)
    self_link: str | None = None


class ApiObject(ApiModel):
    """Fields every object has; each kind module subclasses it."""

    # True for kinds whose values must never be echoed in an error (Secret).
    redact_values: ClassVar[bool] = False

    api_version: str
    kind: str
    metadata: ObjectMeta

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """``metadata.namespace``, ``default`` when unset."""
        return self.metadata.namespace or "default"

    @property
    def key(self) -> ObjectKey:
        """Kind, namespace and name: how the store, leases and events name this object."""
        return ObjectKey(self.kind, self.namespace, self.name)

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Rewrite a document of an older accepted apiVersion into the current shape."""
        return doc

    @classmethod
    def normalize(cls, doc: dict[str, Any]) -> dict[str, Any]:
        """Rewrite a valid document into the one form sluice stores (e.g. Secret stringData)."""
        return doc
