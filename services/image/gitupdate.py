"""An image update's trip through Git: check out, edit, commit, push; again on a lost race.

As image-automation-controller (``internal/source``): the checkout is the
automation's ``git.checkout.ref``, or else its GitRepository's ref; when
``git.push.branch`` names another branch, the work continues on that branch
if the remote has it (so later updates build on earlier ones) and starts it
from the checkout otherwise; the commit goes to the push branch, then to
``git.push.refspec`` if one is given, with ``git.push.options`` as push
options. Nothing staged, no commit. Unlike Flux, a push the remote rejects
because the branch moved is not left to the next interval: the work is
done again on a fresh checkout and pushed again, a few times.

Credentials reach git only through ``shared.git.auth.credentials_env``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from shared.git.auth import GitAuth, credentials_env, parse_url
from shared.git.errors import InvalidSourceError, PushRejected
from shared.git.runner import GitRunner

__all__ = ["Author", "CheckoutRef", "PushSpec", "Pushed", "push_update"]

T = TypeVar("T")
# A push lost to another writer is done again this many times in all.
ATTEMPTS = 3


@dataclass(frozen=True)
class CheckoutRef:
    """What to check out: a branch, a tag or a commit (the first given)."""

    branch: str = ""
    tag: str = ""
    commit: str = ""


@dataclass(frozen=True)
class PushSpec:
    """Where the commit goes: a branch (default: the checked-out one), a refspec, push options."""

    branch: str = ""
    refspec: str = ""
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Author:
    """``git.commit.author``: who the commits are by."""

    name: str
    email: str


@dataclass(frozen=True)
class Pushed(Generic[T]):
    """A pushed commit: its sha, the branch it went to, its message, and what the edit made."""

    commit: str
    branch: str
    message: str
    change: T
    attempts: int


def _push_branch(checkout: CheckoutRef, push: PushSpec) -> str:
    branch = push.branch or checkout.branch
    if not branch:
        raise InvalidSourceError(
            "spec.git.push.branch is required when the checkout is a tag or a commit"
        )
    return branch


def _check_out(git: GitRunner, tree: Path, url: str, checkout: CheckoutRef) -> None:
    work = ["-C", str(tree)]
    git.run(["init", "--quiet", str(tree)])
    git.run([*work, "remote", "add", "origin", url])
    if checkout.commit:
        git.run([*work, "fetch", "--quiet", "--no-tags", "origin"])
        git.run([*work, "checkout", "--quiet", "--detach", checkout.commit])
        return
    ref = f"refs/tags/{checkout.tag}" if checkout.tag else f"refs/heads/{checkout.branch}"
    git.run([*work, "fetch", "--quiet", "--no-tags", "--depth=1", "origin", ref])
    git.run([*work, "checkout", "--quiet", "--detach", "FETCH_HEAD"])


def _switch(git: GitRunner, tree: Path, branch: str, *, checked_out: str) -> None:
    """Work on ``branch``: the remote's if it has one (and is not the checkout), else a new one."""
    work = ["-C", str(tree)]
    if branch != checked_out:
        found = git.run([*work, "ls-remote", "--heads", "origin", f"refs/heads/{branch}"])
        if found.strip():
            git.run(
                [
                    *work,
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--depth=1",
                    "origin",
                    f"refs/heads/{branch}",
                ]
            )
            git.run([*work, "checkout", "--quiet", "--detach", "FETCH_HEAD"])
    git.run([*work, "checkout", "--quiet", "-B", branch])


def _attempt(
    git: GitRunner,
    scratch: Path,
    url: str,
    *,
    checkout: CheckoutRef,
    push: PushSpec,
    author: Author,
    edit: Callable[[Path], T | None],
    message: Callable[[T], str],
) -> tuple[str, str, T] | None:
    tree = scratch / "tree"
    branch = _push_branch(checkout, push)
    _check_out(git, tree, url, checkout)
    _switch(git, tree, branch, checked_out=checkout.branch)
    change = edit(tree)
    work = ["-C", str(tree)]
    git.run([*work, "add", "--all"])
    if change is None or not git.run([*work, "status", "--porcelain"]).strip():
        return None
    text = message(change)
    identity = ["-c", f"user.name={author.name}", "-c", f"user.email={author.email}"]
    git.run(
        [*work, *identity, "commit", "--quiet", "--no-verify", "--allow-empty-message", "-m", text]
    )
    options = [f"--push-option={k}={v}" for k, v in sorted(push.options.items())]
    git.run([*work, "push", "--quiet", *options, "origin", f"HEAD:refs/heads/{branch}"])
    if push.refspec:
        git.run([*work, "push", "--quiet", *options, "origin", push.refspec])
    commit = git.run([*work, "rev-parse", "HEAD"]).decode().strip()
    return commit, text, change


def push_update(
    url: str,
    *,
    auth: GitAuth,
    checkout: CheckoutRef,
    push: PushSpec,
    author: Author,
    edit: Callable[[Path], T | None],
    message: Callable[[T], str],
    timeout: float = 60.0,
) -> Pushed[T] | None:
    """Check out, ``edit`` the tree, commit ``message(change)`` and push; None if nothing changed.

    ``edit`` returns what it changed, or None for nothing. Raises the errors
    of ``shared.git.errors`` (credentials masked); PushRejected only after
    every attempt lost its race.
    """
    remote, auth = parse_url(url, auth)
    git = GitRunner(remote, auth, deadline=time.monotonic() + timeout)
    for attempt in range(1, ATTEMPTS + 1):
        with (
            tempfile.TemporaryDirectory(prefix="sluice-image-update-") as scratch,
            credentials_env(remote, auth) as git.env,
        ):
            try:
                done = _attempt(
                    git, Path(scratch), remote.url,
                    checkout=checkout, push=push, author=author, edit=edit, message=message,
                )  # fmt: skip
            except PushRejected:
                if attempt == ATTEMPTS:
                    raise
                continue
        if done is None:
            return None
        commit, text, change = done
        return Pushed(commit, _push_branch(checkout, push), text, change, attempt)
    raise AssertionError("unreachable")  # the loop returns or raises
