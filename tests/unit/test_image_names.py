"""ImageRepository's image names as Flux reports them, and the pull Secret entry each one uses."""

from __future__ import annotations

import base64
import json

import pytest

from services.image.names import InvalidImageError, parse_image
from services.image.registry import access_from_secrets
from shared.oci.auth import RegistryCredentials

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "canonical", "scheme"),
    [
        ("nginx", "index.docker.io/library/nginx", "https"),
        ("docker.io/nginx", "index.docker.io/library/nginx", "https"),
        ("index.docker.io/nginx", "index.docker.io/library/nginx", "https"),
        ("docker.io/library/nginx", "index.docker.io/library/nginx", "https"),
        ("stefanprodan/podinfo", "index.docker.io/stefanprodan/podinfo", "https"),
        # Only the exact alias is Docker Hub: no library/ elsewhere, and case is kept.
        ("registry-1.docker.io/nginx", "registry-1.docker.io/nginx", "https"),
        ("Docker.io/nginx", "Docker.io/nginx", "https"),
        ("GHCR.io/org/app", "GHCR.io/org/app", "https"),
        ("ghcr.io/fluxcd/flux", "ghcr.io/fluxcd/flux", "https"),
        ("ghcr.io/a/b/c/d", "ghcr.io/a/b/c/d", "https"),
        # A first segment without . or : (and not localhost) is a Docker Hub user.
        ("myhost/app", "index.docker.io/myhost/app", "https"),
        ("localhost/app", "localhost/app", "https"),
        ("localhost:5000/app", "localhost:5000/app", "http"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app", "http"),
        ("10.1.2.3:80/app", "10.1.2.3:80/app", "http"),
        ("192.168.0.9/app", "192.168.0.9/app", "http"),
        ("172.32.0.1/app", "172.32.0.1/app", "https"),
        ("foo.localhost/app", "foo.localhost/app", "http"),
        ("[::1]:5000/app", "[::1]:5000/app", "http"),
        ("registry.example.com:8443/app", "registry.example.com:8443/app", "https"),
    ],
)
def test_an_image_is_named_as_flux_reports_its_canonical_name(
    image: str, canonical: str, scheme: str
) -> None:
    name = parse_image(image)
    assert (name.canonical, name.scheme) == (canonical, scheme)


def test_insecure_means_http_for_any_registry() -> None:
    assert parse_image("ghcr.io/org/app", insecure=True).scheme == "http"


def test_docker_hub_is_reached_on_its_api_host() -> None:
    ref = parse_image("nginx").oci_reference()
    assert (ref.api_host, ref.repository) == ("registry-1.docker.io", "library/nginx")


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            "https://ghcr.io/org/app",
            "image 'https://ghcr.io/org/app' should not include URL scheme; remove 'https://'",
        ),
        ("nginx:1.0", "image 'nginx:1.0' should not include a tag; remove ':1.0'"),
        ("ghcr.io/org/app:v1", "image 'ghcr.io/org/app:v1' should not include a tag; remove ':v1'"),
        (
            "localhost:5000/app:1",
            "image 'localhost:5000/app:1' should not include a tag; remove ':1'",
        ),
        (
            f"nginx@{DIGEST}",
            f"image 'nginx@{DIGEST}' should not include a tag; remove ':{'a' * 64}'",
        ),
        ("Nginx", "could not parse reference: Nginx"),
        ("ghcr.io/Org/app", "could not parse reference: ghcr.io/Org/app"),
        ("ghcr.io:abc/app", "could not parse reference: ghcr.io:abc/app"),
        ("", "could not parse reference: "),
        ("nginx:", "could not parse reference: nginx:"),
        ("a" * 256, "could not parse reference: " + "a" * 256),
    ],
)
def test_an_image_flux_refuses_is_refused_with_its_message(image: str, message: str) -> None:
    with pytest.raises(InvalidImageError) as caught:
        parse_image(image)
    assert str(caught.value) == message


def test_credentials_in_the_image_are_refused_without_being_echoed() -> None:
    with pytest.raises(InvalidImageError) as caught:
        parse_image("robot:hunter2@ghcr.io/org/app")
    assert "hunter2" not in str(caught.value)
    assert "spec.secretRef" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "image", "found"),
    [
        ("https://index.docker.io/v1/", "nginx", True),
        ("docker.io", "org/app", True),
        ("registry-1.docker.io", "docker.io/library/nginx", True),
        ("ghcr.io", "ghcr.io/org/app", True),
        ("https://ghcr.io", "ghcr.io/org/app", True),
        ("ghcr.io", "nginx", False),
        ("localhost:5000", "localhost:5000/app", True),
        ("localhost:5001", "localhost:5000/app", False),
    ],
)
def test_a_pull_secret_entry_is_found_by_the_images_registry(
    key: str, image: str, found: bool
) -> None:
    auth = base64.b64encode(b"robot:hunter2").decode()
    secret = {".dockerconfigjson": json.dumps({"auths": {key: {"auth": auth}}}).encode()}
    access = access_from_secrets(parse_image(image), pull_secrets={"regcred": secret})
    expected = RegistryCredentials("robot", "hunter2") if found else RegistryCredentials()
    assert access.credentials == expected


def test_the_first_pull_secret_with_an_entry_for_the_registry_logs_in() -> None:
    def config(host: str, user: str) -> dict[str, bytes]:
        entry = {"username": user, "password": "pw"}
        return {".dockerconfigjson": json.dumps({"auths": {host: entry}}).encode()}

    access = access_from_secrets(
        parse_image("ghcr.io/org/app"),
        pull_secrets={
            "hub": config("docker.io", "hub-user"),
            "ghcr-a": config("ghcr.io", "first"),
            "ghcr-b": config("ghcr.io", "second"),
        },
    )
    assert access.credentials.username == "first"
