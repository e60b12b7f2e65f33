"""Is this webhook call genuine? Each Receiver type's check, as Flux's receiver server makes it.

Pure: no Redis, no HTTP server. :func:`verify` takes the call (headers and the
whole body, already size-limited) and the Receiver's type, token and allowed
events, and returns what was :class:`Accepted` or raises :class:`Refused` (the
server answers 400). Signatures and tokens are compared in constant time
(``hmac.compare_digest``); no message holds the token or a signature.

Per type (notification-controller's ``internal/server/receiver_handlers.go``):

=============  ============================================================
generic        nothing beyond the secret path
generic-hmac   ``X-Signature: sha1|sha256|sha512=<hex HMAC(body, token)>``
github         ``X-Hub-Signature-256`` (else ``X-Hub-Signature``) over the
               JSON or form body; ``X-GitHub-Event`` in ``events``
gitlab         ``X-Gitlab-Token`` == token; ``X-Gitlab-Event`` in ``events``
bitbucket      as github's signature; ``X-Event-Key`` in ``events``
harbor         ``Authorization`` == token
nexus          ``X-Nexus-Webhook-Signature`` = hex HMAC-SHA1(body); JSON body
dockerhub,     a JSON object body
quay, acr
cdevents       a CDEvent JSON body (``context`` and ``subject`` objects);
               ``Ce-Type`` in ``events``
=============  ============================================================

One difference from Flux, on purpose: a genuine GitHub ``ping`` (sent when a
webhook is created) is accepted whatever ``events`` says and reconciles
nothing, so the Git host shows the hook as working without a reconcile of
everything it names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TYPES",
    "WEBHOOK_PREFIX",
    "Accepted",
    "Refused",
    "WebhookCall",
    "json_request",
    "sign",
    "verify",
    "webhook_path",
]

WEBHOOK_PREFIX = "/hook/"
_HASHES: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


class Refused(Exception):
    """The call is not genuine or not wanted; the message says why (never a secret)."""


@dataclass(frozen=True)
class WebhookCall:
    """One webhook request: its headers (any case) and its whole body."""

    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """The value of header ``name`` (case-insensitive), "" when absent."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return ""

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower case ("" when absent)."""
        return self.header("Content-Type").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Accepted:
    """A genuine call: ``event`` its type ("" when the type has none), ``reconcile``
    False for a call that asks for nothing (a GitHub ping), ``note`` what to log."""

    event: str
    note: str
    reconcile: bool = True


def webhook_path(token: str, *, name: str, namespace: str, scope: str = "") -> str:
    """``/hook/<hex sha256(token + name + namespace)>``, as Flux's ``GetWebhookPath``.

    A Receiver in a Cluster's scope adds ``:<scope>``: one sluice serves every
    scope on one port, where Flux has a server per cluster, and two scopes may
    hold the same Receiver with the same token.
    """
    text = token + name + namespace + (f":{scope}" if scope else "")
    return WEBHOOK_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def sign(body: bytes, token: str, *, algorithm: str = "sha256") -> str:
    """``<algorithm>=<hex HMAC(body, token)>``: what a Git host puts in its signature header."""
    digest = hmac.new(token.encode(), body, _HASHES[algorithm]).hexdigest()
    return f"{algorithm}={digest}"


def _check_signature(signature: str, body: bytes, token: str) -> None:
    """go-github's ValidateSignature: ``<sha1|sha256|sha512>=<hex>``, compared in constant time."""
    if not signature:
        raise Refused("missing signature")
    algorithm, sep, given = signature.partition("=")
    if not sep:
        raise Refused("the signature is not of the form <algorithm>=<hex>")
    if algorithm not in _HASHES:
        raise Refused(f"unknown signature algorithm {algorithm[:16]!r}")
    expected = hmac.new(token.encode(), body, _HASHES[algorithm]).hexdigest()
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise Refused("the payload signature does not match")


def _allowed(event: str, events: Sequence[str], *, what: str) -> None:
    if events and not any(event.lower() == allowed.lower() for allowed in events):
        raise Refused(f"the {what} event {event[:100]!r} is not authorised")


def _signed_payload(call: WebhookCall, token: str, *, what: str) -> None:
    """go-github's ValidatePayload: a JSON or form body, signed with the token."""
    if call.media_type not in (_JSON, _FORM):
        raise Refused(f"{what}: unsupported Content-Type {call.media_type[:100]!r}")
    signature = call.header("X-Hub-Signature-256") or call.header("X-Hub-Signature")
    try:
        _check_signature(signature, call.body, token)
    except Refused as err:
        raise Refused(f"the {what} signature header is invalid: {err}") from None


def _json_object(body: bytes, *, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise Refused(f"cannot decode the {what} payload: {err}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused(f"cannot decode the {what} payload: expected a JSON object")
    return value


def _token_equal(given: str, token: str, *, header: str) -> None:
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Refused(f"the {header} header value does not match the receiver token")


def _github(call: WebhookCall, token: str, events: Sequence[str]) -> Accepted:
    _signed_payload(call, token, what="GitHub")
    event = call.header("X-GitHub-Event")
    if event.lower() == "ping":
        return Accepted(event, "GitHub ping", reconcile=False)
    _allowed(event, events, what="GitHub")
    return Accepted(event, f"GitHub event {event[:100]}")


def _gitlab(call: WebhookCall, token: str, events: Sequence[str]) -> Accepted:
    _token_equal(call.header("X-Gitlab-Token"), token, header="X-Gitlab-Token")
    event = call.header("X-Gitlab-Event")
    _allowed(event, events, what="GitLab")
    return Accepted(event, f"GitLab event {event[:100]}")


def _bitbucket(call: WebhookCall, token: str, events: Sequence[str]) -> Accepted:
    _signed_payload(call, token, what="Bitbucket server")
    event = call.header("X-Event-Key")
    _allowed(event, events, what="Bitbucket server")
    return Accepted(event, f"Bitbucket server event {event[:100]}")


def _generic_hmac(call: WebhookCall, token: str, _events: Sequence[str]) -> Accepted:
    try:
        _check_signature(call.header("X-Signature"), call.body, token)
    except Refused as err:
        raise Refused(f"unable to validate HMAC signature: {err}") from None
    return Accepted("", "generic-hmac call")


def _harbor(call: WebhookCall, token: str, _events: Sequence[str]) -> Accepted:
    _token_equal(call.header("Authorization"), token, header="Harbor Authorization")
    return Accepted("", "Harbor event")


def _nexus(call: WebhookCall, token: str, _events: Sequence[str]) -> Accepted:
    signature = call.header("X-Nexus-Webhook-Signature")
    if not signature:
        raise Refused("the Nexus signature is missing from header")
    expected = hmac.new(token.encode(), call.body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise Refused("invalid Nexus signature")
    payload = _json_object(call.body, what="Nexus webhook")
    return Accepted("", f"Nexus event from {str(payload.get('repositoryName', ''))[:200]}")


def _registry(what: str) -> Callable[[WebhookCall, str, Sequence[str]], Accepted]:
    def check(call: WebhookCall, _token: str, _events: Sequence[str]) -> Accepted:
        _json_object(call.body, what=f"{what} webhook")
        return Accepted("", f"{what} event")

    return check


def _cdevents(call: WebhookCall, _token: str, events: Sequence[str]) -> Accepted:
    event = call.header("Ce-Type")
    payload = _json_object(call.body, what="CDEvent")
    context, subject = payload.get("context"), payload.get("subject")
    if not isinstance(context, dict) or not isinstance(subject, dict):
        raise Refused("unable to validate CDEvent event: expected `context` and `subject` objects")
    kind = context.get("type")
    if not isinstance(kind, str) or not kind.startswith("dev.cdevents."):
        raise Refused("unable to validate CDEvent event: context.type is not a dev.cdevents type")
    _allowed(event, events, what="CDEvent")
    return Accepted(event, f"CDEvent {event[:100]}")


_CHECKS: dict[str, Callable[[WebhookCall, str, Sequence[str]], Accepted]] = {
    "generic": lambda _call, _token, _events: Accepted("", "generic call"),
    "generic-hmac": _generic_hmac,
    "github": _github,
    "gitlab": _gitlab,
    "bitbucket": _bitbucket,
    "harbor": _harbor,
    "nexus": _nexus,
    "dockerhub": _registry("DockerHub"),
    "quay": _registry("Quay"),
    "acr": _registry("ACR"),
    "cdevents": _cdevents,
}
TYPES = tuple(_CHECKS)


def verify(
    call: WebhookCall, *, receiver_type: str, token: str, events: Sequence[str] = ()
) -> Accepted:
    """Check ``call`` as a Receiver of ``receiver_type`` with ``token`` would; Refused if not."""
    check = _CHECKS.get(receiver_type)
    if check is None:
        raise Refused(f"receiver type {receiver_type!r} is not supported")
    if not token:
        raise Refused("the receiver's token is empty")
    return check(call, token, events)


def json_request(call: WebhookCall) -> dict[str, Any]:
    """The body as ``req`` of a resourceFilter: parsed when it is JSON, else ``{}`` (as Flux).

    ValueError when a JSON body does not parse. A GitHub form body carries its
    JSON in the ``payload`` field, which Flux leaves out too (its Content-Type is
    not JSON).
    """
    if call.media_type != _JSON:
        return {}
    value = json.loads(call.body) if call.body.strip() else {}
    if not isinstance(value, dict):
        raise ValueError("the request body is JSON but not an object")
    return value
