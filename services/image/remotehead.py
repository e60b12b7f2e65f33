"""A branch's head commit on a Git remote, read with one ``ls-remote`` (no clone).

image-automation-controller skips the clone when nothing can have changed:
the policies' choices are those it observed and the branch it works on is
still at the commit it observed (FLUX-API §6.4, "no change since last
reconciliation"). This is that check's remote half. Credentials reach git
only through ``shared.git.auth.credentials_env``; errors are
``shared.git.errors`` with credentials masked.
"""

from __future__ import annotations

import time

from shared.git.auth import GitAuth, credentials_env, parse_url
from shared.git.runner import GitRunner

__all__ = ["remote_head"]


def remote_head(url: str, *, auth: GitAuth, branch: str, timeout: float = 60.0) -> str:
    """The sha ``refs/heads/<branch>`` points at on ``url``, or "" when the branch is absent."""
    remote, auth = parse_url(url, auth)
    git = GitRunner(remote, auth, deadline=time.monotonic() + timeout)
    ref = f"refs/heads/{branch}"
    with credentials_env(remote, auth) as git.env:
        advertised = git.ls_remote("--heads", (ref,))
    return advertised.get(ref, "")
