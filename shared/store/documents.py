"""Pure rules for stored documents: what is bookkeeping, what is spec, who owns what.

No Redis here. The store calls these inside its transactions, so each rule
(generation bumps, "unchanged", ownership labels, immutability) reads as one
small function that can be tested without a server.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, cast

from shared.keys import ObjectKey
from shared.secrets import fold_string_data, is_secret
from shared.store.errors import InvalidObject
from shared.store.layout import check_key
from shared.store.limits import object_size, object_too_big

__all__ = [
    "BOOKKEEPING",
    "OWNER_LABEL_GROUPS",
    "Document",
    "content",
    "finish",
    "immutable_violation",
    "keep_owner_labels",
    "key_of",
    "owner_labels",
    "owner_of",
    "prepare",
    "same_desired",
]

Document = dict[str, Any]

# Set by the store, never by the writer; differences here are not changes.
BOOKKEEPING = frozenset(
    {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"}
)
_NOT_CONTENT = frozenset({"apiVersion", "kind", "metadata", "status"})
# Flux's own labels, so objects sluice stores read as they would under Flux.
OWNER_LABEL_GROUPS = {
    "Kustomization": "kustomize.toolkit.fluxcd.io",
    "HelmRelease": "helm.toolkit.fluxcd.io",
}


def key_of(doc: object) -> ObjectKey:
    """The key of ``doc``, or InvalidObject saying which field is missing or bad."""
    if not isinstance(doc, dict):
        raise InvalidObject(f"expected an object (a mapping), got {type(doc).__name__}")
    kind, meta = doc.get("kind"), doc.get("metadata")
    if not isinstance(kind, str) or not kind:
        raise InvalidObject("object has no kind: set `kind`, e.g. GitRepository")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise InvalidObject(f"{kind} has no metadata.name: every object needs a name")
    namespace = meta.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise InvalidObject(f"{kind}/{meta['name']}: metadata.namespace must be a string")
    key = ObjectKey(kind, namespace, meta["name"])
    problem = check_key(key)
    if problem:
        raise InvalidObject(f"{key}: {problem}")
    return key


def content(doc: Document) -> Document:
    """What ``generation`` counts: everything but apiVersion, kind, metadata and status."""
    return {k: v for k, v in doc.items() if k not in _NOT_CONTENT}


def _user_metadata(doc: Document) -> Document:
    return {k: v for k, v in (doc.get("metadata") or {}).items() if k not in BOOKKEEPING}


def same_desired(previous: Document, desired: Document) -> bool:
    """Whether ``desired`` asks for nothing ``previous`` does not already have."""
    return (
        previous.get("apiVersion") == desired.get("apiVersion")
        and content(previous) == content(desired)
        and _user_metadata(previous) == _user_metadata(desired)
    )


def owner_labels(owner: ObjectKey) -> dict[str, str]:
    """The Flux labels that mark ``owner`` as the owner of an object."""
    group = OWNER_LABEL_GROUPS.get(owner.kind)
    if group is None:
        kinds = " or ".join(OWNER_LABEL_GROUPS)
        raise InvalidObject(f"{owner} cannot own stored objects: the owner must be a {kinds}")
    return {f"{group}/name": owner.name, f"{group}/namespace": owner.namespace}


def owner_of(doc: Document | None, *, scope: str = "") -> ObjectKey | None:
    """The owner named by ``doc``'s Flux labels (in ``doc``'s ``scope``), or None.

    An owner and what it stores share a scope, so the labels stay Flux's own.
    """
    labels = ((doc or {}).get("metadata") or {}).get("labels") or {}
    for kind, group in OWNER_LABEL_GROUPS.items():
        name, namespace = labels.get(f"{group}/name"), labels.get(f"{group}/namespace")
        if isinstance(name, str) and isinstance(namespace, str) and name and namespace:
            return ObjectKey(kind, namespace, name, scope)
    return None


def keep_owner_labels(desired: Document, previous: Document | None) -> None:
    """Carry ``previous``'s owner labels into ``desired`` when it names no owner itself."""
    old = owner_of(previous)
    if old is None or owner_of(desired) is not None:
        return
    desired["metadata"].setdefault("labels", {}).update(owner_labels(old))


def prepare(
    doc: object, *, owner: ObjectKey | None = None, scope: str = ""
) -> tuple[ObjectKey, Document]:
    """A checked, normalized copy of ``doc`` (its key in ``scope``): no status or bookkeeping.

    An object over the size limit (``shared.store.limits``) is refused here,
    whoever writes it: ``sluice apply`` or a Kustomization's build.
    """
    key = key_of(doc).in_scope(scope)
    problem = check_key(key)
    if problem:
        raise InvalidObject(f"{key}: {problem}")
    out: Document = copy.deepcopy(cast(Document, doc))
    out.pop("status", None)
    meta = {k: v for k, v in out["metadata"].items() if k not in BOOKKEEPING}
    meta["namespace"] = key.namespace
    for field in ("labels", "annotations"):
        if meta.get(field) in ({}, None):
            meta.pop(field, None)  # empty and absent mean the same; only one compares equal
        elif not isinstance(meta[field], dict):
            raise InvalidObject(f"{key}: metadata.{field} must be a mapping of key to string")
    labels = meta.get("labels")
    if owner is not None:
        meta["labels"] = {**(labels or {}), **owner_labels(owner)}
    out["metadata"] = meta
    if is_secret(out):
        try:
            out = fold_string_data(out)
        except ValueError as exc:
            raise InvalidObject(str(exc)) from None
    try:
        size = object_size(out)
    except (TypeError, ValueError) as exc:
        raise InvalidObject(f"{key}: cannot be stored as JSON: {exc}") from None
    problem = object_too_big(size)
    if problem:
        raise InvalidObject(f"{key}: {problem}")
    return key, out


def immutable_violation(previous: Document, desired: Document) -> str | None:
    """Why ``desired`` may not replace an ``immutable: true`` object, or None."""
    if previous.get("immutable") is True and content(previous) != content(desired):
        return (
            f"{previous['kind']} is immutable: its data cannot change; "
            "delete it and create it again"
        )
    return None


def finish(desired: Document, previous: Document | None, *, now: str) -> Document:
    """``desired`` with bookkeeping and status from ``previous`` (or new); no resourceVersion."""
    meta = desired["metadata"]
    if previous is None:
        book: Document = {"uid": str(uuid.uuid4()), "generation": 1, "creationTimestamp": now}
    else:
        old = previous["metadata"]
        bumped = content(previous) != content(desired)
        book = {
            "uid": old.get("uid"),
            "generation": int(old.get("generation") or 1) + (1 if bumped else 0),
            "creationTimestamp": old.get("creationTimestamp"),
        }
        if "status" in previous:
            desired["status"] = previous["status"]
    rest = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
    desired["metadata"] = {"name": meta["name"], "namespace": meta["namespace"], **book, **rest}
    return desired
