"""Slack: one attachment per event, posted to an incoming webhook or to chat.postMessage.

As Flux's ``internal/notifier/slack.go``: the involved object is the
attachment's author, the message its text, the metadata its fields, and the
colour ``good`` or ``danger`` by severity. ``spec.channel`` and
``spec.username`` go into the payload (the username defaults to the reporting
controller). A Secret ``token`` is sent as a Bearer token: that is how a Slack
app posts to ``https://slack.com/api/chat.postMessage``, which Flux does not
pick by itself, so the address is always required.

Discord and Rocket.Chat take the same payload shape (``discord.py``,
``rocket.py`` call ``attachment_payload``).
"""

from __future__ import annotations

import json
from typing import Any

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import (
    by_severity,
    json_request,
    object_title,
    require_url,
    sorted_metadata,
)

__all__ = ["API_URL", "api_error", "attachment_payload", "build"]

# The Web API method a Slack app posts with; it answers 200 even on failure.
API_URL = "https://slack.com/api/chat.postMessage"
_EXPECTED = f"{API_URL} (with a Secret token) or an incoming webhook URL"


def attachment_payload(
    notice: Notice, *, channel: str, username: str, color: str, fallback: str
) -> dict[str, Any]:
    """Slack's message with one attachment, field for field as Flux's SlackPayload."""
    author = object_title(notice)
    fields = [{"title": k, "value": v, "short": False} for k, v in sorted_metadata(notice)]
    attachment = {
        "fallback": fallback,
        "color": color,
        "author_name": author,
        "text": notice.message,
        "mrkdwn_in": ["text"],
        "fields": fields,
    }
    # icon_url and icon_emoji are always written, empty: Flux's struct has no omitempty there.
    return {
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [attachment],
    }


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to the Provider's Slack address."""
    url = require_url(target.address, expected=_EXPECTED)
    first_line = notice.message.split("\n")[0]
    payload = attachment_payload(
        notice,
        channel=target.channel,
        username=target.username or notice.reporting_controller,
        color=by_severity(notice, info="good", error="danger"),
        fallback=f"{object_title(notice)}: {first_line}",
    )
    headers = (("Authorization", f"Bearer {target.token}"),) if target.token else ()
    return json_request(url, payload, headers=headers)


def api_error(url: str, body: bytes) -> str | None:
    """Slack's error code when chat.postMessage answered ``ok: false``; None when it succeeded.

    chat.postMessage answers 200 to a refused message, so delivery must read the
    body, as Flux's validateSlackResponse does; incoming webhooks use status
    codes and are not checked here (None).
    """
    if url != API_URL:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return "unable to unmarshal response body"
    if isinstance(answer, dict) and answer.get("ok") is True:
        return None
    code = answer.get("error", "") if isinstance(answer, dict) else ""
    return f"Slack responded with error: {code}"
