"""Discord: the Slack payload, posted to the webhook's Slack-compatible ``/slack`` endpoint.

As Flux's ``internal/notifier/discord.go``: ``/slack`` is appended to the
webhook's path unless the address already ends with it; the payload is
Slack's with no channel (the webhook picks it) and no fallback text; the
username defaults to the reporting controller. No auth header: the webhook
URL is the credential.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import by_severity, json_request, require_url
from services.notify.providers.slack import attachment_payload

__all__ = ["build", "slack_endpoint"]

_EXPECTED = "the Discord webhook URL (https://discord.com/api/webhooks/...)"
# What Go's url.URL leaves unescaped in a path besides letters, digits and -._~
_PATH_SAFE = "/$&+,:;=@"


def slack_endpoint(address: str) -> str:
    """``address`` with ``slack`` joined to its path as Go's path.Join does (cleaning it)."""
    if address.endswith("/slack"):
        return address
    parts = urlsplit(address)
    path = posixpath.normpath(posixpath.join(unquote(parts.path) or "/", "slack"))
    # POSIX keeps a leading "//", Go's path.Clean does not.
    path = "/" + path.lstrip("/")
    return urlunsplit(parts._replace(path=quote(path, safe=_PATH_SAFE)))


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to the Provider's Discord webhook."""
    url = slack_endpoint(require_url(target.address, expected=_EXPECTED))
    payload = attachment_payload(
        notice,
        channel="",
        username=target.username or notice.reporting_controller,
        color=by_severity(notice, info="good", error="danger"),
        fallback="",
    )
    return json_request(url, payload)
