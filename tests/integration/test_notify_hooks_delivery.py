"""Built webhook and commit-status requests arrive over real HTTP(S) as built."""

from __future__ import annotations

import hashlib
import hmac
import ssl
from dataclasses import replace

import httpx

from services.notify.notice import InvolvedObject, Notice, Request, Target
from services.notify.providers import builder
from tests.fixtures.sink import MakeSink
from tests.servers.sink import HttpSink

SHA = "89abcdef0123456789abcdef0123456789abcdef"
KEY = "hmac-key-for-the-test"
NOTICE = Notice(
    involved_object=InvolvedObject(
        api_version="helm.toolkit.fluxcd.io/v2",
        kind="HelmRelease",
        name="podinfo",
        namespace="apps",
        uid="7d2c0c1e-0000-4000-8000-000000000001",
    ),
    severity="error",
    timestamp="2026-12-07T11:30:00Z",
    message="install retries exhausted",
    reason="InstallFailed",
    metadata={"revision": f"main@sha1:{SHA}", "summary": "staging"},
    reporting_controller="helm-controller",
)


def provider(kind: str, address: str, **fields: str) -> Target:
    return Target(
        type=kind, address=address, name="hooks", namespace="apps", uid="ab12cd34-9", **fields
    )


def send(request: Request, *, verify: ssl.SSLContext | bool = True) -> int:
    response = httpx.request(
        request.method,
        request.url,
        headers=list(request.headers),
        content=request.body,
        verify=verify,
        timeout=10,
    )
    return response.status_code


def test_webhook_and_commit_status_requests_arrive_as_built(http_sink: HttpSink) -> None:
    http_sink.respond("/api/v4/projects/platform%2Fapps/statuses/" + SHA, status=201)
    built = {
        "generic-hmac": builder("generic-hmac")(
            NOTICE, provider("generic-hmac", http_sink.url_for("/flux?cluster=a"), token=KEY)
        ),
        "alertmanager": builder("alertmanager")(
            NOTICE, provider("alertmanager", http_sink.url_for("/api/v2/alerts"), token="am-token")
        ),
        "gitlab": builder("gitlab")(
            NOTICE, provider("gitlab", http_sink.url_for("/platform/apps.git"), token="gl-token")
        ),
    }
    statuses = {}
    for kind, request in built.items():
        assert request is not None
        statuses[kind] = send(request)

    assert statuses == {"generic-hmac": 200, "alertmanager": 200, "gitlab": 201}
    [hook] = http_sink.wait_for(1, "/flux", timeout=10)
    assert (hook.method, hook.target) == ("POST", "/flux?cluster=a")
    assert hook.header("Gotk-Component") == "helm-controller"
    signature = hmac.new(KEY.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.header("X-Signature") == f"sha256={signature}"
    assert hook.json()["involvedObject"]["name"] == "podinfo"

    [alert] = http_sink.wait_for(1, "/api/v2/alerts", timeout=10)
    assert alert.header("Authorization") == "Bearer am-token"
    assert alert.json()[0]["annotations"] == {
        "message": "install retries exhausted",
        "summary": "staging",
    }

    [status] = http_sink.wait_for(1, f"/api/v4/projects/platform%2Fapps/statuses/{SHA}", timeout=10)
    assert status.header("PRIVATE-TOKEN") == "gl-token"
    assert status.json() == {
        "state": "failed",
        "name": "helmrelease/podinfo/ab12cd34",
        "description": "install failed",
    }


def test_a_commit_status_reaches_a_self_hosted_gitea_over_tls(make_http_sink: MakeSink) -> None:
    sink = make_http_sink(tls=True)
    notice = replace(NOTICE, severity="info", reason="UpgradeSucceeded")
    notice = replace(notice, metadata={**notice.metadata, "commit_status": "update"})
    request = builder("gitea")(notice, provider("gitea", sink.url_for("/org/podinfo"), token="tea"))
    assert request is not None

    assert send(request, verify=ssl.create_default_context(cadata=sink.ca_pem.decode())) == 200

    [status] = sink.wait_for(1, timeout=10)
    assert status.path == f"/api/v1/repos/org/podinfo/statuses/{SHA}"
    assert status.header("Authorization") == "token tea"
    assert status.json()["state"] == "success"
    assert status.json()["description"] == "upgrade succeeded"
