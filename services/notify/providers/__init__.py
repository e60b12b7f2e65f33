"""Every provider type sluice sends to, and the module that formats its request.

Each module has ``build(notice: Notice, target: Target) -> Request | None``:
pure, no I/O; None when this provider sends nothing for this event (a commit
status for an event without a commit). ``PayloadError`` names a Provider
setting that cannot work (a GitHub address that is not a repository).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

from services.notify.notice import Notice, Request, Target

__all__ = ["COMMIT_STATUS_TYPES", "PROVIDER_TYPES", "Builder", "builder"]

Builder = Callable[[Notice, Target], Request | None]

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
