"""Lark (Feishu): an interactive message card posted to a custom bot's webhook.

As Flux's ``internal/notifier/lark.go``: the header is the emoji and the
object, ``turquoise`` or ``red`` by severity; one ``lark_md`` block holds the
bold message and a ``key: value`` line per metadata entry.
"""

from __future__ import annotations

from typing import Any

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import (
    by_severity,
    json_request,
    object_title,
    require_url,
    sorted_metadata,
)

__all__ = ["build", "card"]

_EXPECTED = "the Lark bot webhook URL (https://open.larksuite.com/open-apis/bot/v2/hook/...)"


def card(notice: Notice) -> dict[str, Any]:
    """The ``interactive`` message, as Flux's LarkPayload."""
    emoji = by_severity(notice, info="💫", error="🚨")
    content = f"**{notice.message}**\n\n"
    content += "".join(f"{k}: {v}\n" for k, v in sorted_metadata(notice))
    header = {
        "title": {"tag": "plain_text", "content": f"{emoji} {object_title(notice)}"},
        "template": by_severity(notice, info="turquoise", error="red"),
    }
    element = {"tag": "div", "text": {"tag": "lark_md", "content": content}}
    body = {"config": {"wide_screen_mode": True}, "header": header, "elements": [element]}
    return {"msg_type": "interactive", "card": body}


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to the Provider's Lark webhook."""
    return json_request(require_url(target.address, expected=_EXPECTED), card(notice))
