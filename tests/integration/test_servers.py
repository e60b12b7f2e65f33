"""The test servers are real: git clients, registry calls and webhooks go over loopback."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.servers.git import BareRepo, GitDaemon, run_git
from tests.servers.githttp import GitHttpServer
from tests.servers.registry import MANIFEST_MEDIA_TYPE, OciRegistry, bcrypt_hash
from tests.servers.sink import HttpSink, SinkResponse
from tests.servers.ssh import SshServer


def clone(url: str, dest: Path, *args: str, env: dict[str, str] | None = None) -> Path:
    run_git("clone", "--quiet", *args, url, str(dest), env=env)
    return dest


def head_of(checkout: Path) -> str:
    return run_git("-C", str(checkout), "rev-parse", "HEAD").stdout.decode().strip()


def commit_and_push(
    checkout: Path, name: str, content: str, *, env: dict[str, str] | None = None
) -> str:
    (checkout / name).write_text(content)
    run_git("-C", str(checkout), "add", name)
    run_git("-C", str(checkout), "commit", "--quiet", "-m", f"add {name}")
    run_git("-C", str(checkout), "push", "--quiet", "origin", "HEAD:main", env=env)
    return head_of(checkout)


def test_bare_repo_commits_deletes_tags_and_branches(git_repo: BareRepo) -> None:
    first = git_repo.commit({"a.yaml": "a: 1\n", "dir/b.bin": b"\x00\x01"}, "first")
    second = git_repo.commit({"a.yaml": None, "c.yaml": "c: 3\n"}, "second")
    git_repo.tag("v1.0.0", first, message="release")
    feature = git_repo.commit({"f.txt": "f"}, "feature", branch="feature")

    assert git_repo.log() == [second, first]
    assert git_repo.list_files() == ["c.yaml", "dir/b.bin"]
    assert git_repo.read_file("dir/b.bin", first) == b"\x00\x01"
    assert git_repo.message(second).strip() == "second"
    assert git_repo.branches() == {"main": second, "feature": feature}
    assert git_repo.rev_parse("v1.0.0^{commit}") == first
    assert set(git_repo.tags()) == {"v1.0.0"}


def test_clone_over_file_url_sees_the_latest_commit(git_repo: BareRepo, tmp_path: Path) -> None:
    sha = git_repo.commit({"app.yaml": "kind: ConfigMap\n"}, "init")

    checkout = clone(git_repo.url, tmp_path / "wc")

    assert head_of(checkout) == sha
    assert (checkout / "app.yaml").read_text() == "kind: ConfigMap\n"


def test_git_daemon_serves_clones_and_accepts_pushes(
    git_repo: BareRepo, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    git_repo.commit({"a.txt": "a"}, "init")

    checkout = clone(git_daemon.url_for(git_repo), tmp_path / "wc")
    pushed = commit_and_push(checkout, "b.txt", "b")

    assert git_repo.head() == pushed


def test_http_clone_with_password_and_fetch_counting(
    git_repo: BareRepo, git_http: GitHttpServer, tmp_path: Path
) -> None:
    git_repo.commit({"a.txt": "a"}, "init")

    checkout = clone(git_http.authenticated_url(git_repo), tmp_path / "wc")
    assert head_of(checkout) == git_repo.head()
    assert git_http.fetches() == 1
    assert git_http.count(kind="info/refs", service="git-upload-pack", status=200) >= 1
    assert all(r.user == git_http.username for r in git_http.requests if r.status == 200)

    run_git("-C", str(checkout), "fetch", "--quiet", "origin")
    assert git_http.fetches() == 1, "an unchanged repository must not send objects again"

    new = git_repo.commit({"b.txt": "b"}, "second")
    run_git("-C", str(checkout), "fetch", "--quiet", "origin")
    assert git_http.fetches() == 2
    assert git_repo.rev_parse("refs/heads/main") == new


def test_http_clone_with_bearer_token(
    git_repo: BareRepo, git_http: GitHttpServer, tmp_path: Path
) -> None:
    sha = git_repo.commit({"a.txt": "a"}, "init")

    checkout = clone(
        git_http.url_for(git_repo),
        tmp_path / "wc",
        "--config",
        f"http.extraHeader=Authorization: Bearer {git_http.token}",
    )

    assert head_of(checkout) == sha
    assert {r.auth for r in git_http.requests} == {"bearer"}


def test_http_clone_with_wrong_password_fails_with_401(
    git_repo: BareRepo, git_http: GitHttpServer, tmp_path: Path
) -> None:
    git_repo.commit({"a.txt": "a"}, "init")
    url = git_http.url_for(git_repo).replace("http://", "http://sluice:wrong@")

    result = run_git("clone", url, str(tmp_path / "wc"), check=False)

    assert result.returncode != 0
    assert b"Authentication failed" in result.stderr
    assert git_http.count(status=401) >= 1
    assert git_http.fetches() == 0


def test_http_push_updates_the_bare_repo(
    git_repo: BareRepo, git_http: GitHttpServer, tmp_path: Path
) -> None:
    git_repo.commit({"a.txt": "a"}, "init")
    checkout = clone(git_http.authenticated_url(git_repo), tmp_path / "wc")

    pushed = commit_and_push(checkout, "b.txt", "pushed over http")

    assert git_repo.head() == pushed
    assert git_repo.read_file("b.txt") == b"pushed over http"
    assert git_http.count(kind="rpc", service="git-receive-pack", status=200) == 1


def test_ssh_clone_and_push_with_generated_key_and_known_hosts(
    git_repo: BareRepo, git_ssh: SshServer, tmp_path: Path
) -> None:
    sha = git_repo.commit({"a.txt": "a"}, "init")
    url = git_ssh.url_for(git_repo)
    assert url.startswith(f"ssh://{git_ssh.user}@127.0.0.1:{git_ssh.port}/")
    assert git_ssh.identity.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert git_ssh.known_hosts.startswith(f"[127.0.0.1]:{git_ssh.port} ssh-ed25519 ")

    checkout = clone(url, tmp_path / "wc", env=git_ssh.git_env())
    assert head_of(checkout) == sha
    pushed = commit_and_push(checkout, "b.txt", "b", env=git_ssh.git_env())
    assert git_repo.head() == pushed


def test_ssh_clone_refuses_an_unknown_host_key(
    git_repo: BareRepo, git_ssh: SshServer, tmp_path: Path
) -> None:
    git_repo.commit({"a.txt": "a"}, "init")
    git_ssh.known_hosts_path.write_text("")

    result = run_git(
        "clone",
        git_ssh.url_for(git_repo),
        str(tmp_path / "wc"),
        env=git_ssh.git_env(),
        check=False,
    )

    assert result.returncode != 0
    assert b"Host key verification failed" in result.stderr


def test_registry_push_then_manifest_by_tag_returns_the_digest(oci_registry: OciRegistry) -> None:
    digest = oci_registry.push_image("team/app", "1.2.3", files={"app": b"v1"})

    with oci_registry.client() as client:
        response = client.get(
            "/v2/team/app/manifests/1.2.3", headers={"Accept": MANIFEST_MEDIA_TYPE}
        )
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest
    assert digest == "sha256:" + hashlib.sha256(response.content).hexdigest()
    assert response.json()["mediaType"] == MANIFEST_MEDIA_TYPE
    assert oci_registry.list_tags("team/app") == ["1.2.3"]
    assert oci_registry.manifest_digest("team/app", "1.2.3") == digest


def test_registry_tags_and_digests_follow_the_content(oci_registry: OciRegistry) -> None:
    one = oci_registry.push_image("app", "1.0.0", files={"app": b"v1"})
    same = oci_registry.push_image("app", "latest", files={"app": b"v1"})
    two = oci_registry.push_image("app", "2.0.0", files={"app": b"v2"})

    assert one == same != two
    assert sorted(oci_registry.list_tags("app")) == ["1.0.0", "2.0.0", "latest"]
    assert oci_registry.list_tags("missing") == []


@pytest.mark.skipif(
    bcrypt_hash("probe") is None,
    reason="no bcrypt for the htpasswd file: `.venv/bin/pip install bcrypt`, or Python 3.11/3.12 "
    "(their crypt module reaches Debian's libxcrypt)",
)
def test_registry_with_htpasswd_requires_the_password(tmp_path: Path) -> None:
    registry = OciRegistry(tmp_path / "registry", username="robot", password="s3cret")
    registry.start()
    try:
        assert httpx.get(f"{registry.url}/v2/").status_code == 401
        digest = registry.push_image("app", "1.0.0")
        assert registry.manifest_digest("app", "1.0.0") == digest
    finally:
        registry.stop()


def test_sink_records_a_posted_json_body_and_headers(http_sink: HttpSink) -> None:
    response = httpx.post(
        f"{http_sink.url}/hooks/slack?x=1",
        json={"text": "Kustomization/apps reconciled"},
        headers={"X-Signature": "sha256=abc"},
    )

    assert response.status_code == 200
    [request] = http_sink.wait_for(1, timeout=5)
    assert (request.method, request.path, request.query) == ("POST", "/hooks/slack", "x=1")
    assert request.json() == {"text": "Kustomization/apps reconciled"}
    assert request.header("x-signature") == "sha256=abc"
    assert request.header("Content-Type") == "application/json"


def test_sink_answers_scripted_failures_then_the_default(http_sink: HttpSink) -> None:
    http_sink.queue(SinkResponse(429, headers={"Retry-After": "1"}), 500)

    statuses = [httpx.post(http_sink.url, content=b"x").status_code for _ in range(3)]
    http_sink.set_status(503)
    statuses.append(httpx.get(http_sink.url).status_code)

    assert statuses == [429, 500, 200, 503]
    assert len(http_sink.requests) == 4
    http_sink.clear()
    assert http_sink.requests == []
    with pytest.raises(TimeoutError):
        http_sink.wait_for(1, timeout=0.2)


def test_servers_stop_and_free_their_ports(tmp_path: Path) -> None:
    daemon = GitDaemon(tmp_path)
    daemon.start()
    process = daemon.process
    daemon.stop()

    assert process is not None and process.poll() is not None
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(
            ["git", "ls-remote", f"{daemon.url}/none.git"],
            check=True,
            capture_output=True,
            timeout=10,
        )
