"""HelmRepository documents: what ``sluice apply`` accepts and refuses, with which message."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import HelmRepository, InvalidObjects, parse_as


def _doc(api_version: str = "v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"source.toolkit.fluxcd.io/{api_version}",
        "kind": "HelmRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {"url": "https://stefanprodan.github.io/podinfo", **spec},
    }


@pytest.mark.parametrize(
    ("spec", "api_version"),
    [
        ({"interval": "1m"}, "v1"),
        ({}, "v1"),  # interval is optional in v1 (Flux requeues after 1m)
        ({"interval": "10m", "timeout": "30s", "passCredentials": True}, "v1"),
        ({"secretRef": {"name": "auth"}, "certSecretRef": {"name": "tls"}}, "v1"),
        ({"url": "oci://ghcr.io/stefanprodan/charts", "type": "oci", "insecure": True}, "v1"),
        ({"url": "oci://ghcr.io/org/charts", "type": "oci", "provider": "generic"}, "v1"),
        ({"type": "default", "suspend": True}, "v1beta2"),
        ({"accessFrom": {"namespaceSelectors": [{"matchLabels": {"team": "a"}}]}}, "v1beta1"),
    ],
)
def test_flux_documents_are_accepted(spec: dict[str, Any], api_version: str) -> None:
    repo = parse_as(_doc(api_version, **spec), HelmRepository)
    assert repo.spec.url == spec.get("url", "https://stefanprodan.github.io/podinfo")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": "ftp://charts.example.com"}, "expected http://, https:// or oci://"),
        ({"url": "charts.example.com"}, "expected http://, https:// or oci://"),
        ({"url": "https://bot:pw@charts.example.com"}, "credentials in the URL"),
        ({"url": "oci://ghcr.io/org/charts"}, 'set type: "oci"'),
        ({"type": "oci"}, "must start with oci://"),
        ({"url": "oci://ghcr.io/x", "type": "oci", "provider": "aws"}, 'provider "aws"'),
        ({"type": "chartmuseum"}, "type"),
        ({"interval": "0s"}, "greater than zero"),
        ({"timeout": "1h"}, "timeout"),
        ({"verify": {"provider": "cosign"}}, "verify"),
    ],
)
def test_fields_sluice_cannot_honour_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidObjects) as info:
        parse_as(_doc(**spec), HelmRepository)
    assert message in str(info.value)
    assert "pw@" not in str(info.value)


@pytest.mark.parametrize(
    ("spec", "interval", "timeout"),
    [({}, 60.0, 60.0), ({"interval": "10m", "timeout": "15s"}, 600.0, 15.0)],
)
def test_interval_and_timeout_default_to_a_minute(
    spec: dict[str, Any], interval: float, timeout: float
) -> None:
    repo = parse_as(_doc(**spec), HelmRepository)
    assert (repo.spec.interval_seconds, repo.spec.timeout_seconds) == (interval, timeout)
