"""Core kinds (``v1``) that sluice objects reference: Secret and ConfigMap.

Secrets are stored with every value in ``data`` (base64): ``stringData`` is
folded in on load, winning over ``data`` for the same key as the API server
does. Secret values never appear in reprs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from shared.api.meta import ApiObject
from shared.secrets import fold_string_data

__all__ = ["ConfigMap", "Secret", "check_data_key"]

_DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def check_data_key(key: str) -> str:
    """Accept a Secret/ConfigMap data key, else raise ValueError."""
    if len(key) > 253 or not _DATA_KEY.fullmatch(key):
        raise ValueError(
            f'invalid key "{key}": expected letters, digits, "-", "_" or ".", '
            "at most 253 characters"
        )
    return key


def _check_base64(value: str) -> str:
    try:
        # Go's decoder skips line breaks (folded YAML scalars); so do we.
        base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "not valid base64: encode the value (base64 -w0) or put the plain text under stringData"
        ) from None
    return value


DataKey = Annotated[str, AfterValidator(check_data_key)]
DataMap = dict[DataKey, str]
Base64Map = dict[DataKey, Annotated[str, AfterValidator(_check_base64)]]


def _decode(value: str) -> bytes:
    return base64.b64decode(value.replace("\n", "").replace("\r", ""))


class Secret(ApiObject):
    """A Kubernetes Secret: credentials, kubeconfigs, substitution variables."""

    redact_values = True

    type: str | None = None
    data: Base64Map = Field(default_factory=dict, repr=False)
    string_data: DataMap = Field(default_factory=dict, repr=False)
    immutable: bool | None = None

    def decoded(self) -> dict[str, bytes]:
        """Every value as bytes, ``stringData`` over ``data``."""
        values = {key: _decode(value) for key, value in self.data.items()}
        values.update({key: value.encode() for key, value in self.string_data.items()})
        return values

    def text(self, key: str) -> str | None:
        """One value decoded as UTF-8 text, or None when the key is absent."""
        value = self.decoded().get(key)
        return None if value is None else value.decode()

    @classmethod
    def normalize(cls, doc: dict[str, Any]) -> dict[str, Any]:
        """Fold ``stringData`` into ``data`` (base64), the one form sluice stores."""
        return fold_string_data(doc)


class ConfigMap(ApiObject):
    """A Kubernetes ConfigMap: substitution variables, kubeconfig provider settings."""

    data: DataMap = Field(default_factory=dict)
    # data is declared first: the binaryData check reads it.
    binary_data: Base64Map = Field(default_factory=dict)
    immutable: bool | None = None

    @field_validator("binary_data")
    @classmethod
    def _keys_unique(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        both = sorted(set(value) & set(info.data.get("data") or {}))
        if both:
            raise ValueError(f"keys also in data: {', '.join(both)}")
        return value
