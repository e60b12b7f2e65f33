"""Bucket (``source.toolkit.fluxcd.io``): objects of an S3-compatible bucket (FLUX-API §2.5).

sluice implements the ``generic`` provider (the S3 API, as Flux's minio
client): endpoint, bucketName, prefix, region, insecure, secretRef
(``accesskey``/``secretkey``), certSecretRef (``ca.crt``, ``tls.crt``/``tls.key``),
ignore, interval, timeout and suspend. The cloud providers (aws, gcp, azure),
STS, proxies and workload identity are refused at apply with a message saying
what to use instead; they are never accepted and ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from shared.api.durations import parse_duration
from shared.api.meta import ApiModel, ApiObject, Interval, LocalObjectReference, ShortDuration

__all__ = [
    "Bucket",
    "BucketSTSSpec",
    "BucketSpec",
    "check_bucket_name",
    "check_endpoint",
]

DEFAULT_BUCKET_TIMEOUT = 60.0

# host, IPv4 or [IPv6], then an optional port: what an S3 client dials.
_ENDPOINT = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d+)?")
# What the S3 client accepts (minio's non-strict check, as Flux's minio-go):
# 3-63 characters, letters, digits, dots, hyphens, underscores and colons
# (older S3 and GCS names), starting and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9_.:-]{1,61}[a-z0-9]", re.IGNORECASE)


def check_endpoint(endpoint: str) -> str:
    """Accept ``host[:port]``; a URL is refused with the value to write instead."""
    if "://" in endpoint:
        scheme, _, rest = endpoint.partition("://")
        host = rest.split("/", 1)[0].rpartition("@")[2]
        hint = "; set spec.insecure: true for http" if scheme.lower() == "http" else ""
        raise ValueError(
            f'endpoint "{scheme}://{host}..." must be a host[:port] without a scheme or path: '
            f'write "{host}"{hint}'
        )
    if not _ENDPOINT.fullmatch(endpoint):
        raise ValueError(
            f'invalid endpoint "{endpoint}": expected host[:port], e.g. s3.amazonaws.com '
            "or minio.minio.svc:9000"
        )
    return endpoint


def check_bucket_name(name: str) -> str:
    """Accept an S3 bucket name, else say what one looks like."""
    if not _BUCKET_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f'invalid bucket name "{name}": expected 3-63 letters, digits, dots and '
            "hyphens, starting and ending with a letter or digit"
        )
    return name


class BucketSTSSpec(ApiModel):
    """``spec.sts``: where temporary credentials would come from (refused by sluice)."""

    provider: Literal["aws", "ldap"]
    endpoint: str
    secret_ref: LocalObjectReference | None = None
    cert_secret_ref: LocalObjectReference | None = None


class BucketSpec(ApiModel):
    """``Bucket.spec``."""

    provider: Literal["generic", "aws", "gcp", "azure"] = "generic"
    bucket_name: Annotated[str, AfterValidator(check_bucket_name)]
    endpoint: Annotated[str, AfterValidator(check_endpoint)]
    sts: BucketSTSSpec | None = None
    insecure: bool = False
    region: str | None = None
    prefix: str | None = None
    secret_ref: LocalObjectReference | None = None
    service_account_name: str | None = None
    cert_secret_ref: LocalObjectReference | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    interval: Interval
    timeout: ShortDuration | None = None
    ignore: str | None = None
    suspend: bool = False

    # Fields of Flux's API that sluice does not act on yet are refused, never
    # stored and ignored; each message says what to use instead.
    @field_validator("provider")
    @classmethod
    def _generic_provider_only(cls, value: str) -> str:
        if value != "generic":
            raise ValueError(
                f'provider "{value}" is not supported by sluice yet: use "generic" (the S3 '
                "API, which AWS S3 and Google Cloud Storage's interoperability endpoint also "
                "serve) with access keys in spec.secretRef"
            )
        return value

    @field_validator("sts")
    @classmethod
    def _no_sts(cls, value: BucketSTSSpec | None) -> BucketSTSSpec | None:
        if value is not None:
            raise ValueError(
                "temporary credentials from a Security Token Service are not supported by "
                "sluice yet: put static access keys (accesskey, secretkey) in spec.secretRef"
            )
        return value

    @field_validator("service_account_name")
    @classmethod
    def _no_workload_identity(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(
                "serviceAccountName is not supported for the 'generic' Bucket provider: "
                "put access keys (accesskey, secretkey) in spec.secretRef"
            )
        return value

    @field_validator("proxy_secret_ref")
    @classmethod
    def _no_proxy(cls, value: LocalObjectReference | None) -> LocalObjectReference | None:
        if value is not None:
            raise ValueError(
                "a proxy is not supported by sluice yet: the endpoint must be reachable directly"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _relative_prefix(cls, value: str | None) -> str | None:
        if value and value.startswith("/"):
            raise ValueError(
                f'prefix "{value}" starts with "/": object keys never do; '
                f'write "{value.lstrip("/")}"'
            )
        return value

    @property
    def interval_seconds(self) -> float:
        """``interval`` in seconds."""
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds, 60 when unset."""
        return parse_duration(self.timeout) if self.timeout else DEFAULT_BUCKET_TIMEOUT


class Bucket(ApiObject):
    """An S3-compatible bucket to fetch and package as an artifact."""

    spec: BucketSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v1beta2 -> v1: drop ``accessFrom`` (gone in v1, as for GitRepository)."""
        spec = doc.get("spec")
        if isinstance(spec, dict) and "accessFrom" in spec:
            doc = {**doc, "spec": {k: v for k, v in spec.items() if k != "accessFrom"}}
        return doc
