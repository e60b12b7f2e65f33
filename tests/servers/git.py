"""Bare Git repositories for tests, and `git daemon` serving them over git://."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.redisserver import free_port
from tests.servers.process import port_open, start_process, stop_process, wait_until_ready

__all__ = [
    "AUTHOR_EMAIL",
    "AUTHOR_NAME",
    "BareRepo",
    "GitDaemon",
    "GitError",
    "git_env",
    "repo_name",
    "run_git",
    "server_git_env",
]

AUTHOR_NAME = "Sluice Test"
AUTHOR_EMAIL = "sluice-test@example.invalid"
ZERO_SHA = "0" * 40


class GitError(RuntimeError):
    """A git command run by a test helper failed."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for git clients that ignores the machine's config and never prompts."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and key != "SSH_AUTH_SOCK"
    }
    env.update(
        GIT_AUTHOR_NAME=AUTHOR_NAME,
        GIT_AUTHOR_EMAIL=AUTHOR_EMAIL,
        GIT_COMMITTER_NAME=AUTHOR_NAME,
        GIT_COMMITTER_EMAIL=AUTHOR_EMAIL,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/false",
        SSH_ASKPASS="/bin/false",
        LC_ALL="C",
    )
    env.update(extra or {})
    return env


def server_git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``git_env`` plus server-side config: any repo may be served and pushed to."""
    env = git_env(extra)
    # GIT_CONFIG_* applies to every git the server spawns, so repos made by tests need no setup.
    settings = {
        "safe.directory": "*",
        "http.receivepack": "true",
        "http.uploadpack": "true",
        "uploadpack.allowFilter": "true",
        "receive.denyCurrentBranch": "ignore",
    }
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for index, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def run_git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` with ``git_env()`` (plus ``env``); raise GitError with stderr on failure."""
    result = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=git_env(env),
        input=input,
        capture_output=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise GitError(
            f"git {' '.join(args)} failed ({result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return result


@dataclass
class BareRepo:
    """A bare repository on disk that tests commit to directly, without a working tree."""

    path: Path

    def __post_init__(self) -> None:
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--bare", "--quiet", "--initial-branch=main")

    @property
    def url(self) -> str:
        """The file:// URL of this repository."""
        return self.path.resolve().as_uri()

    @property
    def name(self) -> str:
        """The directory name, e.g. ``repo.git``: the path under a server's base dir."""
        return self.path.name

    def commit(
        self,
        files: Mapping[str, str | bytes | None],
        message: str = "update",
        branch: str = "main",
        *,
        links: Mapping[str, str] | None = None,
    ) -> str:
        """Commit ``files`` (None deletes a path) on top of ``branch`` and return the new sha.

        ``links`` maps paths to symlink targets, committed as symlinks (mode 120000).
        """
        ref = f"refs/heads/{branch}"
        parent = self.rev_parse(ref, missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="sluice-index-") as scratch:
            index_env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent:
                self._git("read-tree", parent, env=index_env)
            entries = []
            for path, content in files.items():
                if content is None:
                    # Mode 0 with the null sha removes the path; a bare repo allows no --remove.
                    entries.append(f"0 {ZERO_SHA}\t{path}\0")
                    continue
                data = content.encode() if isinstance(content, str) else content
                blob = self._git("hash-object", "-w", "--stdin", input=data)
                entries.append(f"100644 {blob}\t{path}\0")
            for path, target in (links or {}).items():
                blob = self._git("hash-object", "-w", "--stdin", input=target.encode())
                entries.append(f"120000 {blob}\t{path}\0")
            self._git(
                "update-index",
                "-z",
                "--index-info",
                env=index_env,
                input="".join(entries).encode(),
            )
            tree = self._git("write-tree", env=index_env)
        parents = ["-p", parent] if parent else []
        sha = self._git("commit-tree", tree, *parents, input=message.encode())
        # The old value makes a concurrent push to the same branch fail loudly instead of vanishing.
        self._git("update-ref", ref, sha, parent or ZERO_SHA)
        return sha

    def tag(self, name: str, ref: str = "main", *, message: str | None = None) -> str:
        """Create tag ``name`` at ``ref`` (annotated when ``message`` is given); return its sha."""
        if message is None:
            self._git("tag", name, ref)
        else:
            self._git("tag", "--annotate", "--message", message, name, ref)
        return self.rev_parse(f"refs/tags/{name}")

    def create_branch(self, name: str, ref: str = "main") -> str:
        """Create branch ``name`` at ``ref`` and return the commit sha."""
        self._git("branch", name, ref)
        return self.rev_parse(f"refs/heads/{name}")

    def delete_branch(self, name: str) -> None:
        """Delete branch ``name``."""
        self._git("branch", "--delete", "--force", name)

    def branches(self) -> dict[str, str]:
        """Branch name to commit sha."""
        return self._refs("refs/heads/")

    def tags(self) -> dict[str, str]:
        """Tag name to the sha of the tag ref (a tag object for annotated tags)."""
        return self._refs("refs/tags/")

    def head(self, branch: str = "main") -> str:
        """The commit sha at the tip of ``branch``."""
        return self.rev_parse(f"refs/heads/{branch}")

    def rev_parse(self, ref: str, *, missing_ok: bool = False) -> str:
        """The sha ``ref`` names; "" when it does not exist and ``missing_ok``."""
        result = run_git("-C", str(self.path), "rev-parse", "--verify", "--quiet", ref, check=False)
        if result.returncode != 0:
            if missing_ok:
                return ""
            raise GitError(f"{ref} does not exist in {self.path}")
        return result.stdout.decode().strip()

    def read_file(self, path: str, ref: str = "main") -> bytes:
        """The content of ``path`` at ``ref``."""
        return run_git("-C", str(self.path), "show", f"{ref}:{path}").stdout

    def list_files(self, ref: str = "main") -> list[str]:
        """Every file path in the tree at ``ref``."""
        out = self._git("ls-tree", "-r", "--name-only", ref)
        return out.splitlines()

    def log(self, ref: str = "main") -> list[str]:
        """Commit shas reachable from ``ref``, newest first."""
        return self._git("rev-list", ref).splitlines()

    def message(self, ref: str = "main") -> str:
        """The full commit message at ``ref``."""
        return self._git("log", "-1", "--format=%B", ref)

    def _refs(self, prefix: str) -> dict[str, str]:
        out = self._git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        refs: dict[str, str] = {}
        for line in out.splitlines():
            refname, sha = line.split(" ", 1)
            refs[refname.removeprefix(prefix)] = sha
        return refs

    def _git(
        self, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None
    ) -> str:
        result = run_git("-C", str(self.path), *args, env=env, input=input)
        return result.stdout.decode().strip()


def repo_name(base_dir: Path, repo: BareRepo | str) -> str:
    """The path of ``repo`` relative to a server's ``base_dir``, as used in its URLs."""
    if isinstance(repo, str):
        return repo.strip("/")
    return repo.path.resolve().relative_to(base_dir.resolve()).as_posix()


@dataclass
class GitDaemon:
    """`git daemon` serving every repository under ``base_dir`` on git://, pushes allowed."""

    base_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The git:// URL of the base directory."""
        return f"git://127.0.0.1:{self.port}"

    def url_for(self, repo: BareRepo | str) -> str:
        """The git:// URL of ``repo`` (a BareRepo or a path relative to ``base_dir``)."""
        return f"{self.url}/{repo_name(self.base_dir, repo)}"

    def start(self, timeout: float = 15.0) -> None:
        """Start the daemon and wait until it accepts connections."""
        log_path = self.base_dir.parent / f"git-daemon-{self.port}.log"
        self.process = start_process(
            [
                "git",
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--informative-errors",
                "--enable=receive-pack",
                f"--base-path={self.base_dir.resolve()}",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--pid-file={log_path.with_suffix('.pid')}",
            ],
            log_path=log_path,
            env=server_git_env(),
        )
        wait_until_ready(
            self.process,
            lambda: port_open(self.port),
            what="git daemon",
            log_path=log_path,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Stop the daemon and any connection it is still serving."""
        stop_process(self.process)
        self.process = None
