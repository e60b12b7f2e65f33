"""Object references, Flux inventories and apply change sets.

Pure: no I/O. An inventory is what one owner (a Kustomization) applied to one cluster,
kept in ``status.inventory.entries[] {id, v}`` in Flux's own format so a fleet
migrating from Flux keeps its garbage-collection history:

- ``id`` is ``<namespace>_<name>_<group>_<kind>``: cluster-scoped objects have an
  empty namespace (``_ns1__Namespace``), the core group is empty
  (``default_podinfo__Service``) and ``:`` in names is written ``__``;
- ``v`` is the version the object was applied with.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Action",
    "Change",
    "ChangeSet",
    "Inventory",
    "ObjectError",
    "ObjectRef",
    "stale_objects",
]

_SEP = "_"
_COLON = "__"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One Kubernetes object by identity; ``version`` rides along but is not part of it."""

    group: str
    kind: str
    namespace: str
    name: str
    version: str = field(default="", compare=False)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The reference of an object dict (``apiVersion``, ``kind``, ``metadata``)."""
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        return cls(
            group=group,
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            version=version,
        )

    @classmethod
    def from_id(cls, entry_id: str, version: str = "") -> ObjectRef:
        """Parse a Flux inventory id, as Flux's ``ParseObjMetadata`` does."""
        namespace, sep, rest = entry_id.partition(_SEP)
        head, sep2, kind = rest.rpartition(_SEP)
        name, sep3, group = head.rpartition(_SEP)
        name = name.replace(_COLON, ":")
        if not (sep and sep2 and sep3) or not name or not kind or _SEP in name:
            raise ValueError(
                f"inventory id {entry_id!r} is not valid: expected "
                "'<namespace>_<name>_<group>_<kind>'"
            )
        return cls(group=group, kind=kind, namespace=namespace, name=name, version=version)

    @property
    def id(self) -> str:
        """The Flux inventory id ``<namespace>_<name>_<group>_<kind>``."""
        name = self.name.replace(":", _COLON)
        return f"{self.namespace}{_SEP}{name}{_SEP}{self.group}{_SEP}{self.kind}"

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        # Flux's FmtUnstructured: Kind/namespace/name, or Kind/name when cluster-scoped.
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Inventory:
    """What one owner applied to one cluster, in apply order, one entry per id."""

    entries: tuple[ObjectRef, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        kept = []
        for ref in self.entries:
            if ref.id not in seen:
                seen.add(ref.id)
                kept.append(ref)
        if len(kept) != len(self.entries):
            object.__setattr__(self, "entries", tuple(kept))

    @classmethod
    def from_status(cls, inventory: Mapping[str, Any] | None) -> Inventory:
        """Read ``status.inventory`` (``{"entries": [{"id", "v"}]}``); None gives an empty one."""
        if not inventory:
            return cls()
        raw = inventory.get("entries") or []
        return cls(tuple(ObjectRef.from_id(str(e["id"]), str(e.get("v", ""))) for e in raw))

    @classmethod
    def from_refs(cls, refs: Iterable[ObjectRef]) -> Inventory:
        """An inventory holding ``refs`` in the given order."""
        return cls(tuple(refs))

    def to_status(self) -> dict[str, list[dict[str, str]]]:
        """The ``status.inventory`` value Flux writes."""
        return {"entries": [{"id": ref.id, "v": ref.version} for ref in self.entries]}

    def ids(self) -> frozenset[str]:
        """The ids of all entries."""
        return frozenset(ref.id for ref in self.entries)

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, ObjectRef) and ref.id in self.ids()

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def stale_objects(old: Inventory, new: Inventory) -> tuple[ObjectRef, ...]:
    """Entries of ``old`` whose id is not in ``new``, with the version they were applied at."""
    keep = new.ids()
    return tuple(ref for ref in old.entries if ref.id not in keep)


class Action(StrEnum):
    """What applying (or pruning) did to one object, in Flux's words."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    """One object and what happened to it."""

    ref: ObjectRef
    action: Action

    def __str__(self) -> str:
        return f"{self.ref} {self.action}"


@dataclass(frozen=True)
class ChangeSet:
    """The per-object result of one apply, in apply order."""

    changes: tuple[Change, ...] = ()

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.changes + other.changes)

    def action_of(self, ref: ObjectRef) -> Action | None:
        """The action recorded for ``ref``, or None when it is not in the set."""
        return next((c.action for c in self.changes if c.ref.id == ref.id), None)

    def changed(self) -> tuple[Change, ...]:
        """Objects created, configured (drift corrected) or deleted."""
        changing = (Action.CREATED, Action.CONFIGURED, Action.DELETED)
        return tuple(c for c in self.changes if c.action in changing)

    def refs(self, *, skipped: bool = True) -> tuple[ObjectRef, ...]:
        """All objects of the set; ``skipped=False`` leaves out the skipped ones."""
        return tuple(c.ref for c in self.changes if skipped or c.action != Action.SKIPPED)

    def inventory(self) -> Inventory:
        """The new inventory: every object of the revision, skipped ones included, as Flux does."""
        return Inventory.from_refs(self.refs())

    def summary(self) -> str:
        """One ``Kind/ns/name action`` line per changed object, for the info event."""
        return "\n".join(str(c) for c in self.changed())


@dataclass(frozen=True)
class ObjectError:
    """An object the API server (or a check before it) refused, and why."""

    ref: ObjectRef
    reason: str
    message: str
    operation: str = "apply"

    def __str__(self) -> str:
        # Flux: "Deployment/ns/name dry-run failed (Invalid): <API server message>".
        return f"{self.ref} {self.operation} failed ({self.reason}): {self.message}"
