"""Running git: one deadline per operation, secrets masked, failures turned into typed errors.

Every service that talks to a git remote (GitRepository fetches, image
automation's clone, commit and push) runs git through :class:`GitRunner`: it
counts network calls, runs git under the memory and CPU caps of
:mod:`shared.toolrun` (git reads whatever a remote sends), kills git and its
ssh or remote helper when the deadline passes, and maps git's stderr to the
errors of :mod:`shared.git.errors`, with passwords and tokens replaced by
``***``. Credentials reach git through the environment that
:func:`shared.git.auth.credentials_env` prepares.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

from shared.git.auth import GitAuth, Remote, base_env
from shared.git.errors import (
    AuthenticationFailed,
    GitError,
    GitOperationFailed,
    GitTimeout,
    PushRejected,
    RepositoryNotFound,
    UnknownRef,
    UnreachableHost,
)
from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool

__all__ = ["DEFAULT_LIMITS", "GitRunner", "classify_failure"]

# Settings' defaults (tool_memory_limit_mb, tool_cpu_seconds); each run's timeout
# is what is left of the operation's deadline.
DEFAULT_LIMITS = ToolLimits(memory_bytes=2048 << 20, cpu_seconds=300, timeout=60.0)


class GitRunner:
    """Runs git under one deadline, counting network calls and classifying failures."""

    def __init__(
        self, remote: Remote, auth: GitAuth, *, deadline: float, limits: ToolLimits = DEFAULT_LIMITS
    ) -> None:
        self.remote, self.deadline, self.limits = remote, deadline, limits
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
        """Output of `git args`; a typed GitError when it fails, hits a cap or runs out of time."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise GitTimeout(f"git timed out on {self.remote.display}")
        limits = replace(self.limits, timeout=remaining)
        try:
            done = run_tool(["git", *args], limits=limits, env=self.env)
        except ToolLimitExceeded as exc:
            if exc.cause == "time":
                raise GitTimeout(f"git timed out on {self.remote.display}") from None
            raise GitOperationFailed(f"{exc} ({self.remote.display})") from None
        if done.returncode != 0 and check:
            text = done.stderr.decode(errors="replace")
            for secret in self.secrets:
                text = text.replace(secret, "***")
            raise classify_failure(re.sub(r"(://)[^/@\s]*:[^/@\s]*@", r"\1***@", text), self.remote)
        return done.stdout


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
    (PushRejected, r"\[rejected\]|non-fast-forward|\(fetch first\)|failed to push some refs",
     "push rejected, the branch moved"),
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
