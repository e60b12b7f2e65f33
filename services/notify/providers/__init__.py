"""Every provider type sluice sends to, and the module that formats its request.

Each module has ``build(notice: Notice, target: Target) -> Request | None``:
pure, no I/O; None when this provider sends nothing for this event (a commit
status for an event without a commit). ``PayloadError`` names a Provider
setting that cannot work (a GitHub address that is not a repository). A
module whose API answers 2xx to a refused request (Slack's chat.postMessage)
also has ``api_error(url, body) -> str | None``, the refusal read from the body;
one that sends a second request for some events (PagerDuty's change event)
has ``build_change``, with ``build``'s signature.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from types import ModuleType

from services.notify.notice import Notice, Request, Target
from shared.api.provider import PROVIDER_TYPES

__all__ = [
    "Builder",
    "ResponseCheck",
    "builder",
    "requests_for",
    "response_check",
]

Builder = Callable[[Notice, Target], Request | None]
ResponseCheck = Callable[[str, bytes], str | None]

# The types the Provider model accepts (shared.api.provider), each by its module.
_MODULES = {name: name for name in PROVIDER_TYPES} | {"generic-hmac": "generic"}


@cache
def _module(provider_type: str) -> ModuleType:
    """The module of ``provider_type`` (KeyError for a type sluice does not send to)."""
    return importlib.import_module(f"services.notify.providers.{_MODULES[provider_type]}")


def builder(provider_type: str) -> Builder:
    """The payload builder of ``provider_type`` (KeyError for a type sluice does not send to)."""
    built: Builder = _module(provider_type).build
    return built


def response_check(provider_type: str) -> ResponseCheck | None:
    """How ``provider_type`` reads a refusal from a 2xx answer, if its API does that."""
    check: ResponseCheck | None = getattr(_module(provider_type), "api_error", None)
    return check


def requests_for(provider_type: str, notice: Notice, target: Target) -> list[Request]:
    """Every request ``provider_type`` sends for ``notice``, in order (often one, maybe none)."""
    built = [builder(provider_type)(notice, target)]
    change = getattr(_module(provider_type), "build_change", None)
    if change is not None:
        built.append(change(notice, target))
    return [request for request in built if request is not None]
