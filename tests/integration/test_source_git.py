"""GitRepository fetches against real servers: file://, git://, smart HTTP with auth, and SSH."""

from __future__ import annotations

import re
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.source.git.mirror import archive_commit, fetch
from services.source.git.refs import GitRef
from shared.git import (
    AuthenticationFailed,
    GitAuth,
    GitTimeout,
    InvalidSourceError,
    RepositoryNotFound,
    UnknownRef,
    UnreachableHost,
    mirror_path,
)
from tests.servers.git import BareRepo, GitDaemon, run_git
from tests.servers.githttp import GitHttpServer
from tests.servers.ssh import SshServer

FILES = {
    "kustomization.yaml": "resources: [deploy.yaml]\n",
    "deploy.yaml": "kind: ConfigMap\n",
    "logo.png": b"\x89PNG",
    "apps/.sourceignore": "*.txt\n",
    "apps/notes.txt": "not shipped\n",
    "apps/app.yaml": "kind: Service\n",
}

Remote = tuple[str, GitAuth]


@pytest.fixture
def repo(git_repo: BareRepo) -> BareRepo:
    git_repo.commit(FILES, message="initial layout\n\nwith a body")
    return git_repo


@pytest.fixture(params=["file", "git", "http-basic", "http-bearer", "ssh"])
def remote(request: pytest.FixtureRequest, repo: BareRepo) -> Remote:
    """The test repository's URL and credentials over each transport."""
    kind = request.param
    if kind == "file":
        return repo.url, GitAuth()
    if kind == "git":
        daemon: GitDaemon = request.getfixturevalue("git_daemon")
        return daemon.url_for(repo), GitAuth()
    if kind.startswith("http"):
        http: GitHttpServer = request.getfixturevalue("git_http")
        if kind == "http-basic":
            return http.url_for(repo), GitAuth.from_secret(
                {"username": b"sluice", "password": (http.password or "").encode()}
            )
        return http.url_for(repo), GitAuth.from_secret({"bearerToken": (http.token or "").encode()})
    ssh: SshServer = request.getfixturevalue("git_ssh")
    secret = {"identity": ssh.identity.encode(), "known_hosts": ssh.known_hosts.encode()}
    return ssh.url_for(repo), GitAuth.from_secret(secret)


def tar_names(path: Path) -> set[str]:
    with tarfile.open(path) as tar:
        return {m.name for m in tar.getmembers()}


def test_fetch_resolves_the_branch_and_archives_it_without_ignored_files(
    remote: Remote, repo: BareRepo, tmp_path: Path
) -> None:
    url, auth = remote
    result = fetch(url, GitRef(branch="main"), cache_dir=tmp_path / "cache", auth=auth)
    head = repo.head()
    assert (result.commit, result.revision) == (head, f"main@sha1:{head}")
    assert result.message == "initial layout"
    assert result.changed and result.fetched
    tarball = archive_commit(result.mirror, result.commit, tmp_path / "a.tar.gz")
    # The .sourceignore in apps/ gives patterns, so (as in Flux) logo.png is kept.
    assert tar_names(tarball.path) == {
        "apps", "apps/.sourceignore", "apps/app.yaml", "deploy.yaml", "kustomization.yaml",
        "logo.png",
    }  # fmt: skip


def test_an_unchanged_remote_costs_one_ls_remote_and_no_fetch(
    git_http: GitHttpServer, repo: BareRepo, tmp_path: Path
) -> None:
    auth = GitAuth(bearer_token=git_http.token or "")
    url, cache = git_http.url_for(repo), tmp_path / "cache"
    first = fetch(url, GitRef(branch="main"), cache_dir=cache, auth=auth)
    assert git_http.fetches() == 1
    git_http.reset()
    again = fetch(url, GitRef(branch="main"), cache_dir=cache, auth=auth, last_commit=first.commit)
    assert (again.changed, again.fetched, again.remote_calls) == (False, False, 1)
    assert again.revision == first.revision
    assert git_http.fetches() == 0
    assert {(r.kind, r.command) for r in git_http.requests} == {
        ("info/refs", ""),
        ("rpc", "ls-refs"),
    }


def test_a_new_commit_is_fetched_incrementally_into_the_same_mirror(
    git_http: GitHttpServer, repo: BareRepo, tmp_path: Path
) -> None:
    auth = GitAuth(username="sluice", password=git_http.password or "")
    url, cache = git_http.url_for(repo), tmp_path / "cache"
    first = fetch(url, GitRef(branch="main"), cache_dir=cache, auth=auth)
    newer = repo.commit({"deploy.yaml": "kind: Secret\n"}, message="second")
    git_http.reset()
    second = fetch(url, GitRef(branch="main"), cache_dir=cache, auth=auth, last_commit=first.commit)
    assert (second.commit, second.changed, second.fetched) == (newer, True, True)
    assert second.message == "second"
    assert second.mirror == first.mirror == mirror_path(cache, url)
    assert git_http.fetches() == 1
    assert [p.name for p in cache.iterdir() if p.suffix == ".git"] == [first.mirror.name]
    assert all(r.status == 200 and r.auth == "basic" for r in git_http.requests)


def test_archives_of_one_commit_are_identical_across_mirrors(
    repo: BareRepo, tmp_path: Path
) -> None:
    digests = set()
    for name in ("one", "two"):
        result = fetch(repo.url, GitRef(branch="main"), cache_dir=tmp_path / name)
        digests.add(archive_commit(result.mirror, result.commit, tmp_path / f"{name}.tgz").digest)
    assert len(digests) == 1


def test_semver_picks_the_newest_matching_tag(repo: BareRepo, tmp_path: Path) -> None:
    repo.tag("v1.0.0")
    second = repo.commit({"deploy.yaml": "v: 1.1\n"}, message="one one")
    repo.tag("v1.1.0", message="annotated release")
    repo.commit({"deploy.yaml": "v: 2-rc\n"}, message="two rc")
    repo.tag("v2.0.0-rc.1")
    result = fetch(repo.url, GitRef(semver="^1.0.0"), cache_dir=tmp_path / "cache")
    assert (result.commit, result.revision) == (second, f"v1.1.0@sha1:{second}")
    rc = fetch(repo.url, GitRef(semver=">=2.0.0-0"), cache_dir=tmp_path / "cache")
    assert rc.revision.startswith("v2.0.0-rc.1@sha1:")


def test_a_pull_request_ref_keeps_its_full_name(repo: BareRepo, tmp_path: Path) -> None:
    pr = repo.commit({"deploy.yaml": "pr: 1\n"}, message="pr", branch="topic")
    run_git("-C", str(repo.path), "update-ref", "refs/pull/1/head", pr)
    result = fetch(repo.url, GitRef(name="refs/pull/1/head"), cache_dir=tmp_path / "cache")
    assert result.revision == f"refs/pull/1/head@sha1:{pr}"


def test_a_pinned_commit_is_fetched_once_then_unchanged(
    git_daemon: GitDaemon, repo: BareRepo, tmp_path: Path
) -> None:
    pinned = repo.head()
    repo.commit({"deploy.yaml": "later\n"}, message="later")
    url, cache = git_daemon.url_for(repo), tmp_path / "cache"
    first = fetch(url, GitRef(branch="main", commit=pinned), cache_dir=cache)
    assert (first.commit, first.revision, first.fetched) == (pinned, f"main@sha1:{pinned}", True)
    again = fetch(url, GitRef(commit=pinned[:12]), cache_dir=cache, last_commit=pinned)
    assert (again.changed, again.fetched, again.revision) == (False, False, f"sha1:{pinned}")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (GitRef(branch="nope"), "branch 'nope' not found"),
        (GitRef(), "branch 'master' not found"),
        (GitRef(tag="v9.9.9"), "tag 'v9.9.9' not found"),
        (GitRef(semver="^5"), "no tag matches semver range '^5'"),
        (GitRef(commit="0123456789abcdef0123456789abcdef01234567"), "commit 0123456789"),
    ],
)
def test_missing_refs_raise_unknown_ref_with_a_clear_message(
    repo: BareRepo, tmp_path: Path, ref: GitRef, message: str
) -> None:
    with pytest.raises(UnknownRef, match=re.escape(message)):
        fetch(repo.url, ref, cache_dir=tmp_path / "cache")


def test_wrong_http_credentials_raise_authentication_failed_without_the_secret(
    git_http: GitHttpServer, repo: BareRepo, tmp_path: Path
) -> None:
    url = git_http.url_for(repo)
    for auth in (
        GitAuth(username="sluice", password="wrong-password-123"),
        GitAuth(bearer_token="wrong-token-456"),
        GitAuth(),
    ):
        with pytest.raises(AuthenticationFailed) as caught:
            fetch(url, GitRef(branch="main"), cache_dir=tmp_path / "cache", auth=auth)
        assert "wrong-" not in str(caught.value)
        assert url in str(caught.value)


def test_credentials_in_the_url_are_used_but_never_shown(
    git_http: GitHttpServer, repo: BareRepo, tmp_path: Path
) -> None:
    url = git_http.authenticated_url(repo)
    result = fetch(url, GitRef(branch="main"), cache_dir=tmp_path / "cache")
    assert git_http.password not in result.url
    bad = url.replace(git_http.password or "", "nope-secret-pw")
    with pytest.raises(AuthenticationFailed) as caught:
        fetch(bad, GitRef(branch="main"), cache_dir=tmp_path / "cache")
    assert "nope-secret-pw" not in str(caught.value)


def test_ssh_refuses_a_wrong_key_and_an_unknown_host_key(
    git_ssh: SshServer, repo: BareRepo, tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong_key = GitAuth(identity=other.read_bytes(), known_hosts=git_ssh.known_hosts.encode())
    with pytest.raises(AuthenticationFailed, match="credentials"):
        fetch(
            git_ssh.url_for(repo), GitRef(branch="main"), cache_dir=tmp_path / "c", auth=wrong_key
        )
    stranger = git_ssh.known_hosts.rsplit(" ", 1)[0] + " " + _public_key(other)
    wrong_host = GitAuth(identity=git_ssh.identity.encode(), known_hosts=stranger.encode())
    with pytest.raises(AuthenticationFailed, match="known_hosts"):
        fetch(
            git_ssh.url_for(repo), GitRef(branch="main"), cache_dir=tmp_path / "c", auth=wrong_host
        )
    with pytest.raises(InvalidSourceError, match="known_hosts"):
        fetch(git_ssh.url_for(repo), GitRef(branch="main"), cache_dir=tmp_path / "c")


def test_ssh_keys_with_a_passphrase_are_unlocked_from_the_secret(
    git_ssh: SshServer, repo: BareRepo, tmp_path: Path
) -> None:
    key = tmp_path / "locked_key"
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "open sesame", "-f", str(key)]
    subprocess.run(argv, check=True)
    with (git_ssh.state_dir / "authorized_keys").open("a") as keys:
        keys.write(key.with_suffix(".pub").read_text())
    secret = {
        "identity": key.read_bytes(),
        "known_hosts": git_ssh.known_hosts.encode(),
        "password": b"open sesame",
    }
    url = git_ssh.url_for(repo)
    result = fetch(
        url, GitRef(branch="main"), cache_dir=tmp_path / "c", auth=GitAuth.from_secret(secret)
    )
    assert result.commit == repo.head()
    secret["password"] = b"wrong words"
    with pytest.raises(AuthenticationFailed) as caught:
        fetch(
            url, GitRef(branch="main"), cache_dir=tmp_path / "c", auth=GitAuth.from_secret(secret)
        )
    assert "wrong words" not in str(caught.value)


def _public_key(private: Path) -> str:
    return private.with_suffix(".pub").read_text().split()[1]


def test_secrets_stay_out_of_process_arguments_and_temp_files(
    git_http: GitHttpServer,
    git_ssh: SshServer,
    repo: BareRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argvs: list[list[str]] = []
    real_popen: Callable[..., Any] = subprocess.Popen

    def spy(args: list[str], *rest: Any, **kwargs: Any) -> Any:
        argvs.append(list(args))
        return real_popen(args, *rest, **kwargs)

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(subprocess, "Popen", spy)
    password, identity = git_http.password or "", git_ssh.identity
    fetch(
        git_http.url_for(repo), GitRef(branch="main"), cache_dir=tmp_path / "c",
        auth=GitAuth(username="sluice", password=password),
    )  # fmt: skip
    fetch(
        git_ssh.url_for(repo), GitRef(branch="main"), cache_dir=tmp_path / "c",
        auth=GitAuth(identity=identity.encode(), known_hosts=git_ssh.known_hosts.encode()),
    )  # fmt: skip
    assert argvs
    flat = " ".join(" ".join(argv) for argv in argvs)
    assert password not in flat
    assert "PRIVATE KEY" not in flat
    assert list(scratch.iterdir()) == []


def test_unreachable_hosts_and_missing_repositories_are_told_apart(
    git_daemon: GitDaemon, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(UnreachableHost):
        fetch(f"http://127.0.0.1:{closed_port}/r.git", GitRef(), cache_dir=tmp_path / "c")
    with pytest.raises(RepositoryNotFound):
        fetch(git_daemon.url_for("missing.git"), GitRef(), cache_dir=tmp_path / "c")


def test_a_silent_server_hits_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with pytest.raises(GitTimeout, match="timed out"):
            fetch(f"http://127.0.0.1:{port}/r.git", GitRef(), cache_dir=tmp_path / "c", timeout=1.5)


@pytest.mark.parametrize(
    "url",
    ["git@example.com:org/repo.git", "ftp://example.com/repo.git", "https:///repo.git", "ext::sh"],
)
def test_unusable_urls_are_refused_before_any_git_runs(url: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidSourceError):
        fetch(url, GitRef(), cache_dir=tmp_path / "c")
