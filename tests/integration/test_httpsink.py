"""The HTTP sink of the notify tests: it records, answers per path, hangs, fails, speaks TLS."""

from __future__ import annotations

import ssl
import threading
import time

import httpx
import pytest

from tests.fixtures.sink import MakeSink
from tests.servers.sink import HttpSink, SinkResponse


def test_sink_records_method_path_query_headers_and_body(http_sink: HttpSink) -> None:
    before = time.time()
    response = httpx.post(
        http_sink.url_for("/hooks/generic?x=1"),
        json={"message": "Kustomization/apps reconciled"},
        headers={"X-Signature": "sha256=abc"},
    )
    httpx.put(http_sink.url_for("/other"), content=b"raw")

    assert response.status_code == 200
    [request] = http_sink.wait_for(1, "/hooks/generic", timeout=5)
    assert (request.method, request.path, request.query) == ("POST", "/hooks/generic", "x=1")
    assert request.target == "/hooks/generic?x=1"
    assert request.json() == {"message": "Kustomization/apps reconciled"}
    assert request.header("x-signature") == "sha256=abc"
    assert request.header("Content-Type") == "application/json"
    assert before <= request.time <= time.time()
    assert [r.body for r in http_sink.wait_for(2, timeout=5)] == [request.body, b"raw"]
    assert [r.method for r in http_sink.requests_for("/other")] == ["PUT"]


def test_a_path_fails_n_times_with_500_then_answers_its_status(http_sink: HttpSink) -> None:
    http_sink.respond("/flaky", fail_times=2)
    http_sink.respond("/gone", status=410)
    http_sink.respond(
        "/limited", status=202, fail_times=1, fail_status=429, headers={"Retry-After": "1"}
    )

    flaky = [httpx.post(http_sink.url_for("/flaky")).status_code for _ in range(4)]
    limited = [httpx.post(http_sink.url_for("/limited")) for _ in range(2)]

    assert flaky == [500, 500, 200, 200]
    assert httpx.post(http_sink.url_for("/gone")).status_code == 410
    assert httpx.post(http_sink.url_for("/anything-else")).status_code == 200
    assert [r.status_code for r in limited] == [429, 202]
    assert limited[0].headers["retry-after"] == "1"
    assert len(http_sink.requests_for("/flaky")) == 4


def test_queued_answers_come_first_then_the_path_rule_then_the_default(
    http_sink: HttpSink,
) -> None:
    http_sink.respond("/hook", status=202)
    http_sink.set_status(503)
    http_sink.queue(SinkResponse(429, headers={"Retry-After": "2"}))

    first = httpx.post(http_sink.url_for("/hook"))
    then = [httpx.post(http_sink.url_for(path)).status_code for path in ("/hook", "/other")]

    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert then == [202, 503]


def test_a_hanging_path_holds_its_request_without_blocking_others(http_sink: HttpSink) -> None:
    http_sink.respond("/slow", hang=3.0)
    answered: list[float] = []
    slow = threading.Thread(
        target=lambda: answered.append(_timed_post(http_sink.url_for("/slow"))), daemon=True
    )
    slow.start()

    http_sink.wait_for(1, "/slow", timeout=5)
    fast_seconds = _timed_post(http_sink.url_for("/fast"))
    slow.join(timeout=10)

    assert fast_seconds < 2.0
    assert answered and answered[0] >= 2.9


def test_a_client_timeout_on_a_hanging_path_is_a_timeout(http_sink: HttpSink) -> None:
    http_sink.respond("/slow", hang=5.0)

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(http_sink.url_for("/slow"), timeout=0.5)
    assert len(http_sink.wait_for(1, "/slow", timeout=5)) == 1


def test_wait_for_raises_timeout_error_when_too_few_arrive(http_sink: HttpSink) -> None:
    httpx.get(http_sink.url_for("/one"))

    with pytest.raises(TimeoutError, match="1 request"):
        http_sink.wait_for(2, timeout=0.2)
    http_sink.clear()
    assert http_sink.requests == []


def test_tls_sink_is_trusted_only_with_its_ca(make_http_sink: MakeSink) -> None:
    sink = make_http_sink(tls=True)
    assert sink.url_for("/x").startswith("https://127.0.0.1:")

    with pytest.raises(httpx.ConnectError):
        httpx.post(sink.url_for("/x"), content=b"untrusted")
    trusted = ssl.create_default_context(cadata=sink.ca_pem.decode())
    assert httpx.post(sink.url_for("/x"), content=b"hi", verify=trusted).status_code == 200

    [request] = sink.wait_for(1, timeout=5)
    assert (request.body, request.client_cn) == (b"hi", None)


def test_mtls_sink_requires_its_client_certificate(make_http_sink: MakeSink) -> None:
    sink = make_http_sink(tls=True, client_auth=True)
    no_cert = ssl.create_default_context(cadata=sink.ca_pem.decode())
    with_cert = ssl.create_default_context(cadata=sink.ca_pem.decode())
    with_cert.load_cert_chain(*sink.client_cert)

    with pytest.raises(httpx.HTTPError):
        httpx.post(sink.url_for("/x"), content=b"anonymous", verify=no_cert)
    assert httpx.post(sink.url_for("/x"), content=b"signed", verify=with_cert).status_code == 200

    [request] = sink.wait_for(1, timeout=5)
    assert (request.body, request.client_cn) == (b"signed", "sluice-test-client")


def _timed_post(url: str) -> float:
    start = time.monotonic()
    httpx.post(url, content=b"x", timeout=30)
    return time.monotonic() - start
