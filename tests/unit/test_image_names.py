"""ImageRepository's pure parts as Flux has them: canonical names, exclusions, order, revision."""

from __future__ import annotations

import pytest

from services.image.names import InvalidImageError, parse_image
from services.image.tags import (
    DEFAULT_EXCLUSION_LIST,
    ExclusionList,
    InvalidExclusionError,
    latest_tags,
    sort_tags,
    tags_revision,
)
from shared.oci.auth import RegistryCredentials
from shared.oci.logins import Login, LoginCache, LoginKey

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
    ("patterns", "tags", "kept"),
    [
        # Flux's default drops cosign signatures only.
        (
            None,
            ["v1", "sha256-abc.sig", "sha256-abc.att", "v1.sig.x"],
            ["v1", "sha256-abc.att", "v1.sig.x"],
        ),
        ([], ["a.sig", "b"], ["b"]),
        # A list given replaces the default: .sig tags are then kept.
        (["^latest$"], ["latest", "a.sig", "1.0"], ["a.sig", "1.0"]),
        # Go's MatchString: a match anywhere, unanchored.
        (["rc"], ["1.0.0-rc.1", "1.0.0", "rcx"], ["1.0.0"]),
        (["^dev-", "^pr-[0-9]+$"], ["dev-1", "pr-12", "pr-12a", "main"], ["pr-12a", "main"]),
    ],
)
def test_the_exclusion_list_drops_what_its_go_regexps_match(
    patterns: list[str] | None, tags: list[str], kept: list[str]
) -> None:
    assert ExclusionList.compile(patterns).keep(tags) == kept


def test_the_default_exclusion_list_is_fluxs() -> None:
    assert DEFAULT_EXCLUSION_LIST == ("^.*\\.sig$",)
    assert ExclusionList.compile(None).patterns == DEFAULT_EXCLUSION_LIST


@pytest.mark.parametrize("pattern", ["(", "(?=x)", "\\1"])
def test_a_pattern_go_refuses_names_itself(pattern: str) -> None:
    with pytest.raises(InvalidExclusionError) as caught:
        ExclusionList.compile([pattern])
    assert str(caught.value).startswith(f"failed to compile regex {pattern}: ")


@pytest.mark.parametrize(
    ("tags", "ordered"),
    [
        (["1.0.0", "1.10.0", "1.9.0", "latest"], ["latest", "1.9.0", "1.10.0", "1.0.0"]),
        # Byte order: uppercase sorts before lowercase, so after it when descending.
        (["b", "B", "a", "A"], ["b", "a", "B", "A"]),
        (["v1", "v1-rc", "v1.0"], ["v1.0", "v1-rc", "v1"]),
        ([], []),
    ],
)
def test_tags_are_kept_in_descending_byte_order(tags: list[str], ordered: list[str]) -> None:
    assert sort_tags(tags) == ordered


def test_latest_tags_are_the_first_ten_by_descending_name_not_by_push_time() -> None:
    tags = sort_tags([f"1.0.{n}" for n in range(15)])
    assert latest_tags(tags) == [
        "1.0.9", "1.0.8", "1.0.7", "1.0.6", "1.0.5", "1.0.4", "1.0.3", "1.0.2", "1.0.14", "1.0.13",
    ]  # fmt: skip
    assert latest_tags(["b", "a"]) == ["b", "a"]


@pytest.mark.parametrize(
    ("tags", "revision"),
    [
        # Values computed by Go: adler32.Checksum(json.Marshal(tags)).
        ([], "18153657"),
        (["v2.0.0", "v1.0.0", "latest"], "1594296113"),
        (["a<b>&c", "é\u2028x", "\b\f\x7f"], "940903852"),
    ],
)
def test_the_revision_is_fluxs_checksum_of_the_sorted_tags(tags: list[str], revision: str) -> None:
    assert tags_revision(tags) == revision


def test_the_revision_changes_with_the_tags_and_not_with_their_listing_order() -> None:
    one = tags_revision(sort_tags(["1.0.0", "1.1.0"]))
    assert one == tags_revision(sort_tags(["1.1.0", "1.0.0"]))
    assert one != tags_revision(sort_tags(["1.0.0", "1.1.0", "1.2.0"]))


def test_a_remembered_login_expires_and_is_kept_per_credentials() -> None:
    now = [100.0]
    cache = LoginCache(clock=lambda: now[0])
    alice = LoginKey.of(
        "r:5000", "app", actions="pull", credentials=RegistryCredentials("a", "hunter2")
    )
    bob = LoginKey.of("r:5000", "app", actions="pull", credentials=RegistryCredentials("b", "2"))
    cache.put(alice, Login("Bearer t", "http"), seconds=60)
    assert cache.get(alice) == Login("Bearer t", "http")
    assert cache.get(bob) is None
    assert "Bearer" not in repr(cache) and "Bearer" not in repr(cache.get(alice))
    assert "hunter2" not in repr(alice)  # the key holds a hash of the credentials
    now[0] += 49
    assert cache.get(alice) is not None
    now[0] += 2
    assert cache.get(alice) is None


def test_the_login_cache_keeps_at_most_its_capacity() -> None:
    cache = LoginCache(capacity=2)
    keys = [
        LoginKey.of("h", f"r{n}", actions="pull", credentials=RegistryCredentials())
        for n in range(3)
    ]
    for key in keys:
        cache.put(key, Login("", "https"), seconds=60)
    assert [cache.get(key) is not None for key in keys] == [False, True, True]
