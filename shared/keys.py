"""ObjectKey: how every process names one object (store keys, leases, events, tasks)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ObjectKey"]


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Kind, namespace and name of one stored object; messages carry these, never snapshots."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """Parse ``Kind/namespace/name`` as written by ``str()``."""
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"object key {text!r}: expected Kind/namespace/name")
        return cls(*parts)

    @classmethod
    def of(cls, obj: dict[str, object]) -> ObjectKey:
        """The key of an object document (``kind`` plus ``metadata.namespace/name``)."""
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise ValueError("object has no metadata")
        return cls(str(obj["kind"]), str(meta.get("namespace") or "default"), str(meta["name"]))
