"""The OCI client against a registry that misbehaves: bounded in time and in memory.

A source pulls from registries it does not control; one that never stops
paging, answers with huge bodies or drips a blob must cost a reconcile its
timeout and a few MiB, never a worker thread forever or its memory.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.source.helm.chartbuild import ChartBuildError
from services.source.helm.chartremote import pull_chart
from services.source.helm.helmauth import RepositoryAuth
from shared.oci import RegistryClient, RegistryCredentials, RegistryError, parse_repository_url
from shared.oci.errors import OciError
from shared.oci.manifest import Descriptor
from tests.servers.hostileregistry import HostileRegistry

HUGE = 256 << 20


@pytest.fixture
def registry() -> Iterator[HostileRegistry]:
    server = HostileRegistry()
    server.start()
    yield server
    server.stop()


def client(registry: HostileRegistry, *, within: float = 30.0) -> RegistryClient:
    return RegistryClient(
        parse_repository_url(f"oci://{registry.host}/app"),
        timeout=10.0,
        deadline=time.monotonic() + within,
    )


def peak_bytes_of(call: object) -> tuple[int, BaseException | None]:
    """Run ``call``; the peak of Python memory it allocated, and what it raised."""
    tracemalloc.start()
    raised: BaseException | None = None
    try:
        call()  # type: ignore[operator]
    except OciError as err:
        raised = err
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, raised


def test_tag_pages_that_never_end_stop_at_the_deadline(registry: HostileRegistry) -> None:
    registry.endless_tag_pages = True
    started = time.monotonic()
    with client(registry, within=2.0) as oci, pytest.raises(RegistryError) as caught:
        oci.tags()
    assert time.monotonic() - started < 15
    assert "did not answer within the timeout" in str(caught.value)


def test_a_huge_tag_list_is_refused_without_reading_it(registry: HostileRegistry) -> None:
    registry.huge_body_bytes = HUGE
    with client(registry) as oci:
        peak, raised = peak_bytes_of(oci.tags)
    assert isinstance(raised, RegistryError)
    assert "larger than" in str(raised)
    assert peak < 64 << 20


def test_a_huge_error_body_is_not_read_whole(registry: HostileRegistry) -> None:
    registry.huge_body_bytes = HUGE
    with client(registry) as oci:
        peak, raised = peak_bytes_of(lambda: oci.manifest("missing"))
    assert raised is not None and "HTTP 404" in str(raised)
    assert peak < 4 << 20


def test_a_huge_token_answer_is_refused_without_reading_it(registry: HostileRegistry) -> None:
    registry.bearer = True
    registry.huge_body_bytes = HUGE
    with client(registry) as oci:
        peak, raised = peak_bytes_of(lambda: oci.manifest("v1"))
    assert isinstance(raised, RegistryError)
    assert "larger than" in str(raised)
    assert peak < 4 << 20


def test_a_dripping_blob_stops_at_the_deadline(registry: HostileRegistry, tmp_path: Path) -> None:
    # Every piece arrives well within the read timeout; the whole blob does not.
    registry.drip_seconds = 0.1
    with client(registry, within=1.5) as oci:
        layer = oci.manifest("v1").layers[0]
        started = time.monotonic()
        with pytest.raises(RegistryError) as caught:
            oci.fetch_blob(Descriptor(layer.media_type, layer.digest, layer.size), tmp_path / "l")
    assert time.monotonic() - started < 3
    assert "did not answer within the timeout" in str(caught.value)


def test_a_push_sends_no_credentials_to_an_upload_location_on_another_host(
    registry: HostileRegistry,
) -> None:
    # The registry sends the upload elsewhere (as to a storage host); the login is its own.
    elsewhere = HostileRegistry()
    elsewhere.start()
    try:
        registry.basic = True
        registry.upload_location = f"http://{elsewhere.host}/upload/1"
        with RegistryClient(
            parse_repository_url(f"oci://{registry.host}/app"),
            credentials=RegistryCredentials("pusher", "push-s3cret"),
            push=True,
        ) as oci:
            oci.push_blob(b"some content")
    finally:
        elsewhere.stop()
    assert [(m, p) for m, p, _ in elsewhere.seen] == [("PUT", "/upload/1")]
    assert elsewhere.seen[0][2] == ""
    assert any(auth.startswith("Basic ") for _, _, auth in registry.seen)


def test_a_chart_layer_larger_than_helm_allows_is_not_downloaded(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    # Helm's (and Flux's) limit for a chart is 10 MiB: a 64 MiB layer is refused
    # from its descriptor, and nothing of it reaches the disk.
    registry.chart_layer_bytes = 64 << 20
    auth = RepositoryAuth(url=f"oci://{registry.host}", insecure=True, timeout=30.0)
    with pytest.raises(ChartBuildError) as caught:
        pull_chart(
            auth.url,
            "app",
            version="1.0.0",
            dest=tmp_path / "pull",
            auth=auth,
        )
    assert caught.value.reason == "ChartPullError"
    assert "more than 10485760" in str(caught.value)
    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) == 0


def test_an_upload_that_cannot_be_sent_names_its_url_without_the_query(
    registry: HostileRegistry,
) -> None:
    # An upload URL's query is the registry's signed state (or a presigned
    # storage URL): a grant to write, not something to print in an error.
    registry.upload_location = "http://127.0.0.1:1/upload/1?_state=signed-upload-state"
    with (
        RegistryClient(parse_repository_url(f"oci://{registry.host}/app"), push=True) as oci,
        pytest.raises(RegistryError) as caught,
    ):
        oci.push_blob(b"some content")
    assert "http://127.0.0.1:1/upload/1" in str(caught.value)
    assert "signed-upload-state" not in str(caught.value)
