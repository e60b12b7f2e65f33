"""The object store: Flux-shaped documents in Redis (``layout``: the keys, ``limits``: sizes)."""

from shared.store.changes import Change, ChangeType
from shared.store.documents import OWNER_LABEL_GROUPS, Document, owner_labels, owner_of
from shared.store.errors import (
    AlreadyExists,
    Conflict,
    InvalidObject,
    NotFound,
    OwnedByAnother,
    StoreError,
)
from shared.store.store import ApplyResult, Released, Store

__all__ = [
    "OWNER_LABEL_GROUPS",
    "AlreadyExists",
    "ApplyResult",
    "Change",
    "ChangeType",
    "Conflict",
    "Document",
    "InvalidObject",
    "NotFound",
    "OwnedByAnother",
    "Released",
    "Store",
    "StoreError",
    "owner_labels",
    "owner_of",
]
