"""ImageRepository scans against a real registry: tags as Flux keeps them, auth, pages, costs.

Every registry here is Debian's docker-registry on loopback, open, behind
htpasswd (Basic), behind a token service (Bearer) or serving TLS with client
certificates. Tag lists of several pages go through ``TagPagingFront``,
which pages the real registry's answer as the distribution spec says
(docker-registry 2.8 does not page tags).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.image.imageconfig import NO_SUITABLE_MANIFEST
from services.image.names import parse_image
from services.image.registry import (
    AuthenticationFailedError,
    ReadOperationFailedError,
    RegistryAccess,
    RegistryRefusedError,
    access_from_secrets,
    image_info,
    scan_tags,
    tag_digest,
)
from services.image.tags import ExclusionList, tags_revision
from shared.oci import RegistryClient, RegistryCredentials, TlsMaterial, parse_reference
from shared.oci.logins import LoginCache
from shared.redisserver import free_port
from tests.servers.registry import OciRegistry
from tests.servers.registryauth import RegistryTls, TokenService
from tests.servers.tagpages import TagPagingFront
from tests.sources import dockerconfigjson

PASSWORD = "sc4n-s3cret-pw"
DEFAULT = ExclusionList.compile(None)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[OciRegistry]:
    server = OciRegistry(tmp_path / "registry", access_log=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[OciRegistry]:
    server = OciRegistry(tmp_path / "basic", username="robot", password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[OciRegistry, TokenService]]:
    tokens = TokenService(tmp_path / "token", username="robot", password=PASSWORD)
    tokens.start()
    server = OciRegistry(tmp_path / "token-registry", token=tokens, access_log=True)
    server.start()
    yield server, tokens
    server.stop()
    tokens.stop()


def _push(registry: OciRegistry, repo: str, tags: list[str]) -> None:
    for tag in tags:
        registry.push_image(repo, tag, files={"tag.txt": tag.encode()})


def _secret_access(registry: OciRegistry, image: str, password: str = PASSWORD) -> RegistryAccess:
    return access_from_secrets(
        parse_image(image),
        pull_secrets={"regcred": dockerconfigjson(registry.host, "robot", password)},
        timeout=20,
    )


def test_a_scan_keeps_tags_as_flux_with_its_status_values(registry: OciRegistry) -> None:
    tags = [f"1.0.{n}" for n in range(12)] + ["latest", "sha256-abc.sig"]
    _push(registry, "team/app", tags)
    image = parse_image(f"{registry.host}/team/app")

    result = scan_tags(image, access=RegistryAccess(timeout=20), exclusions=DEFAULT)

    kept = ["latest", "1.0.9", "1.0.8", "1.0.7", "1.0.6", "1.0.5", "1.0.4", "1.0.3", "1.0.2",
            "1.0.11", "1.0.10", "1.0.1", "1.0.0"]  # fmt: skip
    assert result.canonical_image_name == f"{registry.host}/team/app"
    assert result.tags == tuple(kept)
    assert result.tag_count == 13
    assert result.latest_tags == tuple(kept[:10])
    assert result.revision == tags_revision(kept)
    assert result.exclusion_list == ("^.*\\.sig$",)
    assert not result.unchanged


def test_an_exclusion_list_replaces_the_default(registry: OciRegistry) -> None:
    _push(registry, "app", ["1.0.0", "1.0.0.sig", "dev-abc"])
    result = scan_tags(
        parse_image(f"{registry.host}/app"),
        access=RegistryAccess(timeout=20),
        exclusions=ExclusionList.compile(["^dev-"]),
    )
    assert result.tags == ("1.0.0.sig", "1.0.0")


def test_more_tags_than_one_page_are_all_listed(registry: OciRegistry) -> None:
    tags = [f"v{n:02d}" for n in range(23)]
    _push(registry, "app", tags)
    front = TagPagingFront(registry.url)
    front.start()
    try:
        result = scan_tags(
            parse_image(f"{front.host}/app"),
            access=RegistryAccess(timeout=20),
            exclusions=DEFAULT,
            page_size=10,
            logins=None,
        )
    finally:
        front.stop()
    assert result.pages == 3
    assert front.count("GET", "/tags/list") == 3
    assert result.tags == tuple(sorted(tags, reverse=True))


def test_basic_auth_from_a_dockerconfigjson_secret(basic_registry: OciRegistry) -> None:
    _push(basic_registry, "private/app", ["2.0.0", "1.0.0"])
    image = f"{basic_registry.host}/private/app"

    result = scan_tags(
        parse_image(image), access=_secret_access(basic_registry, image), exclusions=DEFAULT
    )
    assert result.tags == ("2.0.0", "1.0.0")

    with pytest.raises(RegistryRefusedError) as wrong:
        scan_tags(
            parse_image(image),
            access=_secret_access(basic_registry, image, "wrong-pass"),
            exclusions=DEFAULT,
        )
    assert (wrong.value.reason, wrong.value.status) == ("ReadOperationFailed", 401)
    assert image in str(wrong.value) and "wrong-pass" not in str(wrong.value)

    with pytest.raises(RegistryRefusedError) as anonymous:
        scan_tags(parse_image(image), access=RegistryAccess(timeout=20), exclusions=DEFAULT)
    assert anonymous.value.status == 401
    assert "no credentials were given" in str(anonymous.value)


def test_bearer_tokens_and_a_refused_login(
    token_registry: tuple[OciRegistry, TokenService],
) -> None:
    registry, _ = token_registry
    _push_with_token(registry, "org/app", ["1.1.0", "1.0.0"])
    image = f"{registry.host}/org/app"

    result = scan_tags(
        parse_image(image),
        access=_secret_access(registry, image),
        exclusions=DEFAULT,
        logins=LoginCache(),
    )
    assert result.tags == ("1.1.0", "1.0.0")

    with pytest.raises(RegistryRefusedError) as refused:
        scan_tags(
            parse_image(image),
            access=_secret_access(registry, image, "not-it"),
            exclusions=DEFAULT,
            logins=LoginCache(),
        )
    assert refused.value.status == 401
    assert "refused the credentials" in str(refused.value)
    assert "not-it" not in str(refused.value) and PASSWORD not in str(refused.value)


def _push_with_token(registry: OciRegistry, repo: str, tags: list[str]) -> None:
    """Push through sluice's client: the fixture's own pusher speaks Basic only."""
    ref = parse_reference(f"{registry.host}/{repo}")
    with RegistryClient(ref, credentials=RegistryCredentials("robot", PASSWORD), push=True) as c:
        config = c.push_blob(b"{}")
        for tag in tags:
            layer = c.push_blob(tag.encode())
            manifest = (
                '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
                f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json",'
                f'"digest":"{config.digest}","size":2}},'
                f'"layers":[{{"mediaType":"application/octet-stream","digest":"{layer.digest}",'
                f'"size":{layer.size}}}]}}'
            ).encode()
            c.push_manifest(tag, manifest, media_type="application/vnd.oci.image.manifest.v1+json")


def test_an_unchanged_scan_costs_one_request_and_no_token(
    token_registry: tuple[OciRegistry, TokenService],
) -> None:
    registry, tokens = token_registry
    _push_with_token(registry, "org/app", ["1.0.0"])
    image = parse_image(f"{registry.host}/org/app")
    access = _secret_access(registry, image.canonical)
    logins = LoginCache()

    first = scan_tags(image, access=access, exclusions=DEFAULT, logins=logins)
    issued, requests = tokens.issued, registry.requests("GET", "/v2/")
    second = scan_tags(
        image, access=access, exclusions=DEFAULT, previous=first.memo(), logins=logins
    )

    assert second.unchanged and second.revision == first.revision
    assert registry.requests("GET", "/v2/") - requests == 1
    assert tokens.issued == issued

    _push_with_token(registry, "org/app", ["1.1.0"])
    third = scan_tags(
        image, access=access, exclusions=DEFAULT, previous=second.memo(), logins=logins
    )
    assert not third.unchanged and third.tags == ("1.1.0", "1.0.0")
    assert third.revision != first.revision

    changed = ExclusionList.compile(["^1\\.1"])
    fourth = scan_tags(
        image, access=access, exclusions=changed, previous=third.memo(), logins=logins
    )
    assert not fourth.unchanged and fourth.tags == ("1.0.0",)


def test_a_registry_etag_makes_an_unchanged_scan_read_nothing(registry: OciRegistry) -> None:
    _push(registry, "app", ["1.0.0", "1.1.0"])
    front = TagPagingFront(registry.url, etag=True)
    front.start()
    try:
        image = parse_image(f"{front.host}/app")
        access = RegistryAccess(timeout=20)
        first = scan_tags(image, access=access, exclusions=DEFAULT)
        second = scan_tags(image, access=access, exclusions=DEFAULT, previous=first.memo())
        _push(registry, "app", ["1.2.0"])
        third = scan_tags(image, access=access, exclusions=DEFAULT, previous=second.memo())
    finally:
        front.stop()
    assert first.etag
    assert second.unchanged and second.tags is None
    assert (second.tag_count, second.latest_tags) == (2, ("1.1.0", "1.0.0"))
    assert front.count("GET", "/tags/list") == 3
    assert not third.unchanged and third.tags == ("1.2.0", "1.1.0", "1.0.0")


def test_tls_with_a_ca_and_client_certificate_from_cert_secret_ref(tmp_path: Path) -> None:
    tls = RegistryTls.create(tmp_path / "tls")
    registry = OciRegistry(tmp_path / "tls-registry", tls=tls)
    registry.start()
    try:
        client_pair = {"tls.crt": tls.read("client.crt"), "tls.key": tls.read("client.key")}
        material = TlsMaterial(ca_cert=tls.read("ca.crt"), **_pair(client_pair))
        with RegistryClient(
            parse_reference(f"{registry.host}/app"), tls=material, push=True
        ) as client:
            client.push_manifest("1.0.0", _empty_manifest(client), media_type=_OCI_MANIFEST)
        image = parse_image(f"{registry.host}/app")
        access = access_from_secrets(
            image, cert_secret={"ca.crt": tls.read("ca.crt"), **client_pair}, timeout=20
        )
        assert scan_tags(image, access=access, exclusions=DEFAULT).tags == ("1.0.0",)

        without_client = access_from_secrets(
            image, cert_secret={"ca.crt": tls.read("ca.crt")}, timeout=20
        )
        with pytest.raises(ReadOperationFailedError) as refused:
            scan_tags(image, access=without_client, exclusions=DEFAULT, logins=None)
        assert image.canonical in str(refused.value)

        with pytest.raises(ReadOperationFailedError) as untrusted:
            scan_tags(image, access=RegistryAccess(timeout=20), exclusions=DEFAULT, logins=None)
        assert "CERTIFICATE" in str(untrusted.value).upper()
    finally:
        registry.stop()


_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _pair(data: dict[str, bytes]) -> dict[str, bytes]:
    return {"client_cert": data["tls.crt"], "client_key": data["tls.key"]}


def _empty_manifest(client: object) -> bytes:
    config = client.push_blob(b"{}")  # type: ignore[attr-defined]
    return (
        '{"schemaVersion":2,"mediaType":"' + _OCI_MANIFEST + '",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        f'"digest":"{config.digest}","size":2}},"layers":[]}}'
    ).encode()


def test_unreadable_secrets_are_authentication_failures_without_their_content(
    registry: OciRegistry,
) -> None:
    image = parse_image(f"{registry.host}/app")
    with pytest.raises(AuthenticationFailedError) as bad_json:
        access_from_secrets(
            image, pull_secrets={"regcred": {".dockerconfigjson": b"{" + PASSWORD.encode()}}
        )
    assert bad_json.value.reason == "AuthenticationFailed"
    assert "Secret regcred" in str(bad_json.value)
    assert PASSWORD not in str(bad_json.value)
    with pytest.raises(AuthenticationFailedError):
        access_from_secrets(image, cert_secret={"tls.crt": b"not pem", "tls.key": b"x"})


def test_a_missing_repository_and_a_registry_down_are_read_failures(
    registry: OciRegistry,
) -> None:
    with pytest.raises(ReadOperationFailedError) as missing:
        scan_tags(
            parse_image(f"{registry.host}/nothing/here"),
            access=RegistryAccess(timeout=20),
            exclusions=DEFAULT,
        )
    assert (missing.value.reason, missing.value.status) == ("ReadOperationFailed", 404)
    assert f"{registry.host}/nothing/here" in str(missing.value)

    down = parse_image(f"127.0.0.1:{free_port()}/app")
    with pytest.raises(ReadOperationFailedError) as unreachable:
        scan_tags(down, access=RegistryAccess(timeout=5), exclusions=DEFAULT)
    assert unreachable.value.status is None
    assert down.canonical in str(unreachable.value)


def test_the_digest_of_a_tag_is_the_registrys(registry: OciRegistry) -> None:
    digest = registry.push_image("app", "1.0.0")
    image = parse_image(f"{registry.host}/app")
    assert tag_digest(image, "1.0.0", access=RegistryAccess(timeout=20)) == digest
    with pytest.raises(ReadOperationFailedError) as missing:
        tag_digest(image, "9.9.9", access=RegistryAccess(timeout=20))
    assert missing.value.status == 404


def test_image_info_reads_created_and_labels_and_an_index_as_fluxd(
    registry: OciRegistry,
) -> None:
    labels = {"org.opencontainers.image.created": "2024-03-01T08:00:00Z"}
    amd64 = registry.push_image(
        "app",
        "amd64-only",
        files={"a": b"amd64"},
        config={
            "created": "2024-02-01T10:20:30.123456789Z",
            "container_config": {"Labels": labels},
        },
    )
    arm64 = registry.push_image(
        "app", "arm64-only", files={"a": b"arm64"}, config={"created": "2025-01-01T00:00:00Z"}
    )
    index = registry.push_index(
        "app", "1.0.0", [(arm64, "linux", "arm64"), (amd64, "linux", "amd64")]
    )
    registry.push_index("app", "arm-only", [(arm64, "linux", "arm64")])
    image = parse_image(f"{registry.host}/app")
    access = RegistryAccess(timeout=20)

    plain = image_info(image, "arm64-only", access=access)
    assert plain.config.created == datetime(2025, 1, 1, tzinfo=UTC)
    assert plain.config.label_created is None and plain.digest == arm64

    listed = image_info(image, "1.0.0", access=access)
    assert listed.digest == index
    assert listed.config.created == datetime(2024, 2, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert listed.config.label_created == datetime(2024, 3, 1, 8, tzinfo=UTC)

    no_amd64 = image_info(image, "arm-only", access=access)
    assert no_amd64.excluded == NO_SUITABLE_MANIFEST and no_amd64.config.created is None


def test_secrets_are_never_in_errors_or_logs(
    basic_registry: OciRegistry,
    token_registry: tuple[OciRegistry, TokenService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    registry, _ = token_registry
    _push_with_token(registry, "org/app", ["1.0.0"])
    _push(basic_registry, "app", ["1.0.0"])
    basic_image = f"{basic_registry.host}/app"
    token_image = f"{registry.host}/org/app"
    logins = LoginCache()
    messages: list[str] = []
    for image, reg in ((basic_image, basic_registry), (token_image, registry)):
        scan_tags(
            parse_image(image),
            access=_secret_access(reg, image),
            exclusions=DEFAULT,
            logins=logins,
        )
        tag_digest(parse_image(image), "1.0.0", access=_secret_access(reg, image), logins=logins)
        for password in ("wrong-one", PASSWORD):
            try:
                scan_tags(
                    parse_image(image + "/missing"),
                    access=_secret_access(reg, image, password),
                    exclusions=DEFAULT,
                    logins=logins,
                )
            except ReadOperationFailedError as err:
                messages += [str(err), repr(err), str(err.__cause__)]
    assert len(messages) == 12
    shown = "\n".join(messages) + caplog.text + repr(logins)
    for secret in (PASSWORD, "wrong-one", base64.b64encode(f"robot:{PASSWORD}".encode()).decode()):
        assert secret not in shown
    assert "eyJ" not in shown  # no bearer token (a JWT) either


def test_the_timeout_bounds_a_scan_of_a_slow_registry(registry: OciRegistry) -> None:
    _push(registry, "app", ["1.0.0"])
    front = TagPagingFront(registry.url, delay_seconds=4)
    front.start()
    image = parse_image(f"{front.host}/app")
    try:
        started = time.monotonic()
        with pytest.raises(ReadOperationFailedError) as slow:
            scan_tags(
                image,
                access=RegistryAccess(timeout=1),
                exclusions=DEFAULT,
                logins=None,
            )
        elapsed = time.monotonic() - started
    finally:
        front.stop()
    assert elapsed < 3.5
    assert image.canonical in str(slow.value)


def test_a_next_page_on_another_host_is_refused(registry: OciRegistry) -> None:
    _push(registry, "app", ["1.0.0", "1.1.0", "1.2.0"])
    elsewhere = TagPagingFront(registry.url)
    elsewhere.start()
    front = TagPagingFront(registry.url, link_host=elsewhere.host)
    front.start()
    try:
        with pytest.raises(ReadOperationFailedError) as refused:
            scan_tags(
                parse_image(f"{front.host}/app"),
                access=RegistryAccess(timeout=20),
                exclusions=DEFAULT,
                page_size=2,
                logins=None,
            )
    finally:
        front.stop()
        elsewhere.stop()
    assert "another host" in str(refused.value)
    assert elsewhere.seen == []


def test_insecure_allows_http_but_still_verifies_certificates(tmp_path: Path) -> None:
    registry = OciRegistry(
        tmp_path / "tls", tls=RegistryTls.create(tmp_path / "ca", client_auth=False)
    )
    registry.start()
    try:
        with pytest.raises(ReadOperationFailedError) as untrusted:
            scan_tags(
                parse_image(f"{registry.host}/app", insecure=True),
                access=RegistryAccess(insecure=True, timeout=20),
                exclusions=DEFAULT,
                logins=None,
            )
    finally:
        registry.stop()
    assert "CERTIFICATE" in str(untrusted.value).upper()


def test_a_remembered_scheme_is_tried_first_not_alone(tmp_path: Path) -> None:
    plain = OciRegistry(tmp_path / "plain")
    plain.start()
    image = parse_image(f"{plain.host}/app")
    logins = LoginCache()
    try:
        _push(plain, "app", ["1.0.0"])
        scan_tags(image, access=RegistryAccess(timeout=20), exclusions=DEFAULT, logins=logins)
    finally:
        plain.stop()
    tls = RegistryTls.create(tmp_path / "ca", client_auth=False)
    moved = OciRegistry(tmp_path / "tls", tls=tls, port=plain.port)  # the same host, now TLS
    moved.start()
    try:
        with RegistryClient(
            parse_reference(f"{moved.host}/app"),
            tls=TlsMaterial(ca_cert=tls.read("ca.crt")),
            push=True,
        ) as client:
            client.push_manifest("2.0.0", _empty_manifest(client), media_type=_OCI_MANIFEST)
        access = access_from_secrets(image, cert_secret={"ca.crt": tls.read("ca.crt")}, timeout=20)
        result = scan_tags(image, access=access, exclusions=DEFAULT, logins=logins)
    finally:
        moved.stop()
    assert result.tags == ("2.0.0",)
