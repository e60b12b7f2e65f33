"""Each Receiver type accepts exactly the calls Flux's receiver server accepts."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.notify.receiver.webhook import (
    TYPES,
    Refused,
    WebhookCall,
    json_request,
    sign,
    verify,
    webhook_path,
)
from shared.api.receiver import RECEIVER_TYPES, REFUSED_TYPES

TOKEN = "s3cr3t-token"
BODY = b'{"ref":"refs/heads/main","after":"abc"}'
JSON = {"Content-Type": "application/json"}


def hub(body: bytes = BODY, *, token: str = TOKEN, algorithm: str = "sha256") -> str:
    return sign(body, token, algorithm=algorithm)


def nexus_signature(body: bytes, token: str = TOKEN) -> str:
    return hmac.new(token.encode(), body, hashlib.sha1).hexdigest()


CDEVENT = (
    b'{"context":{"version":"0.4.1","id":"1","source":"ci","type":'
    b'"dev.cdevents.change.merged.0.2.0","timestamp":"2024-01-01T00:00:00Z"},'
    b'"subject":{"id":"c","content":{}}}'
)

ACCEPTED = [
    ("generic", {}, b"", (), ""),
    ("generic-hmac", {"X-Signature": hub()}, BODY, (), ""),
    ("generic-hmac", {"X-Signature": hub(algorithm="sha1")}, BODY, (), ""),
    ("generic-hmac", {"X-Signature": hub(algorithm="sha512")}, BODY, (), ""),
    (
        "github",
        {**JSON, "X-Hub-Signature-256": hub(), "X-GitHub-Event": "push"},
        BODY,
        ("push",),
        "push",
    ),
    # The SHA-1 header is read when the SHA-256 one is absent; events match in any case.
    (
        "github",
        {**JSON, "X-Hub-Signature": hub(algorithm="sha1"), "X-GitHub-Event": "Push"},
        BODY,
        ("push", "ping"),
        "Push",
    ),
    (
        "github",
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Hub-Signature-256": hub(b"payload=%7B%7D"),
            "X-GitHub-Event": "push",
        },
        b"payload=%7B%7D",
        (),
        "push",
    ),
    (
        "gitlab",
        {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Push Hook"},
        b"",
        ("Push Hook",),
        "Push Hook",
    ),
    (
        "bitbucket",
        {**JSON, "X-Hub-Signature": hub(), "X-Event-Key": "repo:refs_changed"},
        BODY,
        ("repo:refs_changed",),
        "repo:refs_changed",
    ),
    ("harbor", {"Authorization": TOKEN}, b"{}", (), ""),
    ("nexus", {"X-Nexus-Webhook-Signature": nexus_signature(b'{"a":1}')}, b'{"a":1}', (), ""),
    ("dockerhub", {}, b'{"push_data":{"tag":"v1"}}', (), ""),
    ("quay", {}, b'{"docker_url":"q/x","updated_tags":["v1"]}', (), ""),
    ("acr", {}, b'{"action":"push","target":{"repository":"x","tag":"v1"}}', (), ""),
    (
        "cdevents",
        {"Ce-Type": "dev.cdevents.change.merged.0.2.0"},
        CDEVENT,
        (),
        "dev.cdevents.change.merged.0.2.0",
    ),
]


@pytest.mark.parametrize(("kind", "headers", "body", "events", "event"), ACCEPTED)
def test_a_genuine_call_is_accepted(
    kind: str, headers: dict[str, str], body: bytes, events: tuple[str, ...], event: str
) -> None:
    accepted = verify(WebhookCall(headers, body), receiver_type=kind, token=TOKEN, events=events)
    assert accepted.event == event
    assert accepted.reconcile


REFUSED = [
    ("generic-hmac", {}, BODY, (), "missing signature"),
    ("generic-hmac", {"X-Signature": hub(token="other")}, BODY, (), "does not match"),
    ("generic-hmac", {"X-Signature": hub()}, BODY + b" ", (), "does not match"),
    ("generic-hmac", {"X-Signature": "md5=abcd"}, BODY, (), "unknown signature algorithm"),
    ("generic-hmac", {"X-Signature": "deadbeef"}, BODY, (), "<algorithm>=<hex>"),
    ("github", {**JSON, "X-GitHub-Event": "push"}, BODY, (), "missing signature"),
    (
        "github",
        {**JSON, "X-Hub-Signature-256": hub(token="wrong"), "X-GitHub-Event": "push"},
        BODY,
        (),
        "does not match",
    ),
    (
        "github",
        {"Content-Type": "text/plain", "X-Hub-Signature-256": hub(), "X-GitHub-Event": "push"},
        BODY,
        (),
        "unsupported Content-Type",
    ),
    (
        "github",
        {**JSON, "X-Hub-Signature-256": hub(), "X-GitHub-Event": "issues"},
        BODY,
        ("push",),
        "not authorised",
    ),
    (
        "gitlab",
        {"X-Gitlab-Token": "wrong", "X-Gitlab-Event": "Push Hook"},
        b"",
        (),
        "does not match",
    ),
    (
        "gitlab",
        {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Tag Push Hook"},
        b"",
        ("Push Hook",),
        "not authorised",
    ),
    ("bitbucket", {**JSON, "X-Event-Key": "repo:push"}, BODY, (), "missing signature"),
    ("harbor", {"Authorization": "Bearer " + TOKEN}, b"{}", (), "does not match"),
    ("harbor", {}, b"{}", (), "does not match"),
    ("nexus", {}, b'{"a":1}', (), "missing"),
    (
        "nexus",
        {"X-Nexus-Webhook-Signature": nexus_signature(b"x")},
        b'{"a":1}',
        (),
        "invalid Nexus",
    ),
    ("nexus", {"X-Nexus-Webhook-Signature": nexus_signature(b"[1]")}, b"[1]", (), "JSON object"),
    ("dockerhub", {}, b"not json", (), "cannot decode"),
    ("quay", {}, b"[1, 2]", (), "JSON object"),
    ("acr", {}, b"", (), "cannot decode"),
    ("cdevents", {"Ce-Type": "x"}, b'{"context":{}}', (), "context"),
    (
        "cdevents",
        {"Ce-Type": "dev.cdevents.change.merged.0.2.0"},
        CDEVENT,
        ("dev.cdevents.build.started",),
        "not authorised",
    ),
    ("gcr", {}, b"{}", (), "not supported"),
]


@pytest.mark.parametrize(("kind", "headers", "body", "events", "why"), REFUSED)
def test_a_forged_or_unwanted_call_is_refused_saying_why(
    kind: str, headers: dict[str, str], body: bytes, events: tuple[str, ...], why: str
) -> None:
    with pytest.raises(Refused, match=why) as refused:
        verify(WebhookCall(headers, body), receiver_type=kind, token=TOKEN, events=events)
    assert TOKEN not in str(refused.value)


def test_an_empty_token_accepts_nothing() -> None:
    call = WebhookCall({"X-Gitlab-Token": ""}, b"")
    with pytest.raises(Refused, match="empty"):
        verify(call, receiver_type="gitlab", token="")


def test_a_signed_github_ping_is_answered_but_reconciles_nothing() -> None:
    call = WebhookCall({**JSON, "X-Hub-Signature-256": hub(), "X-GitHub-Event": "ping"}, BODY)
    accepted = verify(call, receiver_type="github", token=TOKEN, events=("push",))
    assert not accepted.reconcile
    forged = WebhookCall(
        {**JSON, "X-Hub-Signature-256": hub(token="x"), "X-GitHub-Event": "ping"}, BODY
    )
    with pytest.raises(Refused):
        verify(forged, receiver_type="github", token=TOKEN)


def test_headers_are_read_in_any_case() -> None:
    call = WebhookCall({"x-gitlab-token": TOKEN, "X-GITLAB-EVENT": "Push Hook"}, b"")
    assert (
        verify(call, receiver_type="gitlab", token=TOKEN, events=("push hook",)).event
        == "Push Hook"
    )


@pytest.mark.parametrize(
    ("scope", "expected_text"),
    [("", "tokenwebhookflux-system"), ("staging", "tokenwebhookflux-system:staging")],
)
def test_the_webhook_path_is_fluxs_digest_of_token_name_and_namespace(
    scope: str, expected_text: str
) -> None:
    path = webhook_path("token", name="webhook", namespace="flux-system", scope=scope)
    assert path == "/hook/" + hashlib.sha256(expected_text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        (JSON, b'{"ref": "main"}', {"ref": "main"}),
        ({"Content-Type": "application/json; charset=utf-8"}, b'{"a": 1}', {"a": 1}),
        ({"Content-Type": "text/plain"}, b'{"a": 1}', {}),
        ({}, b"whatever", {}),
        (JSON, b"", {}),
    ],
)
def test_req_is_the_json_body_or_nothing(
    headers: dict[str, str], body: bytes, expected: dict[str, object]
) -> None:
    assert json_request(WebhookCall(headers, body)) == expected


def test_req_of_a_broken_json_body_is_an_error() -> None:
    with pytest.raises(ValueError):
        json_request(WebhookCall(JSON, b"{broken"))


def test_every_type_the_model_accepts_has_a_check() -> None:
    assert set(RECEIVER_TYPES) - set(REFUSED_TYPES) == set(TYPES)
