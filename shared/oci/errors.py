"""The errors of registry operations, one tree for the client and the artifact layout.

Exceptions::

    OciError
     ├── AuthenticationError   401/403: missing or wrong credentials
     ├── NotFoundError         no such repository, tag, manifest or blob
     ├── DigestMismatchError   content that does not match its digest or size
     └── RegistryError         any other answer, or the registry unreachable

Messages say which operation on which repository failed and why, and never
hold a credential.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "DigestMismatchError",
    "NotFoundError",
    "OciError",
    "RegistryError",
]


class OciError(RuntimeError):
    """A registry operation failed; the message says which and why, without credentials.

    ``status`` is the HTTP status the registry (or its token service) answered, when
    it answered one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(OciError):
    """The registry refused the credentials (or wants some)."""


class NotFoundError(OciError):
    """The repository, tag, manifest or blob does not exist."""


class DigestMismatchError(OciError):
    """Downloaded content does not match the digest (or size) it was asked for by."""


class RegistryError(OciError):
    """Any other failure: an unexpected answer, a timeout, an unreachable registry."""
