"""The Provider and Alert models: what `sluice apply` accepts, and what it refuses with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import InvalidObjects, parse_object
from shared.api.alert import Alert
from shared.api.provider import Provider

GROUP = "notification.toolkit.fluxcd.io"


def _provider(version: str = "v1beta3", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "Provider",
        "metadata": {"name": "slack", "namespace": "flux-system"},
        "spec": {"type": "slack", "channel": "general", **spec},
    }


def _alert(version: str = "v1beta3", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "Alert",
        "metadata": {"name": "on-call", "namespace": "flux-system"},
        "spec": {
            "providerRef": {"name": "slack"},
            "eventSources": [{"kind": "Kustomization", "name": "*"}],
            **spec,
        },
    }


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2", "v1beta3"])
def test_every_version_of_flux_is_read(version: str) -> None:
    provider = parse_object(_provider(version, secretRef={"name": "webhook"}, timeout="30s"))
    alert = parse_object(_alert(version, eventSeverity="error", exclusionList=["^Dep"]))
    assert isinstance(provider, Provider) and isinstance(alert, Alert)
    assert provider.api_version == f"{GROUP}/v1beta3"
    assert provider.spec.timeout_seconds == 30
    assert alert.spec.event_severity == "error"


def test_provider_timeout_defaults_to_fluxs() -> None:
    provider = parse_object(_provider())
    assert isinstance(provider, Provider) and provider.spec.timeout_seconds == 15


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        (_provider(type="sentry"), "spec.type", 'provider type "sentry" is not supported'),
        (_provider(serviceAccountName="sa"), "spec.serviceAccountName", "workload identity"),
        (_provider(address="ftp://x"), "spec.address", "http:// or https://"),
        (_provider(commitStatusExpr="'x'"), "spec", "commitStatusExpr applies to"),
        (_provider(timeout="1h"), "spec.timeout", ""),
        (
            _provider(type="github", address="https://github.com/o/r", commitStatusExpr="1 + 1"),
            "spec",
            "must give a string",
        ),
        (
            _alert(
                eventSources=[{"kind": "Kustomization", "name": "apps", "matchLabels": {"a": "b"}}]
            ),
            "spec.eventSources[0]",
            'set name to "*"',
        ),
        (
            _alert(eventSources=[{"kind": "Deployment", "name": "*"}]),
            "spec.eventSources[0].kind",
            "",
        ),
        (_alert(eventSources=[]), "spec.eventSources", ""),
        (_alert(exclusionList=["(?=x)"]), "spec.exclusionList[0]", ""),
        (_alert(eventSeverity="warning"), "spec.eventSeverity", ""),
        (_alert(summary="x" * 256), "spec.summary", ""),
    ],
)
def test_refused_with_the_field_named(doc: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidObjects) as caught:
        parse_object(doc)
    errors = caught.value.errors
    assert any(e.field == field and words in e.message for e in errors), errors


def test_a_commit_status_expression_is_compiled_at_apply() -> None:
    doc = _provider(
        type="github",
        address="https://github.com/org/app",
        commitStatusExpr="event.involvedObject.kind + '/' + provider.metadata.name",
    )
    provider = parse_object(doc)
    assert isinstance(provider, Provider) and provider.spec.commit_status_expr
