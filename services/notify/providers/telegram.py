"""Telegram: a MarkdownV2 message sent with a bot token to the Bot API's sendMessage.

As Flux's ``internal/notifier/telegram.go``: the address is ignored, the
request goes to ``https://api.telegram.org/bot<token>/sendMessage`` (so the
URL itself is a secret); ``spec.channel`` is the chat (``-1234567890``,
``@channel``), or ``chat:topic`` for a forum topic. The heading is the object
as ``kind/name/namespace`` (slashes, unlike the other chat providers), and
every text is escaped for MarkdownV2 with Flux's set of characters.
"""

from __future__ import annotations

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import (
    by_severity,
    json_request,
    require,
    sorted_metadata,
)

__all__ = ["API_BASE", "build", "escape", "text"]

API_BASE = "https://api.telegram.org"
# The characters Flux escapes (MarkdownV2 reserves these, and the backslash).
_SPECIAL = frozenset("\\.-_[]()~>`#+=|{}!*")


def escape(value: str) -> str:
    """``value`` with a backslash before every MarkdownV2 special character."""
    return "".join(f"\\{char}" if char in _SPECIAL else char for char in value)


def text(notice: Notice) -> str:
    """The message: bold heading, message, one ``\\- *key*: value`` line per metadata entry."""
    obj = notice.involved_object
    emoji = by_severity(notice, info="💫", error="🚨")
    heading = f"{emoji} {obj.kind.lower()}/{obj.name}/{obj.namespace}"
    metadata = "".join(f"\\- *{escape(k)}*: {escape(v)}\n" for k, v in sorted_metadata(notice))
    return f"*{escape(heading)}*\n{escape(notice.message)}\n{metadata}"


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to the Bot API's sendMessage."""
    channel = require(
        target.channel,
        field="spec.channel",
        expected="the chat id (-1234567890), chat:topic (-1234567890:1) or @channelname",
    )
    token = require(
        target.token, field="the token key of spec.secretRef", expected="the bot's token"
    )
    chat_id, _, thread = channel.partition(":")
    payload = {"chat_id": chat_id}
    if thread:
        payload["message_thread_id"] = thread
    payload |= {"text": text(notice), "parse_mode": "MarkdownV2"}
    return json_request(f"{API_BASE}/bot{token}/sendMessage", payload)
