"""OCI names, credentials, challenges, tag choice and the OCIRepository model: pure tables."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from services.source.oci.ocirepository import pick_tag
from shared.api import OCIRepository, parse_object, validate
from shared.cli.oci import CREDS_ENV, cli_credentials
from shared.oci import (
    CredentialsError,
    InvalidReferenceError,
    LayerNotFoundError,
    Manifest,
    OciError,
    OciReference,
    credentials_from_dockerconfig,
    parse_reference,
    parse_repository_url,
    select_layer,
)
from shared.oci.auth import parse_challenge

DIGEST = "sha256:" + "ab" * 32
HELM = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci://ghcr.io/org/app:v1", OciReference("ghcr.io", "org/app", tag="v1")),
        ("oci://127.0.0.1:5000/app", OciReference("127.0.0.1:5000", "app")),
        (
            f"oci://localhost:5000/a/b@{DIGEST}",
            OciReference("localhost:5000", "a/b", digest=DIGEST),
        ),
        (
            "oci://docker.io/nginx:1.25",
            OciReference("index.docker.io", "library/nginx", tag="1.25"),
        ),
        ("oci://stefanprodan/podinfo", OciReference("index.docker.io", "stefanprodan/podinfo")),
        ("ghcr.io/org/app:1.0.0_1", OciReference("ghcr.io", "org/app", tag="1.0.0_1")),
    ],
)
def test_references_are_read_as_go_containerregistry_reads_them(
    text: str, expected: OciReference
) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("oci://user:pass@ghcr.io/org/app", "credentials in the reference"),
        ("oci://ghcr.io/Org/App", "invalid repository"),
        ("oci://ghcr.io/org/app@sha256:abc", "invalid digest"),
        ("https://ghcr.io/org/app", "invalid OCI reference"),
        ("oci://ghcr.io/", "missing the repository"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message) as caught:
        parse_reference(text)
    assert "pass@" not in str(caught.value)


def test_a_repository_url_has_no_tag_or_digest() -> None:
    with pytest.raises(InvalidReferenceError, match=r'remove ":v1" and use spec\.ref\.tag'):
        parse_repository_url("oci://ghcr.io/org/app:v1")
    with pytest.raises(InvalidReferenceError, match="starts with oci://"):
        parse_repository_url("ghcr.io/org/app")


@pytest.mark.parametrize(
    ("registry", "plain_http"),
    [("127.0.0.1:5000", True), ("localhost:5000", True), ("10.1.2.3", True),
     ("192.168.1.1:443", True), ("ghcr.io", False), ("8.8.8.8", False)],
)  # fmt: skip
def test_only_local_and_private_registries_may_fall_back_to_http(
    registry: str, plain_http: bool
) -> None:
    assert OciReference(registry, "app").plain_http_allowed is plain_http


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/nginx:pull"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/nginx:pull",
            },
        ),
        (
            "Bearer realm=http://t/token,service=reg",
            "bearer",
            {"realm": "http://t/token", "service": "reg"},
        ),
    ],
)
def test_challenges_are_parsed(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, dict(challenge.params)) == (scheme, params)


def _dockerconfig(auths: dict[str, Any]) -> dict[str, bytes]:
    return {".dockerconfigjson": json.dumps({"auths": auths}).encode()}


def test_dockerconfigjson_credentials_are_found_by_registry_host() -> None:
    auth = base64.b64encode(b"bot:pa:ss").decode()
    data = _dockerconfig(
        {
            "https://index.docker.io/v1/": {"username": "hub", "password": "hubpass"},
            "ghcr.io": {"auth": auth},
        }
    )
    ghcr = credentials_from_dockerconfig(data, "ghcr.io", where="secret 'x'")
    assert (ghcr.username, ghcr.password) == ("bot", "pa:ss")
    hub = credentials_from_dockerconfig(data, "index.docker.io", where="secret 'x'")
    assert (hub.username, hub.password) == ("hub", "hubpass")
    assert credentials_from_dockerconfig(data, "quay.io", where="secret 'x'").empty
    assert "pa:ss" not in repr(ghcr)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": b"x"}, "expected the key .dockerconfigjson"),
        ({".dockerconfigjson": b"{not json"}, "not valid JSON"),
        (_dockerconfig({"ghcr.io": {"auth": "%%%"}}), "not base64"),
    ],
)
def test_unreadable_dockerconfigs_are_refused_without_their_content(
    data: dict[str, bytes], message: str
) -> None:
    with pytest.raises(CredentialsError, match=message):
        credentials_from_dockerconfig(data, "ghcr.io", where="secret 'flux-system/creds'")


def test_cli_credentials_come_from_the_file_then_the_variable_then_docker_config(
    tmp_path: Path,
) -> None:
    creds = tmp_path / "creds"
    creds.write_text("filebot:filepass\n")
    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(b"dockerbot:dockerpass").decode()
    (docker / "config.json").write_text(json.dumps({"auths": {"ghcr.io": {"auth": auth}}}))
    env = {CREDS_ENV: "envbot:envpass", "DOCKER_CONFIG": str(docker)}
    found = cli_credentials("ghcr.io", creds_file=creds, env=env)
    assert found is not None and (found.username, found.password) == ("filebot", "filepass")
    found = cli_credentials("ghcr.io", creds_file=None, env=env)
    assert found is not None and found.username == "envbot"
    found = cli_credentials("ghcr.io", creds_file=None, env={"DOCKER_CONFIG": str(docker)})
    assert found is not None and found.password == "dockerpass"
    assert cli_credentials("ghcr.io", creds_file=None, env={"HOME": str(tmp_path)}) is None


@pytest.mark.parametrize(
    ("tags", "semver", "semver_filter", "media_type", "expected"),
    [
        (["1.0.0", "1.2.0", "2.0.0", "latest"], "1.x", "", "", "1.2.0"),
        (["v1.0.0", "v1.1.0-rc.1"], ">=1.0.0", "", "", "v1.0.0"),
        (["v1.0.0", "v1.1.0-rc.1"], ">=1.0.0-0", "", "", "v1.1.0-rc.1"),
        (["1.0.0-dev", "1.0.0", "1.1.0-dev"], ">=0.0.0-0", ".*-dev$", "", "1.1.0-dev"),
        (["6.5.0_1", "6.5.0", "6.4.0"], ">=6.0.0", "", HELM, "6.5.0_1"),
    ],
)
def test_a_semver_ref_picks_the_highest_matching_tag(
    tags: list[str], semver: str, semver_filter: str, media_type: str, expected: str
) -> None:
    assert pick_tag(tags, semver=semver, semver_filter=semver_filter, media_type=media_type) == (
        expected
    )


def test_a_filter_that_would_backtrack_forever_in_python_matches_at_once() -> None:
    # (a*)*b against a long run of a's takes exponential time with Python's re.
    tags = ["a" * 5000 + "c", "1.0.0"]
    assert pick_tag(tags, semver="*", semver_filter=r"^(a*)*b$|^1\.") == "1.0.0"


def test_no_matching_tag_says_so() -> None:
    with pytest.raises(ValueError, match=r"no match found for semver: >=3\.0\.0"):
        pick_tag(["1.0.0"], semver=">=3.0.0")


def _oci(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {"interval": "5m", "url": "oci://ghcr.io/stefanprodan/manifests/podinfo", **spec},
    }


def test_an_oci_repository_parses_with_flux_defaults() -> None:
    obj = parse_object(_oci(ref={"semver": ">=6.0.0"}, layerSelector={"mediaType": HELM}))
    assert isinstance(obj, OCIRepository)
    assert obj.spec.layer_operation == "extract"
    assert obj.spec.layer_media_type == HELM
    assert obj.spec.timeout_seconds == 60
    old = parse_object({**_oci(), "apiVersion": "source.toolkit.fluxcd.io/v1beta2"})
    assert isinstance(old, OCIRepository)


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"verify": {"provider": "cosign", "secretRef": {"name": "k"}}}, "verify",
         "signature verification (cosign) is not supported"),
        ({"provider": "aws"}, "provider", 'provider "aws"'),
        ({"serviceAccountName": "puller"}, "serviceAccountName", "spec.secretRef"),
        ({"proxySecretRef": {"name": "p"}}, "proxySecretRef", "proxy"),
        ({"url": "oci://ghcr.io/org/app:v1"}, "url", "must not contain a tag"),
        ({"url": "https://ghcr.io/org/app"}, "url", "starts with oci://"),
        ({"ref": {"digest": "sha256:xyz"}}, "ref.digest", "invalid digest"),
        ({"ref": {"semver": "not a range"}}, "ref.semver", "invalid semver range"),
        ({"ref": {"semverFilter": "("}}, "ref.semverFilter", "invalid semverFilter"),
        # Go's regexp (RE2) has no backreferences: Flux refuses this filter too.
        ({"ref": {"semverFilter": r"(a)\1"}}, "ref.semverFilter", "invalid escape sequence"),
        ({"layerSelector": {"operation": "unpack"}}, "layerSelector.operation", ""),
    ],
)  # fmt: skip
def test_fields_sluice_does_not_do_are_refused_at_apply(
    spec: dict[str, Any], field: str, message: str
) -> None:
    errors = validate(_oci(**spec))
    assert [e.field for e in errors] == [f"spec.{field}"], errors
    assert message in errors[0].message


def _manifest_bytes(layers: list[dict[str, Any]], **extra: Any) -> bytes:
    config = {"mediaType": "application/vnd.cncf.flux.config.v1+json", "digest": DIGEST, "size": 2}
    return json.dumps({"schemaVersion": 2, "config": config, "layers": layers, **extra}).encode()


def _layer(media_type: str) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": DIGEST, "size": 10}


def test_a_layer_is_chosen_as_source_controller_chooses_it() -> None:
    content = _manifest_bytes([_layer("application/vnd.oci.image.config"), _layer(HELM)])
    manifest = Manifest.parse(content, digest=DIGEST, media_type="", where="x")
    assert select_layer(manifest).media_type == "application/vnd.oci.image.config"
    assert select_layer(manifest, HELM).media_type == HELM
    with pytest.raises(LayerNotFoundError, match="failed to find layer with media type 'x/y'"):
        select_layer(manifest, "x/y")
    empty = Manifest.parse(_manifest_bytes([]), digest=DIGEST, media_type="", where="x")
    with pytest.raises(LayerNotFoundError, match="no layers found in artifact"):
        select_layer(empty)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (json.dumps({"schemaVersion": 2, "manifests": []}).encode(), "is an image index"),
        (b"not json", "not valid JSON"),
        # A hostile registry's deeply nested JSON: an OciError, not a RecursionError.
        (b"[" * 100_000, "not valid JSON"),
        (
            _manifest_bytes([{"mediaType": "m", "digest": "md5:abc", "size": 1}]),
            "unsupported digest",
        ),
        (_manifest_bytes([{"mediaType": "m", "digest": DIGEST, "size": -1}]), "invalid size"),
    ],
)
def test_manifests_that_are_not_one_artifact_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(OciError, match=message):
        Manifest.parse(content, digest=DIGEST, media_type="", where="oci://r/app:v1")
