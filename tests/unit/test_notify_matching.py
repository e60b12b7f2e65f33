"""Which events an Alert forwards, with what metadata: Flux's notification-controller rules."""

from __future__ import annotations

from typing import Any

import pytest

from services.notify.matching import (
    EventObject,
    alert_takes,
    forwarded_metadata,
    notice_for,
    rate_limit_key,
    reporting_controller,
)
from services.notify.outbox import Queued
from shared.api import parse_as
from shared.api.alert import Alert
from shared.events import Event
from shared.keys import ObjectKey


def _alert(**spec: Any) -> Alert:
    doc = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Alert",
        "metadata": {"name": "on-call", "namespace": "flux-system"},
        "spec": {
            "providerRef": {"name": "slack"},
            "eventSources": [{"kind": "Kustomization", "name": "*"}],
            **spec,
        },
    }
    return parse_as(doc, Alert)


def _event(
    name: str = "apps",
    *,
    kind: str = "Kustomization",
    namespace: str = "flux-system",
    severity: str = "info",
    message: str = "Deployment/default/podinfo configured",
    **extra: Any,
) -> Event:
    return Event(
        type="applied",
        object=ObjectKey(kind, namespace, name),
        severity=severity,  # type: ignore[arg-type]
        reason="ReconciliationSucceeded",
        message=message,
        **extra,
    )


TEAM = EventObject(uid="u-1", labels={"team": "web"}, annotations={})


@pytest.mark.parametrize(
    ("spec", "event", "obj", "takes"),
    [
        ({}, _event(), TEAM, True),
        # Another namespace than the Alert's, unless the source names it.
        ({}, _event(namespace="apps"), TEAM, False),
        (
            {"eventSources": [{"kind": "Kustomization", "name": "*", "namespace": "apps"}]},
            _event(namespace="apps"),
            TEAM,
            True,
        ),
        # Kind and exact name.
        ({"eventSources": [{"kind": "GitRepository", "name": "*"}]}, _event(), TEAM, False),
        ({"eventSources": [{"kind": "Kustomization", "name": "apps"}]}, _event(), TEAM, True),
        ({"eventSources": [{"kind": "Kustomization", "name": "infra"}]}, _event(), TEAM, False),
        # matchLabels with `*`.
        (
            {
                "eventSources": [
                    {"kind": "Kustomization", "name": "*", "matchLabels": {"team": "web"}}
                ]
            },
            _event(),
            TEAM,
            True,
        ),
        (
            {
                "eventSources": [
                    {"kind": "Kustomization", "name": "*", "matchLabels": {"team": "db"}}
                ]
            },
            _event(),
            TEAM,
            False,
        ),
        (
            {
                "eventSources": [
                    {"kind": "Kustomization", "name": "*", "matchLabels": {"team": "web"}}
                ]
            },
            _event(),
            EventObject(),
            False,
        ),
        # Severity: error takes errors only; info takes both.
        ({"eventSeverity": "error"}, _event(), TEAM, False),
        ({"eventSeverity": "error"}, _event(severity="error"), TEAM, True),
        ({}, _event(severity="error"), TEAM, True),
        # Trace never leaves.
        ({}, _event(severity="trace"), TEAM, False),
        # Inclusion: one must match; exclusion beats inclusion.
        ({"inclusionList": [".*podinfo.*"]}, _event(), TEAM, True),
        ({"inclusionList": ["^Health"]}, _event(), TEAM, False),
        (
            {"inclusionList": [".*podinfo.*"], "exclusionList": ["configured$"]},
            _event(),
            TEAM,
            False,
        ),
        (
            {"exclusionList": ["^Dependencies do not meet"]},
            _event(message="Dependencies do not meet ready condition"),
            TEAM,
            False,
        ),
    ],
)
def test_alert_takes(spec: dict[str, Any], event: Event, obj: EventObject, takes: bool) -> None:
    assert alert_takes(_alert(**spec), event, obj) is takes


def test_metadata_follows_v1beta3_precedence() -> None:
    alert = _alert(
        eventMetadata={"env": "prod", "revision": "from-alert", "owner": "alert"},
        summary="Cluster prod",
    )
    obj = EventObject(
        annotations={
            "event.toolkit.fluxcd.io/owner": "annotation",
            "event.toolkit.fluxcd.io/ticket": "OPS-1",
            "kustomize.toolkit.fluxcd.io/ignored": "not event metadata",
        }
    )
    event = _event(
        revision="main@sha1:abc",
        cluster="prod-eu",
        metadata={
            "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
            "kustomize.toolkit.fluxcd.io/commit_status": "update",
            "kustomize.toolkit.fluxcd.io/checksum": "dropped",
            "kustomize.toolkit.fluxcd.io/token": "dropped",
            "source.toolkit.fluxcd.io/revision": "another group: dropped",
        },
    )
    assert forwarded_metadata(alert, event, obj) == {
        "owner": "alert",  # the Alert's eventMetadata beats the object's annotation
        "ticket": "OPS-1",
        "env": "prod",
        "summary": "Cluster prod",
        "revision": "main@sha1:abc",  # the controller's key beats the Alert's
        "commit_status": "update",
        "cluster": "prod-eu",
    }


def test_revision_comes_from_the_event_when_the_controller_gave_no_key() -> None:
    meta = forwarded_metadata(_alert(), _event(revision="6.5.0"), EventObject())
    assert meta == {"revision": "6.5.0"}


def test_the_notice_is_fluxs_payload() -> None:
    notice = notice_for(_alert(), _event(revision="main@sha1:abc"), TEAM, instance="host-1")
    payload = notice.to_json()
    assert payload["involvedObject"] == {
        "kind": "Kustomization",
        "namespace": "flux-system",
        "name": "apps",
        "uid": "u-1",
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
    }
    assert payload["reportingController"] == "kustomize-controller"
    assert payload["reportingInstance"] == "host-1"
    assert payload["metadata"] == {"revision": "main@sha1:abc"}
    assert (payload["severity"], payload["reason"]) == ("info", "ReconciliationSucceeded")


@pytest.mark.parametrize(
    ("kind", "controller"),
    [
        ("GitRepository", "source-controller"),
        ("HelmChart", "source-controller"),
        ("Kustomization", "kustomize-controller"),
        ("HelmRelease", "helm-controller"),
        ("ArtifactGenerator", "source-watcher"),
    ],
)
def test_reporting_controller(kind: str, controller: str) -> None:
    assert reporting_controller(kind) == controller


def test_rate_limit_key_tells_apart_what_flux_does() -> None:
    base = rate_limit_key(_event(revision="a"))
    assert rate_limit_key(_event(revision="a")) == base
    assert rate_limit_key(_event(revision="b")) != base
    assert rate_limit_key(_event(revision="a", message="other")) != base
    assert rate_limit_key(_event(revision="a", cluster="prod")) != base
    assert rate_limit_key(_event("infra", revision="a")) != base


def test_a_queued_notice_survives_its_trip_through_redis() -> None:
    notice = notice_for(_alert(summary="s"), _event(revision="r"), TEAM, instance="h")
    queued = Queued(ObjectKey("Alert", "flux-system", "on-call"), notice, attempts=3)
    assert Queued.decode(queued.encode()) == queued
