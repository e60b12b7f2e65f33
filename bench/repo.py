"""A Git repository the benchmark commits to and pushes, as a user does from a clone."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitRepo", "Push"]

_IDENTITY = {
    "GIT_AUTHOR_NAME": "sluice bench",
    "GIT_AUTHOR_EMAIL": "bench@sluice.invalid",
    "GIT_COMMITTER_NAME": "sluice bench",
    "GIT_COMMITTER_EMAIL": "bench@sluice.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


@dataclass(frozen=True)
class Push:
    """One pushed commit: its sha and when (monotonic clock) the push returned."""

    sha: str
    pushed_at: float

    @property
    def revision(self) -> str:
        """The revision as sluice writes it: ``main@sha1:<sha>``."""
        return f"main@sha1:{self.sha}"


class GitRepo:
    """A bare repository (served over file://) and a working tree that pushes to it."""

    def __init__(self, root: Path, name: str) -> None:
        self.bare = root / f"{name}.git"
        self.work = root / name
        root.mkdir(parents=True, exist_ok=True)
        self._git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=root)
        self._git("init", "-q", "-b", "main", str(self.work), cwd=root)
        self._git("remote", "add", "origin", self.url)

    @property
    def url(self) -> str:
        """The file:// URL a GitRepository points at."""
        return self.bare.resolve().as_uri()

    def push(self, files: Mapping[str, str], message: str = "update") -> Push:
        """Write ``files``, commit them and push to main; return the pushed commit."""
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self._git("add", "-A")
        self._git("commit", "-q", "-m", message)
        sha = self._git("rev-parse", "HEAD")
        self._git("push", "-q", "origin", "main")
        return Push(sha, time.monotonic())

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.work,
            env={**env, **_IDENTITY},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()
