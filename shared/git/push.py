"""Write files into a branch of a remote repository: shallow clone, commit, push.

``sluice bootstrap --commit`` uses this to leave ``gotk-sync.yaml`` in the
repository, as ``flux bootstrap`` does. A commit is made only when a file's
content differs from the branch's, so running it twice pushes once.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shared.git.auth import GitAuth, credentials_env, parse_url
from shared.git.errors import InvalidSourceError
from shared.git.runner import GitRunner

__all__ = ["CommitResult", "commit_files"]

_AUTHOR = ("sluice", "sluice@localhost")


@dataclass(frozen=True)
class CommitResult:
    """The branch's head after the call, and whether this call made (and pushed) it."""

    commit: str
    pushed: bool


def _checked(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise InvalidSourceError(f"{path!r}: expected a path inside the repository")
    return relative


def commit_files(
    url: str,
    files: Mapping[str, str],
    *,
    branch: str,
    message: str,
    auth: GitAuth | None = None,
    timeout: float = 60.0,
) -> CommitResult:
    """Make ``branch`` hold ``files`` (path -> text), pushing one commit if anything changed.

    Raises the errors of ``shared.git.errors`` (authentication, not found, a
    push refused because the branch moved, ...), secrets masked.
    """
    remote, auth = parse_url(url, auth or GitAuth())
    git = GitRunner(remote, auth, deadline=time.monotonic() + timeout)
    with tempfile.TemporaryDirectory(prefix="sluice-commit-") as scratch:
        tree = Path(scratch) / "tree"
        with credentials_env(remote, auth) as git.env:
            git.run(["clone", "--depth=1", "--no-tags", "--branch", branch, remote.url, str(tree)])
            work = ["-C", str(tree)]
            for path, text in files.items():
                target = tree / _checked(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
                git.run([*work, "add", "--", str(_checked(path))])
            if not git.run([*work, "status", "--porcelain"]).strip():
                head = git.run([*work, "rev-parse", "HEAD"]).decode().strip()
                return CommitResult(head, pushed=False)
            name, email = _AUTHOR
            identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
            git.run([*work, *identity, "commit", "--quiet", "-m", message])
            git.run([*work, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"])
            head = git.run([*work, "rev-parse", "HEAD"]).decode().strip()
            return CommitResult(head, pushed=True)
