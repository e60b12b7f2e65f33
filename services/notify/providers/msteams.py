"""Microsoft Teams: an Adaptive Card for Workflows webhooks, a MessageCard for old connectors.

As Flux's ``internal/notifier/teams.go``: an address whose host ends with
``.webhook.office.com`` is a (deprecated) Office 365 connector and gets the
legacy MessageCard (theme colour ``0076D7`` / ``FF0000``); any other address
(a Power Automate Workflows URL) gets an Adaptive Card 1.4 whose facts list
``summary`` first and then the other metadata by key, and whose message turns
``attention``-coloured for an error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import (
    by_severity,
    json_request,
    object_title,
    require_url,
    sorted_metadata,
)

__all__ = ["adaptive_card", "build", "is_legacy_connector", "message_card"]

_EXPECTED = "the Teams Workflows webhook URL (https://<region>.logic.azure.com/workflows/...)"
# Teams renders Adaptive Cards up to 1.4 only.
_CARD_VERSION = "1.4"


def is_legacy_connector(address: str) -> bool:
    """True for an Office 365 connector address (host ``*.webhook.office.com``)."""
    host = urlsplit(address).netloc.rpartition("@")[2].split(":")[0]
    return host.endswith(".webhook.office.com")


def message_card(notice: Notice) -> dict[str, Any]:
    """The legacy connector's MessageCard, as Flux's MSTeamsPayload."""
    title = object_title(notice)
    facts = [{"name": k, "value": v} for k, v in sorted_metadata(notice)]
    section = {"activityTitle": notice.message, "activitySubtitle": title, "facts": facts}
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": by_severity(notice, info="0076D7", error="FF0000"),
        "summary": title,
        "sections": [section],
    }


def adaptive_card(notice: Notice) -> dict[str, Any]:
    """The Workflows message: one Adaptive Card with the title, the message and the facts."""
    title: dict[str, Any] = {"type": "TextBlock", "text": object_title(notice), "size": "large"}
    title |= {"weight": "bolder", "wrap": True}
    # Flux's structs omit empty strings and lists here (omitempty).
    message: dict[str, Any] = {"type": "TextBlock"}
    if notice.message:
        message["text"] = notice.message
    if notice.severity == "error":
        message["color"] = "attention"
    message["wrap"] = True
    summary = notice.metadata.get("summary")
    facts = [{"title": "summary", "value": summary}] if summary is not None else []
    facts += [{"title": k, "value": v} for k, v in sorted_metadata(notice) if k != "summary"]
    fact_set: dict[str, Any] = {"type": "FactSet"}
    if facts:
        fact_set["facts"] = facts
    container = {"type": "Container", "items": [title, message, fact_set]}
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": _CARD_VERSION,
        "body": [container],
        "msteams": {"width": "Full"},
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
    return {"type": "message", "attachments": [attachment]}


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to the Provider's Teams webhook, in the format its address takes."""
    url = require_url(target.address, expected=_EXPECTED)
    payload = message_card(notice) if is_legacy_connector(url) else adaptive_card(notice)
    return json_request(url, payload)
