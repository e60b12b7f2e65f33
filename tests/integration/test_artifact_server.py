"""The artifact server over real HTTP: files under the root, read-only, nothing outside it."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.artifactserver import ArtifactServer, ArtifactServerError, serve_artifacts

SECRET = b"outside the root: never served\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An artifact root beside a secret file, with symlinks in and out of the root."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "artifacts"
    repo = root / "gitrepository" / "flux-system" / "podinfo"
    repo.mkdir(parents=True)
    (repo / "1a2b3c.tar.gz").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (repo / "latest.tar.gz").symlink_to("1a2b3c.tar.gz")
    (repo / "notes.txt").write_text("hello\n")
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "escape-dir").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture
def server(root: Path) -> Iterator[ArtifactServer]:
    server = serve_artifacts(root, host="127.0.0.1", port=0)
    yield server
    server.close()


def raw_get(server: ArtifactServer, path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as given (httpx would normalise dot segments)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serves_a_tarball_with_its_length_and_type(server: ArtifactServer, root: Path) -> None:
    path = "gitrepository/flux-system/podinfo/1a2b3c.tar.gz"
    response = httpx.get(f"{server.url}/{path}")
    assert response.status_code == 200
    assert response.content == (root / path).read_bytes()
    assert response.headers["content-length"] == str((root / path).stat().st_size)
    assert response.headers["content-type"] == "application/gzip"


def test_streams_a_large_file_in_chunks(server: ArtifactServer, root: Path) -> None:
    path = "gitrepository/flux-system/podinfo/1a2b3c.tar.gz"
    received = bytearray()
    with httpx.stream("GET", f"{server.url}/{path}") as response:
        for chunk in response.iter_bytes():
            received += chunk
    assert bytes(received) == (root / path).read_bytes()


def test_head_gives_headers_without_a_body(server: ArtifactServer) -> None:
    response = httpx.head(f"{server.url}/gitrepository/flux-system/podinfo/notes.txt")
    assert response.status_code == 200
    assert response.headers["content-length"] == "6"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.content == b""


def test_follows_a_symlink_that_stays_inside_the_root(server: ArtifactServer, root: Path) -> None:
    response = httpx.get(f"{server.url}/gitrepository/flux-system/podinfo/latest.tar.gz")
    assert response.status_code == 200
    target = root / "gitrepository/flux-system/podinfo/1a2b3c.tar.gz"
    assert response.content == target.read_bytes()


@pytest.mark.parametrize(
    "path",
    ["/missing.tar.gz", "/gitrepository/flux-system/podinfo/nope.tar.gz", "/gitrepository/"],
)
def test_missing_files_and_directories_are_not_found(server: ArtifactServer, path: str) -> None:
    assert httpx.get(f"{server.url}{path}").status_code == 404


def test_the_root_is_not_listed(server: ArtifactServer) -> None:
    response = httpx.get(f"{server.url}/")
    assert response.status_code == 404
    assert b"gitrepository" not in response.content


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head_are_allowed(server: ArtifactServer, root: Path, method: str) -> None:
    url = f"{server.url}/gitrepository/flux-system/podinfo/notes.txt"
    response = httpx.request(method, url, content=b"overwrite")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert (root / "gitrepository/flux-system/podinfo/notes.txt").read_text() == "hello\n"


@pytest.mark.parametrize(
    "path",
    [
        "/../outside/secret.txt",
        "/gitrepository/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E%2Foutside%2Fsecret.txt",
        "/gitrepository/%2e%2e/%2e%2e/outside/secret.txt",
        "//outside/secret.txt",
        "/..%5coutside%5csecret.txt",
        "/escape.txt",
        "/escape-dir/secret.txt",
        "/escape-dir/%2e%2e/outside/secret.txt",
    ],
)
def test_paths_leaving_the_root_are_refused(server: ArtifactServer, path: str) -> None:
    status, body = raw_get(server, path)
    assert status in (400, 403, 404)
    assert SECRET not in body


def test_an_absolute_path_is_taken_inside_the_root(server: ArtifactServer, root: Path) -> None:
    secret = root.parent / "outside" / "secret.txt"
    status, body = raw_get(server, str(secret))
    assert status == 404
    assert SECRET not in body


def test_a_taken_port_is_named_in_the_error(server: ArtifactServer, root: Path) -> None:
    with pytest.raises(ArtifactServerError, match=rf"port {server.port} .*in use"):
        serve_artifacts(root, host="127.0.0.1", port=server.port)
