"""bench.githttp: the benchmark's repositories fetched over smart HTTP by a real git client."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.githttp import GitHttpServer
from bench.repo import GitRepo


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHttpServer]:
    served = GitHttpServer(tmp_path / "git")
    served.start()
    yield served
    served.stop()


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("protocol", ["0", "2"])
def test_a_clone_over_http_has_the_latest_push(
    server: GitHttpServer, tmp_path: Path, protocol: str
) -> None:
    repo = GitRepo(server.root, "app")
    repo.push({"app/cm.yaml": "v0\n"}, "v0")
    push = repo.push({"app/cm.yaml": "v1\n"}, "v1")
    url = server.url_for(repo.bare)
    assert url == f"{server.url}/app.git"

    done = _git("-c", f"protocol.version={protocol}", "clone", "-q", url, str(tmp_path / "out"))

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "app" / "cm.yaml").read_text() == "v1\n"
    head = _git("rev-parse", "HEAD", cwd=tmp_path / "out").stdout.strip()
    assert head == push.sha


def test_pushing_over_http_is_refused(server: GitHttpServer, tmp_path: Path) -> None:
    repo = GitRepo(server.root, "app")
    repo.push({"a.txt": "a\n"}, "a")
    clone = tmp_path / "clone"
    assert _git("clone", "-q", server.url_for(repo.bare), str(clone)).returncode == 0
    (clone / "a.txt").write_text("b\n")
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "b", cwd=clone)

    done = _git("push", "-q", "origin", "main", cwd=clone)

    assert done.returncode != 0
    assert "403" in done.stderr
