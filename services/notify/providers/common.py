"""What several provider payload builders share: the object's title, metadata order, JSON bodies.

Flux's notifiers each format the same pieces: the involved object as
``kustomization/podinfo.flux-system``, the metadata as key/value fields, a
colour picked by severity, a JSON body posted with ``Content-Type:
application/json``. Flux ranges over a Go map, so its field order is random;
sluice sorts by key so a message reads the same every time.

Errors: ``PayloadError`` (from ``notice``) names the Provider field that
cannot work; it never quotes an address or token, as both may be secrets.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import urlsplit

from services.notify.notice import Notice, PayloadError, Request

__all__ = [
    "by_severity",
    "go_json",
    "json_request",
    "object_title",
    "require",
    "require_url",
    "sorted_metadata",
]

# Go's json.Marshal escapes these so a body is safe inside HTML; doing the same
# keeps sluice's bytes equal to Flux's (Matrix hashes the event's JSON into a transaction id).
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}

_T = TypeVar("_T")


def object_title(notice: Notice) -> str:
    """``kind/name.namespace`` with the kind lower-cased, as most Flux notifiers title a message."""
    obj = notice.involved_object
    return f"{obj.kind.lower()}/{obj.name}.{obj.namespace}"


def sorted_metadata(notice: Notice) -> list[tuple[str, str]]:
    """The metadata as (key, value) pairs sorted by key."""
    return sorted(notice.metadata.items())


def by_severity(notice: Notice, *, info: _T, error: _T) -> _T:
    """``error`` for an error event, ``info`` for any other (Flux tests only for "error")."""
    return error if notice.severity == "error" else info


def go_json(payload: Any) -> bytes:
    """``payload`` encoded as Go's json.Marshal does: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return "".join(_GO_ESCAPES.get(char, char) for char in text).encode()


def json_request(
    url: str, payload: Any, *, method: str = "POST", headers: tuple[tuple[str, str], ...] = ()
) -> Request:
    """A request carrying ``payload`` as JSON, as Flux's postMessage sends it."""
    all_headers = (("Content-Type", "application/json"), *headers)
    return Request(method=method, url=url, headers=all_headers, body=go_json(payload))


def require(value: str, *, field: str, expected: str) -> str:
    """``value`` if set; else PayloadError naming the Provider ``field`` and what it takes."""
    if not value:
        raise PayloadError(f"{field} is empty: expected {expected}")
    return value


def require_url(address: str, *, expected: str) -> str:
    """``address`` when it is an absolute http(s) URL; else PayloadError naming ``spec.address``.

    The address is not quoted in the error: webhook URLs carry their token.
    """
    require(address, field="spec.address", expected=expected)
    try:
        parts = urlsplit(address)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise PayloadError(f"spec.address is not an http(s) URL: expected {expected}")
    return address
