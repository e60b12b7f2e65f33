"""Running git: one deadline per operation, secrets masked, failures turned into typed errors.

Every service that talks to a git remote (GitRepository fetches, image
automation's clone, commit and push) runs git through :class:`GitRunner`: it
counts network calls, kills git and its ssh or remote helper when the deadline
passes, and maps git's stderr to the errors of :mod:`shared.git.errors`, with
passwords and tokens replaced by ``***``. Credentials reach git through the
environment that :func:`shared.git.auth.credentials_env` prepares.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from shared.git.auth import GitAuth, Remote, base_env
from shared.git.errors import (
    AuthenticationFailed,
    GitError,
    GitOperationFailed,
    GitTimeout,
    RepositoryNotFound,
    UnknownRef,
    UnreachableHost,
)

__all__ = ["GitRunner", "classify_failure"]


class GitRunner:
    """Runs git under one deadline, counting network calls and classifying failures."""

    def __init__(self, remote: Remote, auth: GitAuth, *, deadline: float) -> None:
        self.remote, self.deadline = remote, deadline
        self.secrets = [s for s in (auth.password, auth.bearer_token, auth.basic()) if len(s) > 2]
        self.env = base_env()
        self.calls = 0
        self.fetched = False

    def ls_remote(self, selector: str, patterns: tuple[str, ...]) -> dict[str, str]:
        """Ref name to sha as the remote advertises them (peeled tags as `name^{}`)."""
        self.calls += 1
        args = ["ls-remote", *([selector] if selector else []), self.remote.url, *patterns]
        lines = self.run(args).decode(errors="replace").splitlines()
        return {name.strip(): sha for sha, _, name in (line.partition("\t") for line in lines)}

    def fetch(self, mirror: Path, refspecs: list[str], *, depth: bool) -> None:
        """Fetch `refspecs` into `mirror`: depth 1, or the full history of those refs."""
        self.calls += 1
        self.fetched = True
        args = ["--git-dir", str(mirror), "fetch", "--no-tags", "--no-write-fetch-head"]
        shallow = ["--git-dir", str(mirror), "rev-parse", "--is-shallow-repository"]
        if depth:
            args.append("--depth=1")
        elif self.run(shallow).strip() == b"true":
            args.append("--unshallow")
        self.run([*args, "--no-recurse-submodules", self.remote.url, *refspecs])

    def run(self, args: list[str], *, check: bool = True) -> bytes:
        """Output of `git args`; a typed GitError when it fails or runs out of time."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise GitTimeout(f"git timed out on {self.remote.display}")
        process = subprocess.Popen(
            ["git", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env, start_new_session=True,
        )  # fmt: skip
        try:
            out, err = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            # Its own session: ssh and the remote helpers die with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise GitTimeout(f"git timed out on {self.remote.display}") from None
        if process.returncode != 0 and check:
            text = err.decode(errors="replace")
            for secret in self.secrets:
                text = text.replace(secret, "***")
            raise classify_failure(re.sub(r"(://)[^/@\s]*:[^/@\s]*@", r"\1***@", text), self.remote)
        return out


_NOISE = re.compile(
    r"could not read from remote|correct access rights|repository exists|^warning:|askpass"
    r"|terminal prompts disabled",
    re.IGNORECASE,
)
_KINDS: list[tuple[type[GitError], str, str]] = [
    (AuthenticationFailed, r"host key verification failed|remote host identification",
     "the server's host key is not in the secret's known_hosts"),
    (AuthenticationFailed, r"authentication failed|could not read (username|password)"
     r"|permission denied|returned error: 40[13]|incorrect passphrase|load key",
     "authentication failed: check the credentials in the secret"),
    (RepositoryNotFound, r"repository .*not found|does not appear to be a git repository"
     r"|not exported|returned error: 404|no such repository",
     "repository not found: check the URL"),
    (UnknownRef, r"couldn't find remote ref|not our ref|unadvertised object|no such remote ref",
     "ref not found: check spec.ref"),
    (UnreachableHost, r"could not resolve|connection refused|failed to connect|unable to connect"
     r"|timed out|network is unreachable|no route to host|connection reset|connection closed"
     r"|kex_exchange_identification|couldn't connect", "host unreachable"),
]  # fmt: skip


def classify_failure(stderr: str, remote: Remote) -> GitError:
    """The typed error for git's stderr (secrets already masked): auth, not found, unreachable..."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not _NOISE.search(line)] or lines[-1:]
    detail = "; ".join(re.sub(r"^(fatal|error|remote): ", "", line) for line in useful[:2])
    if re.search(r"could not read username", stderr, re.IGNORECASE):
        detail = "the server asked for credentials (HTTP 401) and refused those given, if any"
    for kind, pattern, summary in _KINDS:
        if re.search(pattern, stderr, re.IGNORECASE):
            return kind(f"{summary} ({remote.display}): {detail or 'no detail from git'}")
    return GitOperationFailed(f"git failed ({remote.display}): {detail or 'no detail from git'}")
