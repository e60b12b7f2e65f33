"""Prometheus Alertmanager, as Flux's alertmanager notifier posts to it.

``POST <address>`` (``.../api/v2/alerts``) with a one-alert array:
``status: firing``, ``labels`` (the metadata but ``summary``, plus
``alertname`` = ``Flux<Kind><Reason title-cased>``, severity, reason, kind,
name, namespace, reportingcontroller), ``annotations`` (message, and the
metadata's ``summary``), ``startsAt`` (the event's time) and ``endsAt``
(Go's zero time: Flux's ``omitempty`` does not omit a struct, so Alertmanager
resolves the alert after its resolve_timeout). Auth: ``Bearer <token>``, or
Basic when the Secret has a username and password (Flux's last request
modifier wins). Source: internal/notifier/alertmanager.go.
"""

from __future__ import annotations

import base64

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import json_request, require_url
from services.notify.providers.goevent import event_time, rfc3339

__all__ = ["ZERO_TIME", "alert_name", "build", "title"]

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's time.Time{} as RFC 3339


def title(text: str) -> str:
    """x/text's cases.Title: each word's first letter upper, the rest lower.

    A word is a run of letters, digits and underscores (Unicode word
    breaking keeps those together), so ``ReconciliationSucceeded`` becomes
    ``Reconciliationsucceeded`` exactly as Flux names the alert.
    """
    out: list[str] = []
    in_word = False
    for char in text:
        if char.isalnum() or char == "_":
            out.append(char.lower() if in_word else char.upper())
            in_word = True
        else:
            out.append(char)
            in_word = False
    return "".join(out)


def alert_name(notice: Notice) -> str:
    """``Flux`` + the object's kind + the reason title-cased."""
    return f"Flux{notice.involved_object.kind}{title(notice.reason)}"


def _auth(target: Target) -> tuple[tuple[str, str], ...]:
    if target.username and target.password:
        credentials = f"{target.username}:{target.password}".encode()
        return (("Authorization", "Basic " + base64.b64encode(credentials).decode()),)
    if target.token:
        return (("Authorization", f"Bearer {target.token}"),)
    return ()


def build(notice: Notice, target: Target) -> Request:
    """The alerts request."""
    url = require_url(target.address, expected="Alertmanager's /api/v2/alerts URL")
    metadata = dict(notice.metadata)
    annotations = {"message": notice.message}
    if "summary" in metadata:
        annotations["summary"] = metadata.pop("summary")
    obj = notice.involved_object
    labels = metadata | {
        "alertname": alert_name(notice),
        "severity": notice.severity,
        "reason": notice.reason,
        "kind": obj.kind,
        "name": obj.name,
        "namespace": obj.namespace,
        "reportingcontroller": notice.reporting_controller,
    }
    alert = {
        "status": "firing",
        "labels": dict(sorted(labels.items())),
        "annotations": dict(sorted(annotations.items())),
        "startsAt": rfc3339(event_time(notice)),
        "endsAt": ZERO_TIME,
    }
    return json_request(url, [alert], headers=_auth(target))
