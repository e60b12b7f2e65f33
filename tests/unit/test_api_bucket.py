"""The Bucket model: what `sluice apply` accepts, and the fields it refuses with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import Bucket, InvalidObjects, parse_as, parse_object


def _bucket(api_version: str = "source.toolkit.fluxcd.io/v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "Bucket",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {"interval": "5m", "endpoint": "minio.minio:9000", "bucketName": "fleet", **spec},
    }


def test_a_generic_bucket_reads_with_flux_defaults() -> None:
    bucket = parse_as(_bucket(prefix="prod/", insecure=True, secretRef={"name": "k"}), Bucket)
    assert bucket.spec.provider == "generic"
    assert bucket.spec.timeout_seconds == 60
    assert bucket.spec.interval_seconds == 300
    assert bucket.spec.prefix == "prod/"
    assert bucket.spec.secret_ref is not None and bucket.spec.secret_ref.name == "k"


def test_v1beta2_is_read_and_its_access_from_dropped() -> None:
    doc = _bucket("source.toolkit.fluxcd.io/v1beta2", accessFrom={"namespaceSelectors": []})
    bucket = parse_object(doc)
    assert isinstance(bucket, Bucket)
    assert bucket.api_version == "source.toolkit.fluxcd.io/v1"


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"provider": "aws"}, "spec.provider", 'provider "aws" is not supported by sluice yet'),
        ({"provider": "gcp"}, "spec.provider", 'use "generic"'),
        ({"provider": "azure"}, "spec.provider", "is not supported by sluice yet"),
        (
            {"sts": {"provider": "ldap", "endpoint": "https://sts.example.com"}},
            "spec.sts",
            "Security Token Service are not supported",
        ),
        ({"proxySecretRef": {"name": "proxy"}}, "spec.proxySecretRef", "a proxy is not supported"),
        (
            {"serviceAccountName": "reader"},
            "spec.serviceAccountName",
            "not supported for the 'generic' Bucket provider",
        ),
        ({"endpoint": "https://s3.example.com"}, "spec.endpoint", 'write "s3.example.com"'),
        ({"endpoint": "http://minio:9000"}, "spec.endpoint", "set spec.insecure: true"),
        ({"endpoint": "minio:9000/path"}, "spec.endpoint", "expected host[:port]"),
        ({"bucketName": "fleet/prod"}, "spec.bucketName", "invalid bucket name"),
        ({"bucketName": "ab"}, "spec.bucketName", "3-63 letters, digits"),
        ({"bucketName": "-fleet"}, "spec.bucketName", "starting and ending with a letter"),
        ({"prefix": "/prod"}, "spec.prefix", 'write "prod"'),
        ({"timeout": "1h"}, "spec.timeout", ""),
    ],
)
def test_unsupported_or_invalid_fields_are_refused_with_a_reason(
    spec: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidObjects) as info:
        parse_object(_bucket(**spec))
    (error,) = info.value.errors
    assert error.field == field
    assert words in str(error)
