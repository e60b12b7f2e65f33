"""Git for every service: credentials, running git under a deadline, and typed errors.

- :mod:`shared.git.auth`: what a secret holds (``GitAuth``), URL checks and
  redaction, and the environment that hands credentials to git.
- :mod:`shared.git.runner`: ``GitRunner`` runs git with one deadline and turns
  its failures into the errors below.
- :mod:`shared.git.errors`: ``GitError`` and its kinds, each with the Flux
  condition reason it maps to.

What to fetch and where to keep it is the caller's business (GitRepository's
mirrors live in services/source/git/mirror.py).
"""

from __future__ import annotations

from shared.git.auth import GitAuth, Remote, mirror_path, parse_url, redact_url
from shared.git.errors import (
    AuthenticationFailed,
    GitError,
    GitOperationFailed,
    GitTimeout,
    InvalidSourceError,
    RepositoryNotFound,
    UnknownRef,
    UnreachableHost,
)
from shared.git.runner import GitRunner

__all__ = [
    "AuthenticationFailed",
    "GitAuth",
    "GitError",
    "GitOperationFailed",
    "GitRunner",
    "GitTimeout",
    "InvalidSourceError",
    "Remote",
    "RepositoryNotFound",
    "UnknownRef",
    "UnreachableHost",
    "mirror_path",
    "parse_url",
    "redact_url",
]
