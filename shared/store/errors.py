"""The store's exceptions; every message names the object and says what to do.

    StoreError            base: catch this to handle any store failure
    ├── NotFound          the object does not exist
    ├── AlreadyExists     create() of an object that exists
    ├── Conflict          stale resourceVersion, immutable object, or too much contention
    │   └── OwnedByAnother  a Kustomization's write of an object another one owns
    └── InvalidObject     the document cannot be stored (no kind or name, not JSON, ...)

Reading a Secret stored under another key raises ``shared.secrets.SecretKeyError``.
"""

from __future__ import annotations

from shared.keys import ObjectKey

__all__ = ["AlreadyExists", "Conflict", "InvalidObject", "NotFound", "OwnedByAnother", "StoreError"]


class StoreError(Exception):
    """Base of every error the store raises about an object."""


class NotFound(StoreError):
    """The object does not exist in the store."""

    def __init__(self, key: ObjectKey, hint: str = "check the name and namespace") -> None:
        super().__init__(f"{key} not found: {hint}")
        self.key = key


class AlreadyExists(StoreError):
    """``create`` of an object that is already stored."""

    def __init__(self, key: ObjectKey) -> None:
        super().__init__(f"{key} already exists: use apply or update to change it")
        self.key = key


class Conflict(StoreError):
    """The write was refused because the stored object is not what the caller expected."""

    def __init__(self, key: ObjectKey, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key


class OwnedByAnother(Conflict):
    """An owner's write of an object that another (existing) owner holds: refused, not moved."""

    def __init__(self, key: ObjectKey, *, owner: ObjectKey, writer: ObjectKey) -> None:
        # Not Conflict's "key: reason": the sentence reads "X is managed by Y".
        StoreError.__init__(
            self,
            f"{key} is managed by {owner}; {writer} cannot take it over: "
            "remove it from one of the two builds",
        )
        self.key = key
        self.owner = owner
        self.writer = writer


class InvalidObject(StoreError):
    """The document cannot be stored as given."""
