"""Webhook, incident and commit-status payloads, byte for byte as Flux's notification-controller.

Each golden names the Flux file it was read from (fluxcd/notification-controller,
internal/notifier/ unless said otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

import pytest

from services.notify.notice import InvolvedObject, Notice, PayloadError, Request, Target
from services.notify.providers import builder
from services.notify.providers import pagerduty as pagerduty_module
from services.notify.providers.gitcommit import (
    commit_sha,
    describe,
    parse_repository,
    status_context,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "s3cr3t-t0ken-value"
PROVIDER_UID = "0c9c2e41-d2f9-4f9b-9c41-7b6c2ab2a41c"

NOTICE = Notice(
    involved_object=InvolvedObject(
        api_version="kustomize.toolkit.fluxcd.io/v1",
        kind="Kustomization",
        name="apps",
        namespace="flux-system",
        uid="4f1a8f3e-1111-2222-3333-444455556666",
    ),
    severity="info",
    timestamp="2026-12-07T10:00:00Z",
    message="Applied revision main@sha1:0123 <ok> & done",
    reason="ReconciliationSucceeded",
    metadata={"revision": f"main@sha1:{SHA}", "commit_status": "update"},
    reporting_controller="kustomize-controller",
)
ERROR = replace(
    NOTICE, severity="error", reason="HealthCheckFailed", message="timeout", metadata={}
)
ERROR_AT_COMMIT = replace(ERROR, metadata={"revision": f"main@sha1:{SHA}"})


def target(kind: str, address: str, **fields: Any) -> Target:
    values: dict[str, Any] = {"name": "hook", "namespace": "flux-system", "uid": PROVIDER_UID}
    values |= fields
    return Target(type=kind, address=address, **values)


def build(notice: Notice, provider: Target) -> Request:
    request = builder(provider.type)(notice, provider)
    assert request is not None
    return request


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- generic / generic-hmac: forwarder.go, client.go; the body is eventv1.Event as json.Marshal
# lays it out (fluxcd/pkg apis/event/v1beta1/event.go): field order, omitempty, sorted map,
# and Go's HTML escaping of < > &.

GENERIC_BODY = (
    b'{"involvedObject":{"kind":"Kustomization","namespace":"flux-system","name":"apps",'
    b'"uid":"4f1a8f3e-1111-2222-3333-444455556666","apiVersion":"kustomize.toolkit.fluxcd.io/v1"},'
    b'"severity":"info","timestamp":"2026-12-07T10:00:00Z",'
    b'"message":"Applied revision main@sha1:0123 \\u003cok\\u003e \\u0026 done",'
    b'"reason":"ReconciliationSucceeded",'
    b'"metadata":{"commit_status":"update","revision":"main@sha1:' + SHA.encode() + b'"},'
    b'"reportingController":"kustomize-controller"}'
)


def test_generic_posts_the_event_as_flux_marshals_it_with_the_secrets_headers() -> None:
    provider = target("generic", "https://hooks.example.com/flux?team=a", headers={"x-team": "a"})

    request = build(NOTICE, provider)

    assert (request.method, request.url) == ("POST", "https://hooks.example.com/flux?team=a")
    assert request.headers == (
        ("Content-Type", "application/json"),
        ("Gotk-Component", "kustomize-controller"),
        ("X-Team", "a"),
    )
    assert request.body == GENERIC_BODY


def test_generic_leaves_out_empty_fields_as_go_omitempty_does() -> None:
    bare = replace(
        NOTICE,
        involved_object=replace(NOTICE.involved_object, uid=""),
        metadata={},
        timestamp="2026-12-07T10:00:00.123456+01:00",
    )

    body = json.loads(build(bare, target("generic", "http://hooks.example.com/")).body)

    assert body["involvedObject"] == {
        "kind": "Kustomization",
        "namespace": "flux-system",
        "name": "apps",
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
    }
    assert "metadata" not in body and "reportingInstance" not in body
    assert body["timestamp"] == "2026-12-07T09:00:00Z"  # metav1.Time: UTC, seconds


def test_a_secret_header_replaces_the_default_of_the_same_name() -> None:
    provider = target("generic", "https://h.example.com", headers={"content-type": "text/plain"})

    headers = dict(build(NOTICE, provider).headers)

    assert headers["Content-Type"] == "text/plain"
    assert len(build(NOTICE, provider).headers) == 2


def test_generic_hmac_signs_the_exact_body_with_the_token() -> None:
    request = build(NOTICE, target("generic-hmac", "https://h.example.com/hook", token=TOKEN))

    headers = dict(request.headers)
    expected = hmac.new(TOKEN.encode(), request.body, hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == f"sha256={expected}"
    assert request.body == GENERIC_BODY
    assert list(headers)[-1] == "X-Signature"


# -- opsgenie.go: message Kind/name, alias = sha256(uid/kind/ns/name/reason), details =
# metadata + severity, GenieKey auth.


def test_opsgenie_alert_with_a_stable_alias_and_the_metadata_as_details() -> None:
    request = build(NOTICE, target("opsgenie", "https://api.opsgenie.com/v2/alerts", token=TOKEN))

    alias_key = f"{PROVIDER_UID}/Kustomization/flux-system/apps/ReconciliationSucceeded"
    alias = hashlib.sha256(alias_key.encode()).hexdigest()
    assert (request.method, request.url) == ("POST", "https://api.opsgenie.com/v2/alerts")
    assert request.headers == (
        ("Content-Type", "application/json"),
        ("Authorization", f"GenieKey {TOKEN}"),
    )
    assert request.body == (
        b'{"message":"Kustomization/apps","alias":"' + alias.encode() + b'",'
        b'"description":"Applied revision main@sha1:0123 \\u003cok\\u003e \\u0026 done",'
        b'"details":{"commit_status":"update","revision":"main@sha1:' + SHA.encode() + b'",'
        b'"severity":"info"}}'
    )


# -- pagerduty.go (go-pagerduty V2Event / ChangeEvent): routing key from spec.channel, only
# scheme://host of the address kept, trigger for errors, resolve otherwise.


def test_pagerduty_triggers_an_incident_for_an_error() -> None:
    provider = target("pagerduty", "https://events.pagerduty.com/ignored/path", channel="R0UT1NG")

    request = build(ERROR, provider)

    assert request.url == "https://events.pagerduty.com/v2/enqueue"
    assert request.headers == (("Content-Type", "application/json"),)
    assert request.body == (
        b'{"routing_key":"R0UT1NG","event_action":"trigger",'
        b'"dedup_key":"4f1a8f3e-1111-2222-3333-444455556666",'
        b'"payload":{"summary":"health check failed: kustomization/apps",'
        b'"source":"Flux kustomize-controller","severity":"error",'
        b'"timestamp":"2026-12-07T10:00:00Z","component":"apps","group":"Kustomization",'
        b'"custom_details":{"message":"timeout","metadata":null}}}'
    )


def test_pagerduty_resolves_on_success_and_sends_a_change_event() -> None:
    provider = target("pagerduty", "https://events.pagerduty.com", channel="R0UT1NG")

    resolve = build(NOTICE, provider)
    change = pagerduty_module.build_change(NOTICE, provider)

    assert resolve.body == (
        b'{"routing_key":"R0UT1NG","event_action":"resolve",'
        b'"dedup_key":"4f1a8f3e-1111-2222-3333-444455556666"}'
    )
    assert change is not None
    assert change.url == "https://events.pagerduty.com/v2/change/enqueue"
    assert json.loads(change.body) == {
        "routing_key": "R0UT1NG",
        "payload": {
            "summary": "reconciliation succeeded: kustomization/apps",
            "source": "Flux kustomize-controller",
            "timestamp": "2026-12-07T10:00:00Z",
            "custom_details": {
                "message": NOTICE.message,
                "metadata": {"commit_status": "update", "revision": f"main@sha1:{SHA}"},
            },
        },
    }
    assert pagerduty_module.build_change(ERROR, provider) is None


def test_pagerduty_skips_progressing_events() -> None:
    provider = target("pagerduty", "https://events.pagerduty.com", channel="R0UT1NG")
    progressing = replace(NOTICE, reason="Progressing")

    assert builder("pagerduty")(progressing, provider) is None
    assert pagerduty_module.build_change(progressing, provider) is None


# -- alertmanager.go: a one-alert array; summary moves from labels to annotations; endsAt is
# Go's zero time (omitempty does not omit a struct); Basic auth wins over Bearer.


def test_alertmanager_fires_one_alert_with_labels_and_annotations() -> None:
    notice = replace(ERROR, metadata={"summary": "prod cluster", "env": "prod"})
    provider = target("alertmanager", "https://am.example.com/api/v2/alerts", token=TOKEN)

    request = build(notice, provider)

    assert request.url == "https://am.example.com/api/v2/alerts"
    assert request.headers == (
        ("Content-Type", "application/json"),
        ("Authorization", f"Bearer {TOKEN}"),
    )
    assert request.body == (
        b'[{"status":"firing","labels":{"alertname":"FluxKustomizationHealthcheckfailed",'
        b'"env":"prod","kind":"Kustomization","name":"apps","namespace":"flux-system",'
        b'"reason":"HealthCheckFailed","reportingcontroller":"kustomize-controller",'
        b'"severity":"error"},"annotations":{"message":"timeout","summary":"prod cluster"},'
        b'"startsAt":"2026-12-07T10:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]'
    )


def test_alertmanager_uses_basic_auth_when_the_secret_has_username_and_password() -> None:
    provider = target(
        "alertmanager", "https://am.example.com", token=TOKEN, username="am", password="pw"
    )

    assert dict(build(NOTICE, provider).headers)["Authorization"] == basic("am", "pw")
    no_auth = target("alertmanager", "https://am.example.com")
    assert "Authorization" not in dict(build(NOTICE, no_auth).headers)


# -- grafana.go: Graphite annotation; when in Unix seconds; tags flux, controller, metadata
# with ':' -> '|', kind, name, namespace; Bearer, else Basic.


def test_grafana_annotation_with_tags() -> None:
    provider = target(
        "grafana", "https://grafana.example.com/api/annotations/graphite", token=TOKEN
    )

    request = build(NOTICE, provider)

    assert request.headers == (
        ("Content-Type", "application/json"),
        ("Authorization", f"Bearer {TOKEN}"),
    )
    assert request.body == (
        b'{"when":1796637600,"text":"kustomization/apps.flux-system",'
        b'"tags":["flux","kustomize-controller","commit_status: update",'
        b'"revision: main@sha1|' + SHA.encode() + b'",'
        b'"kind: Kustomization","name: apps","namespace: flux-system"]}'
    )
    basic_only = target("grafana", "https://g.example.com", username="admin", password="pw")
    assert dict(build(NOTICE, basic_only).headers)["Authorization"] == basic("admin", "pw")


# -- Commit statuses: github.go, github_helpers.go, gitlab.go, gitea.go, gitea_helpers.go,
# bitbucket.go, util.go (parseGitAddress, formatNameAndDescription, parseRevision), and
# internal/server/provider_commit_status.go (the default context, the commit_status filter).

CONTEXT = "kustomization/apps/0c9c2e41"
STATUS_CASES = [
    pytest.param(
        target("github", "https://github.com/org/repo", token=TOKEN),
        NOTICE,
        f"https://api.github.com/repos/org/repo/statuses/{SHA}",
        (
            ("Content-Type", "application/json"),
            ("Accept", "application/vnd.github.v3+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
            ("Authorization", f"Bearer {TOKEN}"),
        ),
        b'{"state":"success","description":"reconciliation succeeded","context":"'
        + CONTEXT.encode()
        + b'"}',
        id="github.com",
    ),
    pytest.param(
        target("github", "ssh://git@ghe.example.com:2222/org/repo.git", password=TOKEN),
        ERROR_AT_COMMIT,
        f"https://ghe.example.com/api/v3/repos/org/repo/statuses/{SHA}",
        (
            ("Content-Type", "application/json"),
            ("Accept", "application/vnd.github.v3+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
            ("Authorization", f"Bearer {TOKEN}"),
        ),
        b'{"state":"failure","description":"health check failed","context":"'
        + CONTEXT.encode()
        + b'"}',
        id="github-enterprise-ssh-error",
    ),
    pytest.param(
        target("gitlab", "https://gitlab.example.com/group/sub.team/project.git", token=TOKEN),
        NOTICE,
        f"https://gitlab.example.com/api/v4/projects/group%2Fsub%2Eteam%2Fproject/statuses/{SHA}",
        (("Content-Type", "application/json"), ("PRIVATE-TOKEN", TOKEN)),
        b'{"state":"success","name":"'
        + CONTEXT.encode()
        + b'","description":"reconciliation succeeded"}',
        id="gitlab-nested-group",
    ),
    pytest.param(
        target("gitlab", "git@gitlab.com:org/repo.git", password=TOKEN),
        ERROR_AT_COMMIT,
        f"https://gitlab.com/api/v4/projects/org%2Frepo/statuses/{SHA}",
        (("Content-Type", "application/json"), ("PRIVATE-TOKEN", TOKEN)),
        b'{"state":"failed","name":"'
        + CONTEXT.encode()
        + b'","description":"health check failed"}',
        id="gitlab-scp-error",
    ),
    pytest.param(
        target("gitea", "http://gitea.example.com:3000/org/repo", token=TOKEN),
        NOTICE,
        f"http://gitea.example.com:3000/api/v1/repos/org/repo/statuses/{SHA}",
        (("Content-Type", "application/json"), ("Authorization", f"token {TOKEN}")),
        b'{"state":"success","target_url":"","description":"reconciliation succeeded",'
        b'"context":"' + CONTEXT.encode() + b'"}',
        id="gitea",
    ),
    pytest.param(
        target("gitea", "https://gitea.example.com/org/repo", token=TOKEN),
        replace(NOTICE, reason="Progressing"),
        f"https://gitea.example.com/api/v1/repos/org/repo/statuses/{SHA}",
        (("Content-Type", "application/json"), ("Authorization", f"token {TOKEN}")),
        b'{"state":"pending","target_url":"","description":"progressing",'
        b'"context":"' + CONTEXT.encode() + b'"}',
        id="gitea-progressing-pending",
    ),
    pytest.param(
        target("bitbucket", "https://bitbucket.org/org/repo.git", token="bob:app-pass"),
        ERROR_AT_COMMIT,
        f"https://api.bitbucket.org/2.0/repositories/org/repo/commit/{SHA}/statuses/build",
        (("Content-Type", "application/json"), ("Authorization", basic("bob", "app-pass"))),
        b'{"key":"'
        + hashlib.sha1(CONTEXT.encode()).hexdigest().encode()
        + b'","url":"https://bitbucket.org","state":"FAILED","name":"kustomization/apps",'
        b'"description":"health check failed"}',
        id="bitbucket",
    ),
]


@pytest.mark.parametrize(("provider", "notice", "url", "headers", "body"), STATUS_CASES)
def test_commit_status_request(
    provider: Target, notice: Notice, url: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> None:
    request = build(notice, provider)

    assert (request.method, request.url) == ("POST", url)
    assert request.headers == headers
    assert request.body == body


GIT_PROVIDERS = [
    target("github", "https://github.com/org/repo", token=TOKEN),
    target("gitlab", "https://gitlab.com/org/repo", token=TOKEN),
    target("gitea", "https://gitea.example.com/org/repo", token=TOKEN),
    target("bitbucket", "https://bitbucket.org/org/repo", token="u:p"),
]


@pytest.mark.parametrize("provider", GIT_PROVIDERS, ids=lambda t: t.type)
@pytest.mark.parametrize(
    "notice",
    [
        pytest.param(replace(NOTICE, metadata={"revision": f"main@sha1:{SHA}"}), id="no-marker"),
        pytest.param(replace(NOTICE, metadata={"commit_status": "update"}), id="no-revision"),
        pytest.param(replace(ERROR, metadata={"revision": "latest@sha256:" + "a" * 64}), id="oci"),
    ],
)
def test_no_commit_status_without_the_marker_or_a_commit(provider: Target, notice: Notice) -> None:
    assert builder(provider.type)(notice, provider) is None


@pytest.mark.parametrize("provider", GIT_PROVIDERS[:2] + GIT_PROVIDERS[3:], ids=lambda t: t.type)
def test_progressing_events_set_no_status_but_on_gitea(provider: Target) -> None:
    assert builder(provider.type)(replace(NOTICE, reason="Progressing"), provider) is None


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"revision": f"main@sha1:{SHA}"}, SHA),
        ({"revision": f"feature/x@sha1:{SHA}"}, SHA),
        ({"revision": f"sha1:{SHA}"}, SHA),
        ({"revision": f"main/{SHA}"}, SHA),  # before Flux 2.0
        ({"revision": f"feature/x/{SHA}"}, SHA),
        ({"revision": SHA}, SHA),
        ({"revision": "main@sha1:" + "b" * 40, "originRevision": f"main@sha1:{SHA}"}, SHA),
        ({"revision": "main@sha1:abc123"}, None),
        ({"revision": "v1.0.0@sha256:" + "c" * 64}, None),
        ({}, None),
    ],
)
def test_the_commit_comes_from_the_revision(metadata: dict[str, str], expected: str | None) -> None:
    assert commit_sha(replace(NOTICE, metadata=metadata)) == expected


@pytest.mark.parametrize(
    ("address", "segments", "base", "path"),
    [
        ("https://github.com/org/repo", 2, "https://github.com", "org/repo"),
        ("https://github.com/org/repo.git/", 2, "https://github.com", "org/repo"),
        (
            "https://user:pw@ghe.example.com:8443/org/repo",
            2,
            "https://ghe.example.com:8443",
            "org/repo",
        ),
        ("ssh://git@github.com/org/repo.git", 2, "https://github.com", "org/repo"),
        ("git@github.com:org/repo.git", 2, "https://github.com", "org/repo"),
        ("http://gitlab.local/a/b/c", None, "http://gitlab.local", "a/b/c"),
    ],
)
def test_the_repository_comes_from_the_provider_address(
    address: str, segments: int | None, base: str, path: str
) -> None:
    repository = parse_repository(address, segments=segments)
    assert (repository.base, repository.path) == (base, path)


@pytest.mark.parametrize(
    "provider",
    [
        target("github", "https://github.com/only-org", token=TOKEN),
        target("github", "https://github.com/org/repo/tree/main", token=TOKEN),
        target("gitea", "not a url", token=TOKEN),
        target("bitbucket", "ftp://bitbucket.org/org/repo", token="u:p"),
        target("gitlab", "https://gitlab.com", token=TOKEN),
        target("github", "", token=TOKEN),
    ],
    ids=lambda t: f"{t.type}:{t.address}",
)
def test_an_address_that_is_not_a_repository_names_spec_address(provider: Target) -> None:
    with pytest.raises(PayloadError, match=r"^spec\.address"):
        builder(provider.type)(NOTICE, provider)


@pytest.mark.parametrize(
    ("provider", "says"),
    [
        (target("github", "https://github.com/org/repo"), "'token'"),
        (target("gitlab", "https://gitlab.com/org/repo"), "'token'"),
        (target("gitea", "https://gitea.example.com/org/repo"), "'token'"),
        (target("bitbucket", "https://bitbucket.org/org/repo", token=TOKEN), "<username>"),
        (target("bitbucket", "https://bitbucket.org/o/r", token=f"a:{TOKEN}:b"), "<username>"),
        (target("generic-hmac", "https://h.example.com"), "'token'"),
        (target("opsgenie", "https://api.opsgenie.com/v2/alerts"), "'token'"),
        (target("pagerduty", "https://events.pagerduty.com"), "spec.channel"),
        (target("generic", f"https://{TOKEN}@"), "spec.address"),
        (target("alertmanager", f"hooks.example.com/{TOKEN}"), "spec.address"),
    ],
    ids=lambda value: value.type if isinstance(value, Target) else None,
)
def test_a_setting_that_cannot_work_is_named_without_the_secret(
    provider: Target, says: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        builder(provider.type)(ERROR_AT_COMMIT, provider)
    assert says in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert provider.address == "" or provider.address not in str(caught.value)


def test_the_context_is_the_commit_status_expression_when_set() -> None:
    expr = (
        "(event.involvedObject.kind + '/' + event.involvedObject.name + '/'"
        " + event.metadata.revision.split('@')[0] + '/' + provider.metadata.name).lowerAscii()"
    )
    provider = target("github", "https://github.com/org/repo", token=TOKEN, commit_status_expr=expr)

    body = json.loads(build(NOTICE, provider).body)

    assert body["context"] == "kustomization/apps/main/hook"
    alert = {"metadata": {"name": "on-commit"}}
    with_alert = replace(provider, commit_status_expr="'flux/' + alert.metadata.name")
    assert status_context(NOTICE, with_alert, alert=alert) == "flux/on-commit"


@pytest.mark.parametrize(
    "expr",
    ["event.metadata.revision", "'x' + event.metadata.missing", "nope.field + 'x'"],
)
def test_an_expression_that_gives_no_context_names_spec_commit_status_expr(expr: str) -> None:
    provider = target("gitlab", "https://gitlab.com/o/r", token=TOKEN, commit_status_expr=expr)

    with pytest.raises(PayloadError, match=r"^spec\.commitStatusExpr"):
        build(NOTICE, provider)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("ReconciliationSucceeded", "reconciliation succeeded"),
        ("HealthCheckFailed", "health check failed"),
        ("PDFLoader", "pdf loader"),
        ("DependencyNotReady", "dependency not ready"),
        ("Progressing", "progressing"),
        ("BuildFailed2", "build failed 2"),
    ],
)
def test_the_description_is_the_reason_in_lower_case_words(reason: str, expected: str) -> None:
    assert describe(replace(NOTICE, reason=reason)) == expected


HOOK_TYPES = (
    *("generic", "generic-hmac", "opsgenie", "pagerduty", "alertmanager", "grafana"),
    *("github", "gitlab", "gitea", "bitbucket"),
)


@pytest.mark.parametrize("kind", HOOK_TYPES)
def test_every_hook_type_has_its_builder_in_the_registry(kind: str) -> None:
    assert callable(builder(kind))
