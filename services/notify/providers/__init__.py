"""Every provider type sluice sends to, and the module that formats its request.

Each module has ``build(notice: Notice, target: Target) -> Request | None``:
pure, no I/O; None when this provider sends nothing for this event (a commit
status for an event without a commit). ``PayloadError`` names a Provider
setting that cannot work (a GitHub address that is not a repository). A
module whose API answers 2xx to a refused request (Slack's chat.postMessage)
also has ``api_error(url, body) -> str | None``, the refusal read from the body.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

from services.notify.notice import Notice, Request, Target

__all__ = [
    "COMMIT_STATUS_TYPES",
    "PROVIDER_TYPES",
    "Builder",
    "ResponseCheck",
    "builder",
    "response_check",
]

Builder = Callable[[Notice, Target], Request | None]
ResponseCheck = Callable[[str, bytes], str | None]

_MODULES = {
    "generic": "generic",
    "generic-hmac": "generic",
    "slack": "slack",
    "discord": "discord",
    "msteams": "msteams",
    "googlechat": "googlechat",
    "rocket": "rocket",
    "webex": "webex",
    "telegram": "telegram",
    "matrix": "matrix",
    "lark": "lark",
    "opsgenie": "opsgenie",
    "pagerduty": "pagerduty",
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "github": "github",
    "gitlab": "gitlab",
    "gitea": "gitea",
    "bitbucket": "bitbucket",
}
PROVIDER_TYPES = tuple(_MODULES)
COMMIT_STATUS_TYPES = ("github", "gitlab", "gitea", "bitbucket")


@cache
def builder(provider_type: str) -> Builder:
    """The payload builder of ``provider_type`` (KeyError for a type sluice does not send to)."""
    module = importlib.import_module(f"services.notify.providers.{_MODULES[provider_type]}")
    built: Builder = module.build
    return built


def response_check(provider_type: str) -> ResponseCheck | None:
    """How ``provider_type`` reads a refusal from a 2xx answer, if its API does that."""
    module = importlib.import_module(f"services.notify.providers.{_MODULES[provider_type]}")
    check: ResponseCheck | None = getattr(module, "api_error", None)
    return check
