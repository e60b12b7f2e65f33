"""Alerts end to end: a running notify worker forwards events to real HTTP endpoints, as Flux does.

Events are published on the real bus, as the services publish them; the
endpoints are real servers on loopback (``tests.servers.sink``) that record
what arrives, one that answers errors, and one that never answers.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.api.conditions import get_condition
from shared.events import Event, EventBus
from shared.keys import ObjectKey
from tests.fixtures.gitops import NAMESPACE, GitOps, flux_yaml, secret_yaml, sluice
from tests.helpers import eventually
from tests.leaks import redis_bytes
from tests.servers.sink import HttpSink

GROUP = "notification.toolkit.fluxcd.io/v1beta3"
TOKEN = "hmac-key-4f2a9c"


def provider_yaml(name: str, address: str, *, type_: str = "generic", extra: str = "") -> str:
    spec = f"  type: {type_}\n  address: {address}\n{extra}"
    return flux_yaml("Provider", name, spec, api_version=GROUP)


def alert_yaml(name: str, provider: str, spec: str) -> str:
    return flux_yaml(
        "Alert", name, f"  providerRef:\n    name: {provider}\n{spec}", api_version=GROUP
    )


@pytest.fixture
def notify(gitops: GitOps) -> GitOps:
    # One thread: events are routed in the order they were published.
    gitops.start_worker("notify", concurrency=1)
    return gitops


def publish(gitops: GitOps, event: Event) -> None:
    EventBus(gitops.store_client, gitops.workers_app).publish(event)


def ks_event(name: str, message: str, *, severity: str = "error", **extra: Any) -> Event:
    return Event(
        type="reconcile-failed" if severity == "error" else "applied",
        object=ObjectKey("Kustomization", extra.pop("namespace", NAMESPACE), name),
        severity=severity,  # type: ignore[arg-type]
        reason="ReconciliationFailed" if severity == "error" else "ReconciliationSucceeded",
        message=message,
        **extra,
    )


def wait_condition(
    gitops: GitOps, kind: str, name: str, status: str, reason: str = ""
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        cond = get_condition(gitops.get(kind, name).get("status"), "Ready")
        if cond and cond["status"] == status and reason in cond["reason"]:
            return cond
        return None

    return eventually(check, timeout=60, interval=0.2)


def test_an_alert_forwards_exactly_the_events_it_should_signed(
    notify: GitOps, http_sink: HttpSink
) -> None:
    notify.apply(
        secret_yaml("hook-token", {"token": TOKEN})
        + provider_yaml(
            "hook",
            f"{http_sink.url}/alerts",
            type_="generic-hmac",
            extra="  secretRef:\n    name: hook-token\n",
        )
        + alert_yaml(
            "errors",
            "hook",
            "  eventSeverity: error\n"
            "  eventSources:\n  - kind: Kustomization\n    name: '*'\n"
            "  exclusionList:\n  - '^Dependencies do not meet'\n"
            "  summary: prod cluster\n",
        )
    )
    wait_condition(notify, "Provider", "hook", "True")
    wait_condition(notify, "Alert", "errors", "True")

    failed = ks_event("apps", "Deployment/default/web dry-run failed", revision="main@sha1:0a1b")
    for event in (
        ks_event("apps", "Applied revision main@sha1:0a1b", severity="info"),  # info: below error
        failed,
        ks_event("apps", "Dependencies do not meet ready condition"),  # excluded
        ks_event("apps", "dry-run failed", namespace="other"),  # another namespace
        Event(
            type="reconcile-failed",
            object=ObjectKey("GitRepository", NAMESPACE, "apps"),
            severity="error",
            reason="GitOperationFailed",
            message="auth failed",
        ),  # another kind
        ks_event(
            "apps", "Deployment/default/web dry-run failed", revision="main@sha1:0a1b"
        ),  # same
        ks_event("infra", "last one"),
    ):
        publish(notify, event)

    received = http_sink.wait_for(2, timeout=60)
    assert [r.json()["message"] for r in received] == [failed.message, "last one"]
    first = received[0]
    assert first.method == "POST" and first.path == "/alerts"
    assert first.header("content-type") == "application/json"
    assert first.header("gotk-component") == "kustomize-controller"
    expected = hmac.new(TOKEN.encode(), first.body, hashlib.sha256).hexdigest()
    assert first.header("x-signature") == f"sha256={expected}"
    payload = first.json()
    assert payload["involvedObject"]["kind"] == "Kustomization"
    assert payload["involvedObject"]["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert (payload["severity"], payload["reason"]) == ("error", "ReconciliationFailed")
    assert payload["metadata"] == {"revision": "main@sha1:0a1b", "summary": "prod cluster"}
    assert TOKEN not in notify.logs()
    assert TOKEN.encode() not in redis_bytes(notify.store_client)


class Silent:
    """A TCP server that accepts connections and never answers: a hung endpoint.

    It notes when each client gives up (closes its end), so a test can say
    what happened while a connection was still hanging.
    """

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.given_up: list[float] = []
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(conn)
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            return
        self.given_up.append(time.time())

    def close(self) -> None:
        self._socket.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def test_a_hung_or_failing_endpoint_delays_no_other_and_is_retried(
    gitops: GitOps, http_sink: HttpSink, silent: Silent
) -> None:
    gitops.start_worker("notify", concurrency=4)
    flaky = HttpSink()
    flaky.start()
    try:
        flaky.queue(500, 503)  # two failures, then the default 200
        every = "  eventSources:\n  - kind: Kustomization\n    name: '*'\n"
        gitops.apply(
            provider_yaml("hung", f"http://127.0.0.1:{silent.port}/", extra="  timeout: 10s\n")
            + provider_yaml("flaky", f"{flaky.url}/flaky")
            + provider_yaml("healthy", f"{http_sink.url}/healthy")
            + alert_yaml("to-hung", "hung", every)
            + alert_yaml("to-flaky", "flaky", every)
            + alert_yaml("to-healthy", "healthy", every)
        )
        for name in ("hung", "flaky", "healthy"):
            wait_condition(gitops, "Provider", name, "True")
        publish(gitops, ks_event("apps", "Health check failed"))

        # The healthy endpoint gets it before the hung one's first try gives up.
        arrived = http_sink.wait_for(1, timeout=60)
        assert arrived[0].json()["message"] == "Health check failed"
        eventually(lambda: silent.given_up, timeout=60)
        assert arrived[0].time < silent.given_up[0]

        # The failing one gets the same notice again until it takes it.
        tries = flaky.wait_for(3, timeout=60)
        assert [t.body for t in tries] == [tries[0].body] * 3
        wait_condition(gitops, "Provider", "flaky", "True")

        # The hung one is reported on its Provider and in the events, without its address.
        cond = wait_condition(gitops, "Provider", "hung", "False", "DeliveryFailed")
        assert "did not answer in time" in cond["message"]
        assert str(silent.port) not in cond["message"]
        events = sluice(gitops, "events", "--limit", "200").stdout
        assert "DeliveryFailed" in events and "Provider/flux-system/hung" in events
        assert str(silent.port) not in events
    finally:
        flaky.stop()


def test_a_suspended_alert_or_provider_sends_nothing(notify: GitOps, http_sink: HttpSink) -> None:
    every = "  eventSources:\n  - kind: Kustomization\n    name: '*'\n"
    notify.apply(
        provider_yaml("paused", f"{http_sink.url}/paused", extra="  suspend: true\n")
        + provider_yaml("live", f"{http_sink.url}/live")
        + alert_yaml("via-paused", "paused", every)
        + alert_yaml("quiet", "live", every + "  suspend: true\n")
        + alert_yaml("loud", "live", "  eventSources:\n  - kind: Kustomization\n    name: infra\n")
    )
    wait_condition(notify, "Alert", "loud", "True")
    publish(notify, ks_event("apps", "nobody hears this"))
    publish(notify, ks_event("infra", "heard"))
    received = http_sink.wait_for(1, timeout=60)
    assert [(r.path, r.json()["message"]) for r in received] == [("/live", "heard")]


def test_the_cli_lists_suspends_and_resumes_alerts(notify: GitOps, http_sink: HttpSink) -> None:
    notify.apply(
        provider_yaml("hook", f"{http_sink.url}/hook")
        + alert_yaml("apps", "hook", "  eventSources:\n  - kind: Kustomization\n    name: apps\n")
        + alert_yaml("infra", "hook", "  eventSources:\n  - kind: Kustomization\n    name: infra\n")
    )
    wait_condition(notify, "Alert", "apps", "True")
    wait_condition(notify, "Alert", "infra", "True")
    listed = sluice(notify, "get", "alerts", "-n", NAMESPACE)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    # NAME SUSPENDED READY MESSAGE, as `flux get alerts`
    assert [row[:3] for row in rows] == [["apps", "False", "True"], ["infra", "False", "True"]]
    providers = sluice(notify, "get", "alert-providers", "-n", NAMESPACE).stdout
    assert "hook" in providers and http_sink.url not in providers

    assert sluice(notify, "suspend", "alert", "apps", "-n", NAMESPACE).returncode == 0
    publish(notify, ks_event("apps", "while suspended"))
    publish(notify, ks_event("infra", "sentinel"))
    assert [r.json()["message"] for r in http_sink.wait_for(1, timeout=60)] == ["sentinel"]

    assert sluice(notify, "resume", "alert", "apps", "-n", NAMESPACE).returncode == 0
    publish(notify, ks_event("apps", "after resume"))
    received = http_sink.wait_for(2, timeout=60)
    assert [r.json()["message"] for r in received] == ["sentinel", "after resume"]


def test_chat_providers_post_what_flux_posts(notify: GitOps, http_sink: HttpSink) -> None:
    every = "  eventSources:\n  - kind: Kustomization\n    name: '*'\n"
    secret = "  secretRef:\n    name: chat-token\n"
    notify.apply(
        secret_yaml("chat-token", {"token": "xoxb-chat-secret"})
        + provider_yaml(
            "slack", f"{http_sink.url}/slack", type_="slack", extra="  channel: ops\n" + secret
        )
        + provider_yaml("teams", f"{http_sink.url}/teams", type_="msteams")
        + provider_yaml(
            "matrix",
            http_sink.url,
            type_="matrix",
            extra="  channel: '!room:example.org'\n" + secret,
        )
        + alert_yaml("to-slack", "slack", every)
        + alert_yaml("to-teams", "teams", every)
        + alert_yaml("to-matrix", "matrix", every)
    )
    for name in ("to-slack", "to-teams", "to-matrix"):
        wait_condition(notify, "Alert", name, "True")
    publish(
        notify,
        ks_event("apps", "Health check failed for Deployment/web", revision="main@sha1:0a1b"),
    )
    received = {r.path.split("/")[1]: r for r in http_sink.wait_for(3, timeout=60)}

    slack = received["slack"]
    assert slack.header("authorization") == "Bearer xoxb-chat-secret"
    attachment = slack.json()["attachments"][0]
    assert slack.json()["channel"] == "ops"
    assert attachment["color"] == "danger"
    assert attachment["author_name"] == "kustomization/apps.flux-system"
    assert attachment["text"] == "Health check failed for Deployment/web"

    teams = received["teams"].json()
    assert teams["type"] == "message"
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"

    matrix = received["_matrix"]
    assert matrix.method == "PUT"
    assert matrix.path.startswith("/_matrix/client/r0/rooms/!room:example.org/send/m.room.message/")
    assert matrix.header("authorization") == "Bearer xoxb-chat-secret"
    assert "Health check failed" in matrix.json()["body"]
    assert "xoxb-chat-secret" not in notify.logs()
