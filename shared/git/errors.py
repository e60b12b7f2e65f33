"""The errors of git operations; each carries the Flux condition reason it maps to.

Exceptions::

    GitError                    base; `reason` is the Flux condition reason
    ├── InvalidSourceError      URL, ref or secret unusable as given (stalls)
    ├── AuthenticationFailed    credentials or host key refused
    ├── RepositoryNotFound      the server has no such repository
    ├── UnknownRef              no such branch, tag, ref or commit; no semver match
    ├── UnreachableHost         DNS failure, refused or dropped connection
    ├── GitTimeout              the operation outlived its timeout
    ├── PushRejected            the branch moved since it was fetched (a race lost)
    └── GitOperationFailed      anything else git reported
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "GitError",
    "GitOperationFailed",
    "GitTimeout",
    "InvalidSourceError",
    "PushRejected",
    "RepositoryNotFound",
    "UnknownRef",
    "UnreachableHost",
]


class GitError(Exception):
    """A git operation failed; the message never holds a secret."""

    reason = "GitOperationFailed"


class InvalidSourceError(GitError):
    """The URL, ref or secret cannot work as given: fix the spec or the secret."""

    reason = "URLInvalid"


class AuthenticationFailed(GitError):
    """The remote refused the credentials, or its host key is not in known_hosts."""

    reason = "AuthenticationFailed"


class RepositoryNotFound(GitError):
    """The server answered but has no repository at that path."""


class UnknownRef(GitError):
    """The branch, tag, ref or commit does not exist, or no tag matches the semver range."""


class UnreachableHost(GitError):
    """The host could not be resolved or connected to."""


class GitTimeout(GitError):
    """The git operation did not finish within the timeout."""


class GitOperationFailed(GitError):
    """git failed for another reason; its own message is included."""


class PushRejected(GitError):
    """The remote refused a push: its branch has commits the pushed one lacks."""
