"""The chat providers' requests: URL, method, headers and JSON body exactly as Flux sends them.

Every golden value below was read from Flux's notification-controller
(internal/notifier/<provider>.go, named on each case) and checked against
the requests Flux's own notifier code sends for the same event. Flux ranges
over a Go map for the metadata, so its order is random; sluice sorts it by
key (Teams' Adaptive Card puts ``summary`` first, as Flux does).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from services.notify.notice import InvolvedObject, Notice, PayloadError, Target
from services.notify.providers import builder
from services.notify.providers.discord import slack_endpoint
from services.notify.providers.msteams import is_legacy_connector
from services.notify.providers.slack import api_error
from services.notify.providers.telegram import escape

TITLE = "kustomization/podinfo.flux-system"
REVISION = "main@sha1:2b4c7f9e1d3a5b6c8e0f2a4b6c8d0e1f3a5b7c9d"
INFO_MSG = "Reconciliation finished in 1.2s, next run in 10m0s"
ERROR_MSG = (
    "Health check failed after 30s: timeout waiting for: "
    "[Deployment/podinfo/podinfo status: 'InProgress']"
)

ERROR = Notice(
    involved_object=InvolvedObject(
        api_version="kustomize.toolkit.fluxcd.io/v1",
        kind="Kustomization",
        name="podinfo",
        namespace="flux-system",
        uid="7d0b2a58-0f5e-4a55-9a8f-2b1a4c0a1e11",
    ),
    severity="error",
    timestamp="2026-12-07T22:15:30.000Z",
    message=ERROR_MSG,
    reason="HealthCheckFailed",
    metadata={"summary": "prod cluster", "revision": REVISION},
    reporting_controller="kustomize-controller",
    reporting_instance="kustomize-controller-7f9c6d8b5-x2x9q",
)
INFO = replace(ERROR, severity="info", message=INFO_MSG, reason="ReconciliationSucceeded")
# No metadata, HTML characters and a second line: what Go's JSON escapes and omits.
BARE = replace(
    ERROR,
    involved_object=replace(ERROR.involved_object, uid=""),
    timestamp="2026-12-07T22:15:30Z",
    message="a<b & c>\nsecond line",
    metadata={},
    reporting_instance="",
)

JSON = ("Content-Type", "application/json")


def target(provider: str, address: str = "", **settings: str) -> Target:
    return Target(type=provider, address=address, name="chat", namespace="flux-system", **settings)


SLACK = target(
    "slack", "https://slack.com/api/chat.postMessage", channel="general", token="xoxb-secret"
)
DISCORD = target("discord", "https://discord.com/api/webhooks/123/tok", channel="ignored")
ROCKET = target("rocket", "https://chat.example.com/hooks/abc", channel="#ops", username="flux")
TEAMS_URL = (
    "https://prod-28.northeurope.logic.azure.com:443/workflows/zzz/triggers/manual/paths/invoke"
)
TEAMS = target("msteams", TEAMS_URL)
TEAMS_CONNECTOR = target("msteams", "https://xxx.webhook.office.com/webhookb2/x")
GCHAT_URL = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k"
GCHAT = target("googlechat", GCHAT_URL)
WEBEX = target("webex", "https://webexapis.com/v1/messages", channel="room-1", token="wx-secret")
TELEGRAM = target("telegram", channel="-1001234567890:42", token="123456:ABC-secret")
MATRIX = target("matrix", "https://matrix.org", channel="!room:matrix.org", token="syt_secret")
LARK_URL = "https://open.larksuite.com/open-apis/bot/v2/hook/xyz"
LARK = target("lark", LARK_URL)


def slack_fields() -> list[dict[str, Any]]:
    return [
        {"title": "revision", "value": REVISION, "short": False},
        {"title": "summary", "value": "prod cluster", "short": False},
    ]


def teams_card(message: dict[str, Any]) -> dict[str, Any]:
    """Teams' Adaptive Card around the given message TextBlock (teams.go)."""
    facts = [
        {"title": "summary", "value": "prod cluster"},
        {"title": "revision", "value": REVISION},
    ]
    items = [
        {"type": "TextBlock", "text": TITLE, "size": "large", "weight": "bolder", "wrap": True},
        message,
        {"type": "FactSet", "facts": facts},
    ]
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "Container", "items": items}],
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
        ],
    }


def gchat_card(text: str) -> dict[str, Any]:
    """Google Chat's card v1 with the given message paragraph (google_chat.go)."""

    def pair(key: str, value: str) -> dict[str, Any]:
        key_value = {"topLabel": key, "content": value, "contentMultiline": False}
        key_value |= {"bottomLabel": None, "icon": None}
        return {"textParagraph": None, "keyValue": key_value}

    header = {
        "title": TITLE,
        "subtitle": "kustomize-controller",
        "imageUrl": None,
        "imageStyle": None,
    }
    sections = [
        {"header": "", "widgets": [{"textParagraph": {"text": text}, "keyValue": None}]},
        {"header": "", "widgets": [pair("revision", REVISION), pair("summary", "prod cluster")]},
    ]
    return {"cards": [{"header": header, "sections": sections}]}


CASES: list[tuple[str, Notice, Target, str, str, list[tuple[str, str]], dict[str, Any]]] = [
    # slack.go: author kind/name.namespace, fallback author + first line, good/danger,
    # username defaulting to the reporting controller, Bearer token when the Secret has one.
    (
        "slack-info",
        INFO,
        SLACK,
        "POST",
        "https://slack.com/api/chat.postMessage",
        [JSON, ("Authorization", "Bearer xoxb-secret")],
        {
            "channel": "general",
            "username": "kustomize-controller",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [
                {
                    "fallback": f"{TITLE}: {INFO_MSG}",
                    "color": "good",
                    "author_name": TITLE,
                    "text": INFO_MSG,
                    "mrkdwn_in": ["text"],
                    "fields": slack_fields(),
                }
            ],
        },
    ),
    (
        "slack-error",
        ERROR,
        SLACK,
        "POST",
        "https://slack.com/api/chat.postMessage",
        [JSON, ("Authorization", "Bearer xoxb-secret")],
        {
            "channel": "general",
            "username": "kustomize-controller",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [
                {
                    "fallback": f"{TITLE}: {ERROR_MSG}",
                    "color": "danger",
                    "author_name": TITLE,
                    "text": ERROR_MSG,
                    "mrkdwn_in": ["text"],
                    "fields": slack_fields(),
                }
            ],
        },
    ),
    # discord.go: Slack's payload to <webhook>/slack, no channel, no fallback, no auth.
    (
        "discord-info",
        INFO,
        DISCORD,
        "POST",
        "https://discord.com/api/webhooks/123/tok/slack",
        [JSON],
        {
            "channel": "",
            "username": "kustomize-controller",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [
                {
                    "fallback": "",
                    "color": "good",
                    "author_name": TITLE,
                    "text": INFO_MSG,
                    "mrkdwn_in": ["text"],
                    "fields": slack_fields(),
                }
            ],
        },
    ),
    (
        "discord-error",
        ERROR,
        DISCORD,
        "POST",
        "https://discord.com/api/webhooks/123/tok/slack",
        [JSON],
        {
            "channel": "",
            "username": "kustomize-controller",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [
                {
                    "fallback": "",
                    "color": "danger",
                    "author_name": TITLE,
                    "text": ERROR_MSG,
                    "mrkdwn_in": ["text"],
                    "fields": slack_fields(),
                }
            ],
        },
    ),
    # rocket.go: Slack's payload, channel and username as given, #0076D7/#FF0000.
    (
        "rocket-info",
        INFO,
        ROCKET,
        "POST",
        "https://chat.example.com/hooks/abc",
        [JSON],
        {
            "channel": "#ops",
            "username": "flux",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [
                {
                    "fallback": "",
                    "color": "#0076D7",
                    "author_name": TITLE,
                    "text": INFO_MSG,
                    "mrkdwn_in": ["text"],
                    "fields": slack_fields(),
                }
            ],
        },
    ),
    (
        "rocket-error",
        ERROR,
        ROCKET,
        "POST",
        "https://chat.example.com/hooks/abc",
        [JSON],
        {
            "channel": "#ops",
            "username": "flux",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [
                {
                    "fallback": "",
                    "color": "#FF0000",
                    "author_name": TITLE,
                    "text": ERROR_MSG,
                    "mrkdwn_in": ["text"],
                    "fields": slack_fields(),
                }
            ],
        },
    ),
    # teams.go: a Workflows URL gets the Adaptive Card, the message "attention" on error.
    (
        "msteams-info",
        INFO,
        TEAMS,
        "POST",
        TEAMS_URL,
        [JSON],
        teams_card({"type": "TextBlock", "text": INFO_MSG, "wrap": True}),
    ),
    (
        "msteams-error",
        ERROR,
        TEAMS,
        "POST",
        TEAMS_URL,
        [JSON],
        teams_card({"type": "TextBlock", "text": ERROR_MSG, "color": "attention", "wrap": True}),
    ),
    # teams.go: a *.webhook.office.com connector gets the legacy MessageCard.
    (
        "msteams-connector-info",
        INFO,
        TEAMS_CONNECTOR,
        "POST",
        "https://xxx.webhook.office.com/webhookb2/x",
        [JSON],
        {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": "0076D7",
            "summary": TITLE,
            "sections": [
                {
                    "activityTitle": INFO_MSG,
                    "activitySubtitle": TITLE,
                    "facts": [
                        {"name": "revision", "value": REVISION},
                        {"name": "summary", "value": "prod cluster"},
                    ],
                }
            ],
        },
    ),
    (
        "msteams-connector-error",
        ERROR,
        TEAMS_CONNECTOR,
        "POST",
        "https://xxx.webhook.office.com/webhookb2/x",
        [JSON],
        {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": "FF0000",
            "summary": TITLE,
            "sections": [
                {
                    "activityTitle": ERROR_MSG,
                    "activitySubtitle": TITLE,
                    "facts": [
                        {"name": "revision", "value": REVISION},
                        {"name": "summary", "value": "prod cluster"},
                    ],
                }
            ],
        },
    ),
    # google_chat.go: the error message wrapped in a red <font>.
    ("googlechat-info", INFO, GCHAT, "POST", GCHAT_URL, [JSON], gchat_card(INFO_MSG)),
    (
        "googlechat-error",
        ERROR,
        GCHAT,
        "POST",
        GCHAT_URL,
        [JSON],
        gchat_card(f'<font color="#ff0000">{ERROR_MSG}</font>'),
    ),
    # webex.go: markdown with ✅/💣, the bold object, ">**key**: value" lines.
    (
        "webex-info",
        INFO,
        WEBEX,
        "POST",
        "https://webexapis.com/v1/messages",
        [JSON, ("Authorization", "Bearer wx-secret")],
        {
            "roomId": "room-1",
            "markdown": f"✅ **{TITLE}**\n{INFO_MSG}\n"
            f">**revision**: {REVISION}\n>**summary**: prod cluster\n",
        },
    ),
    (
        "webex-error",
        ERROR,
        WEBEX,
        "POST",
        "https://webexapis.com/v1/messages",
        [JSON, ("Authorization", "Bearer wx-secret")],
        {
            "roomId": "room-1",
            "markdown": f"💣 **{TITLE}**\n{ERROR_MSG}\n"
            f">**revision**: {REVISION}\n>**summary**: prod cluster\n",
        },
    ),
    # telegram.go: bot<token>/sendMessage, chat:topic split, MarkdownV2 escaping,
    # the heading as kind/name/namespace.
    (
        "telegram-info",
        INFO,
        TELEGRAM,
        "POST",
        "https://api.telegram.org/bot123456:ABC-secret/sendMessage",
        [JSON],
        {
            "chat_id": "-1001234567890",
            "message_thread_id": "42",
            "text": "*💫 kustomization/podinfo/flux\\-system*\n"
            "Reconciliation finished in 1\\.2s, next run in 10m0s\n"
            f"\\- *revision*: {REVISION}\n"
            "\\- *summary*: prod cluster\n",
            "parse_mode": "MarkdownV2",
        },
    ),
    (
        "telegram-error",
        ERROR,
        TELEGRAM,
        "POST",
        "https://api.telegram.org/bot123456:ABC-secret/sendMessage",
        [JSON],
        {
            "chat_id": "-1001234567890",
            "message_thread_id": "42",
            "text": "*🚨 kustomization/podinfo/flux\\-system*\n"
            "Health check failed after 30s: timeout waiting for: "
            "\\[Deployment/podinfo/podinfo status: 'InProgress'\\]\n"
            f"\\- *revision*: {REVISION}\n"
            "\\- *summary*: prod cluster\n",
            "parse_mode": "MarkdownV2",
        },
    ),
    # matrix.go: PUT into the room with the SHA-1 of the event's JSON as transaction id
    # (the same ids Flux computes for this event).
    (
        "matrix-info",
        INFO,
        MATRIX,
        "PUT",
        "https://matrix.org/_matrix/client/r0/rooms/!room:matrix.org/send/m.room.message/"
        "49fc55b3adab1c4549f395df82a0e382831af8d9",
        [JSON, ("Authorization", "Bearer syt_secret")],
        {
            "body": f"💫 {TITLE}\n{INFO_MSG}\n- revision: {REVISION}\n- summary: prod cluster\n",
            "msgtype": "m.text",
        },
    ),
    (
        "matrix-error",
        ERROR,
        MATRIX,
        "PUT",
        "https://matrix.org/_matrix/client/r0/rooms/!room:matrix.org/send/m.room.message/"
        "274c24e4d966420d9e806ada936869161dbca379",
        [JSON, ("Authorization", "Bearer syt_secret")],
        {
            "body": f"🚨 {TITLE}\n{ERROR_MSG}\n- revision: {REVISION}\n- summary: prod cluster\n",
            "msgtype": "m.text",
        },
    ),
    # lark.go: interactive card, turquoise/red header, lark_md block.
    (
        "lark-info",
        INFO,
        LARK,
        "POST",
        LARK_URL,
        [JSON],
        {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": f"💫 {TITLE}"},
                    "template": "turquoise",
                },
                "elements": [
                    {
                        "tag": "div",
                        "text": {
                            "tag": "lark_md",
                            "content": f"**{INFO_MSG}**\n\n"
                            f"revision: {REVISION}\nsummary: prod cluster\n",
                        },
                    }
                ],
            },
        },
    ),
    (
        "lark-error",
        ERROR,
        LARK,
        "POST",
        LARK_URL,
        [JSON],
        {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": f"🚨 {TITLE}"},
                    "template": "red",
                },
                "elements": [
                    {
                        "tag": "div",
                        "text": {
                            "tag": "lark_md",
                            "content": f"**{ERROR_MSG}**\n\n"
                            f"revision: {REVISION}\nsummary: prod cluster\n",
                        },
                    }
                ],
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("notice", "provider", "method", "url", "headers", "body"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_provider_sends_the_request_flux_sends(
    notice: Notice,
    provider: Target,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: dict[str, Any],
) -> None:
    request = builder(provider.type)(notice, provider)
    assert request is not None
    assert (request.method, request.url, list(request.headers)) == (method, url, headers)
    assert json.loads(request.body) == body


# Byte for byte what Flux's notifiers post for BARE (json.Marshal escapes <, > and &;
# empty lists and strings are omitted or kept exactly as Flux's struct tags say).
BARE_BODIES = [
    (
        SLACK,
        '{"channel":"general","username":"kustomize-controller","icon_url":"","icon_emoji":"",'
        '"attachments":[{"fallback":"kustomization/podinfo.flux-system: '
        'a\\u003cb \\u0026 c\\u003e",'
        '"color":"danger","author_name":"kustomization/podinfo.flux-system",'
        '"text":"a\\u003cb \\u0026 c\\u003e\\nsecond line","mrkdwn_in":["text"],"fields":[]}]}',
    ),
    (
        TEAMS,
        '{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",'
        '"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json",'
        '"type":"AdaptiveCard","version":"1.4","body":[{"type":"Container","items":['
        '{"type":"TextBlock","text":"kustomization/podinfo.flux-system","size":"large",'
        '"weight":"bolder","wrap":true},{"type":"TextBlock",'
        '"text":"a\\u003cb \\u0026 c\\u003e\\nsecond line","color":"attention","wrap":true},'
        '{"type":"FactSet"}]}],"msteams":{"width":"Full"}}}]}',
    ),
    (
        GCHAT,
        '{"cards":[{"header":{"title":"kustomization/podinfo.flux-system",'
        '"subtitle":"kustomize-controller","imageUrl":null,"imageStyle":null},'
        '"sections":[{"header":"","widgets":[{"textParagraph":{"text":'
        '"\\u003cfont color=\\"#ff0000\\"\\u003ea\\u003cb \\u0026 c\\u003e\\nsecond line'
        '\\u003c/font\\u003e"},"keyValue":null}]}]}]}',
    ),
    (
        replace(TELEGRAM, channel="@fluxcd"),
        '{"chat_id":"@fluxcd","text":"*🚨 kustomization/podinfo/flux\\\\-system*\\n'
        'a\\u003cb \\u0026 c\\\\\\u003e\\nsecond line\\n","parse_mode":"MarkdownV2"}',
    ),
    (
        MATRIX,
        '{"body":"🚨 kustomization/podinfo.flux-system\\na\\u003cb \\u0026 c\\u003e\\n'
        'second line\\n","msgtype":"m.text"}',
    ),
]


@pytest.mark.parametrize(
    ("provider", "body"), [pytest.param(p, b, id=p.type) for p, b in BARE_BODIES]
)
def test_a_body_is_the_same_bytes_flux_posts(provider: Target, body: str) -> None:
    request = builder(provider.type)(BARE, provider)
    assert request is not None
    assert request.body == body.encode()


def test_matrix_names_the_transaction_after_the_event_so_a_retry_is_posted_once() -> None:
    first = builder("matrix")(BARE, MATRIX)
    again = builder("matrix")(BARE, MATRIX)
    other = builder("matrix")(replace(BARE, message="other"), MATRIX)
    assert first is not None and again is not None and other is not None
    # Flux's sha1 of json.Marshal(event) for BARE (metav1.Time writes whole seconds).
    assert first.url.endswith("/a0354d4bf1c4c09e8299fdcd92b098a5f25c2f2b")
    assert again.url == first.url != other.url


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("https://discord.com/api/webhooks/1/tok", "https://discord.com/api/webhooks/1/tok/slack"),
        ("https://discord.com/api/webhooks/1/tok/", "https://discord.com/api/webhooks/1/tok/slack"),
        (
            "https://discord.com/api/webhooks/1/tok/slack",
            "https://discord.com/api/webhooks/1/tok/slack",
        ),
        (
            "https://discord.com/api/webhooks/1/tok?thread_id=9",
            "https://discord.com/api/webhooks/1/tok/slack?thread_id=9",
        ),
        ("https://discord.com", "https://discord.com/slack"),
    ],
)
def test_discord_posts_to_the_webhooks_slack_endpoint(address: str, expected: str) -> None:
    assert slack_endpoint(address) == expected


@pytest.mark.parametrize(
    ("address", "legacy"),
    [
        ("https://xxx.webhook.office.com", True),
        ("https://xxx.webhook.office.com:443/webhookb2/a", True),
        ("https://xxx-webhook.office.com", False),
        (TEAMS_URL, False),
    ],
)
def test_teams_tells_a_legacy_connector_by_its_host(address: str, legacy: bool) -> None:
    # The same table as Flux's TestNewMSTeams (teams_test.go).
    assert is_legacy_connector(address) is legacy


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("flux-system", "flux\\-system"),
        (
            "a.b_c*d[e](f)~g`h>i#j+k=l|m{n}o!p",
            "a\\.b\\_c\\*d\\[e\\]\\(f\\)\\~g\\`h\\>i\\#j\\+k\\=l\\|m\\{n\\}o\\!p",
        ),
        ("back\\slash", "back\\\\slash"),
        ("main@sha1:abc", "main@sha1:abc"),
    ],
)
def test_telegram_escapes_markdownv2_characters_once(text: str, escaped: str) -> None:
    assert escape(text) == escaped


def test_slack_has_no_fallback_line_past_the_first_and_no_token_header_for_a_webhook() -> None:
    webhook = target("slack", "https://hooks.slack.com/services/T/B/x")
    request = builder("slack")(replace(ERROR, message="first\nsecond"), webhook)
    assert request is not None
    assert list(request.headers) == [JSON]
    assert json.loads(request.body)["attachments"][0]["fallback"] == f"{TITLE}: first"


def test_slack_reads_chat_postmessage_answers_and_leaves_webhooks_to_their_status() -> None:
    api = "https://slack.com/api/chat.postMessage"
    assert api_error(api, b'{"ok":true}') is None
    assert api_error(api, b'{"ok":false,"error":"channel_not_found"}') == (
        "Slack responded with error: channel_not_found"
    )
    assert api_error("https://hooks.slack.com/services/T/B/x", b"ok") is None


SECRET_URL = "https://hooks.example.com/services/T0/B0/s3cr3t"


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        pytest.param(target("slack"), "spec.address", id="slack-no-address"),
        pytest.param(
            target("slack", "hooks.slack.com/s3cr3t"), "spec.address", id="slack-no-scheme"
        ),
        pytest.param(target("discord", "ftp://s3cr3t"), "spec.address", id="discord-not-http"),
        pytest.param(target("rocket"), "spec.address", id="rocket"),
        pytest.param(target("msteams"), "spec.address", id="msteams"),
        pytest.param(target("googlechat"), "spec.address", id="googlechat"),
        pytest.param(target("lark"), "spec.address", id="lark"),
        pytest.param(
            target("webex", channel="room", token="s3cr3t"), "spec.address", id="webex-no-address"
        ),
        pytest.param(replace(WEBEX, channel=""), "spec.channel", id="webex-no-room"),
        pytest.param(replace(WEBEX, token=""), "token key of spec.secretRef", id="webex-no-token"),
        pytest.param(replace(TELEGRAM, channel=""), "spec.channel", id="telegram-no-channel"),
        pytest.param(replace(TELEGRAM, token=""), "token key of spec.secretRef", id="telegram"),
        pytest.param(replace(MATRIX, address=""), "spec.address", id="matrix-no-server"),
        pytest.param(replace(MATRIX, channel=""), "spec.channel", id="matrix-no-room"),
        pytest.param(
            replace(MATRIX, token=""), "token key of spec.secretRef", id="matrix-no-token"
        ),
    ],
)
def test_a_missing_setting_is_named_by_its_provider_field(provider: Target, field: str) -> None:
    with pytest.raises(PayloadError, match=field) as raised:
        builder(provider.type)(ERROR, provider)
    assert "expected" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


@pytest.mark.parametrize("provider", ["slack", "discord", "msteams", "googlechat", "lark"])
def test_an_invalid_webhook_url_is_not_quoted_in_the_error(provider: str) -> None:
    broken = target(provider, SECRET_URL.replace("https://", "https//"))
    with pytest.raises(PayloadError) as raised:
        builder(provider)(ERROR, broken)
    assert "s3cr3t" not in str(raised.value)
    assert "spec.address" in str(raised.value)
