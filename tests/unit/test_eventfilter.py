"""The event filter the event stream and ``sluice events`` share, as tables."""

from __future__ import annotations

import pytest

from shared.eventfilter import EventFilter, FilterError, parse_filter
from shared.events import Event
from shared.keys import ObjectKey

APPS = Event(
    type="applied",
    object=ObjectKey("Kustomization", "flux-system", "apps"),
    severity="info",
    reason="ReconciliationSucceeded",
    cluster="staging",
)
SCOPED = Event(
    type="reconcile-failed",
    object=ObjectKey("HelmRelease", "web", "podinfo", "prod"),
    severity="error",
    reason="InstallFailed",
)
FLEET_SOURCE = Event(
    type="revision-changed",
    object=ObjectKey("GitRepository", "flux-system", "fleet"),
    reason="NewArtifact",
)


@pytest.mark.parametrize(
    ("query", "event", "expected"),
    [
        ({}, APPS, True),
        ({"kind": ["Kustomization"]}, APPS, True),
        ({"kind": ["Kustomization"]}, SCOPED, False),
        ({"kind": ["ks"]}, APPS, True),
        ({"kind": ["kustomizations,HelmRelease"]}, SCOPED, True),
        ({"name": ["apps"]}, APPS, True),
        ({"name": ["app"]}, APPS, False),
        ({"name": ["*"]}, SCOPED, True),
        ({"namespace": ["flux-system"]}, APPS, True),
        ({"namespace": ["flux-system"]}, SCOPED, False),
        ({"cluster": ["staging"]}, APPS, True),
        ({"cluster": ["prod"]}, SCOPED, True),
        ({"cluster": ["staging", "prod"]}, FLEET_SOURCE, False),
        ({"cluster": ["prod"]}, APPS, False),
        ({"severity": ["error"]}, SCOPED, True),
        ({"severity": ["error"]}, APPS, False),
        ({"severity": ["info", "error"]}, APPS, True),
        ({"reason": ["InstallFailed"]}, SCOPED, True),
        ({"reason": ["InstallFailed"]}, APPS, False),
        ({"type": ["applied"]}, APPS, True),
        ({"type": ["applied"]}, FLEET_SOURCE, False),
        ({"kind": ["Kustomization"], "severity": ["error"]}, APPS, False),
        ({"kind": ["Kustomization"], "name": ["apps"], "cluster": ["staging"]}, APPS, True),
    ],
)
def test_an_event_matches_when_every_given_field_takes_its_value(
    query: dict[str, list[str]], event: Event, expected: bool
) -> None:
    assert parse_filter(query).matches(event) is expected


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ({"severity": ["loud"]}, "severity", "unknown severity 'loud'"),
        ({"severity": ["info,warning"]}, "severity", "unknown severity 'warning'"),
        ({"kind": ["Kustomisation"]}, "kind", 'unknown kind "Kustomisation"'),
        ({"name": ["apps,"]}, "name", "empty value"),
        ({"namespace": [""]}, "namespace", "empty value"),
        ({"kinds": ["Kustomization"]}, "kinds", "not a filter"),
    ],
)
def test_a_value_the_filter_cannot_take_is_refused_naming_the_parameter(
    query: dict[str, list[str]], parameter: str, words: str
) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(query)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"{parameter}: ")
    assert words in str(caught.value)


def test_values_are_normalized_once_and_written_back_as_query_parameters() -> None:
    parsed = parse_filter({"kind": ["ks", "Kustomization"], "severity": ["error"], "reason": []})
    assert parsed == EventFilter(kinds=("Kustomization",), severities=("error",))
    assert parsed.query() == [("kind", "Kustomization"), ("severity", "error")]
    assert not parsed.is_empty
    assert parse_filter({"reason": []}).is_empty
