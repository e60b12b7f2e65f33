"""Webex: a markdown message posted to a room with a bot's token.

As Flux's ``internal/notifier/webex.go``: ``spec.channel`` is the room id,
the Secret ``token`` the bot's access token (Bearer), the address Webex's
messages API (``https://webexapis.com/v1/messages``, which Flux does not
default). The markdown is ``✅``/``💣``, the bold object, the message, then
one ``>**key**: value`` line per metadata entry. Flux lets an empty room or
token through to a certain 4xx; sluice names the missing setting instead.
"""

from __future__ import annotations

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import (
    by_severity,
    json_request,
    object_title,
    require,
    require_url,
    sorted_metadata,
)

__all__ = ["API_URL", "build", "markdown"]

API_URL = "https://webexapis.com/v1/messages"


def markdown(notice: Notice) -> str:
    """The message text, as Flux's Webex.CreateMarkdown."""
    emoji = by_severity(notice, info="✅", error="💣")
    lines = [f"{emoji} **{object_title(notice)}**", notice.message]
    lines += [f">**{k}**: {v}" for k, v in sorted_metadata(notice)]
    return "".join(f"{line}\n" for line in lines)


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to Webex's messages API."""
    url = require_url(target.address, expected=API_URL)
    room = require(target.channel, field="spec.channel", expected="the Webex room id")
    token = require(
        target.token, field="the token key of spec.secretRef", expected="the Webex bot's token"
    )
    payload = {"roomId": room, "markdown": markdown(notice)}
    return json_request(url, payload, headers=(("Authorization", f"Bearer {token}"),))
