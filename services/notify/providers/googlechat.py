"""Google Chat: a card (cards v1) with the object as header and the metadata as key/values.

As Flux's ``internal/notifier/google_chat.go``: the header's title is the
object, its subtitle the reporting controller; the first section holds the
message (in red ``<font>`` for an error), a second one the metadata, only
when there is some. Unset pointers are written as JSON nulls, as Go does.
"""

from __future__ import annotations

from typing import Any

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import (
    json_request,
    object_title,
    require_url,
    sorted_metadata,
)

__all__ = ["build", "card"]

_EXPECTED = "the Google Chat webhook URL (https://chat.googleapis.com/v1/spaces/...)"


def _widget(*, text: dict[str, str] | None = None, key_value: Any = None) -> dict[str, Any]:
    return {"textParagraph": text, "keyValue": key_value}


def card(notice: Notice) -> dict[str, Any]:
    """The message with one card, as Flux's GoogleChatPayload."""
    header = {
        "title": object_title(notice),
        "subtitle": notice.reporting_controller,
        "imageUrl": None,
        "imageStyle": None,
    }
    text = notice.message
    if notice.severity == "error":
        text = f'<font color="#ff0000">{notice.message}</font>'
    sections = [{"header": "", "widgets": [_widget(text={"text": text})]}]
    if notice.metadata:
        pairs = [
            {"topLabel": k, "content": v, "contentMultiline": False}
            | {"bottomLabel": None, "icon": None}
            for k, v in sorted_metadata(notice)
        ]
        sections.append({"header": "", "widgets": [_widget(key_value=p) for p in pairs]})
    return {"cards": [{"header": header, "sections": sections}]}


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to the Provider's Google Chat webhook."""
    return json_request(require_url(target.address, expected=_EXPECTED), card(notice))
