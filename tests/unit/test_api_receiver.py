"""The Receiver model: Flux's fields read in every served version, the rest refused at apply."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.api import parse_object, validate
from shared.api.receiver import Receiver as ReceiverModel


def receiver(api_version: str = "notification.toolkit.fluxcd.io/v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "Receiver",
        "metadata": {"name": "hook", "namespace": "flux-system"},
        "spec": {
            "type": "github",
            "secretRef": {"name": "token"},
            "resources": [{"kind": "GitRepository", "name": "app"}],
            **spec,
        },
    }


@pytest.mark.parametrize("version", ["v1", "v1beta2", "v1beta1"])
def test_every_served_version_reads_as_v1(version: str) -> None:
    # v1beta1/v1beta2 exports carry `events: null` (no omitempty in their Go types).
    extra = {} if version == "v1" else {"events": None}
    doc = receiver(f"notification.toolkit.fluxcd.io/{version}", **extra)
    obj = parse_object(doc)
    assert isinstance(obj, ReceiverModel)
    assert obj.api_version == "notification.toolkit.fluxcd.io/v1"
    assert obj.spec.events == []
    assert obj.spec.interval_seconds == 600


def test_the_flux_docs_example_is_accepted() -> None:
    doc = receiver(
        interval="5m",
        events=["ping", "push"],
        resourceFilter="res.metadata.name == 'app'",
        resources=[
            {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "name": "app"},
            {"kind": "Kustomization", "name": "*", "namespace": "apps", "matchLabels": {"a": "b"}},
            {"kind": "HelmRelease", "name": "web", "filter": "req.ref == 'refs/heads/main'"},
        ],
    )
    obj = parse_object(doc)
    assert isinstance(obj, ReceiverModel)
    assert obj.spec.resources[1].match_labels == {"a": "b"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "generic-oidc"}, "generic-oidc is not supported by sluice: it verifies OIDC"),
        ({"type": "gcr"}, "gcr is not supported by sluice"),
        ({"type": "svn"}, "type"),
        ({"oidcProviders": [{"issuerURL": "https://x"}]}, "oidcProviders"),
        ({"secretRef": None}, "secretRef"),
        (
            {"resources": [{"kind": "Deployment", "name": "x"}]},
            'kind "Deployment": expected one of',
        ),
        ({"resources": [{"kind": "GitRepository", "name": "*"}]}, 'name "\\*" needs matchLabels'),
        (
            {"resources": [{"kind": "GitRepository", "name": "app", "matchLabels": {"a": "b"}}]},
            'matchLabels requires name "\\*"',
        ),
        (
            {"resources": [{"apiVersion": "v1", "kind": "GitRepository", "name": "app"}]},
            'apiVersion "v1" for kind GitRepository',
        ),
        ({"resourceFilter": "  "}, "resourceFilter is empty"),
        ({"interval": 10}, "Go duration"),
        ({"suspend": "yes"}, "suspend"),
        ({"unknownField": 1}, "unknownField"),
    ],
)
def test_what_sluice_cannot_do_is_refused_at_apply_saying_why(
    spec: dict[str, Any], message: str
) -> None:
    errors = validate(receiver(**spec))
    assert errors
    assert any(re.search(message, f"{e.field}: {e.message}") for e in errors), errors
