"""What changed in one object between the cluster and the release: JSON patch operations.

Pure: no I/O. Once the shared plan (``shared.kube.plan``) has said an object
would be configured, this lists what re-applying the release would change,
the way Flux's helm-controller counts it (fluxcd/pkg ssa/jsondiff, itself
wI2L/jsondiff with ``Rationalize``):

- everything but ``metadata`` and ``status`` is compared, live against the
  dry-run result;
- of ``metadata``, only labels and annotations, and only what would be added
  or replaced: labels other controllers added to the live object are no drift;
- maps key by key; lists index by index (extra items are removed or
  appended); values of different types are replaced whole;
- rationalized: when the operations under one node would be longer as JSON
  than replacing the node whole, the node is replaced whole.

A change carries its operation and JSON pointer only, never the value, so a
Secret's data cannot leak through a report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["FieldChange", "Op", "count", "field_changes"]


class Op(StrEnum):
    """A JSON patch operation (RFC 6902)."""

    ADD = "add"
    REPLACE = "replace"
    REMOVE = "remove"


@dataclass(frozen=True)
class FieldChange:
    """One operation that turns the live object into the desired one."""

    op: Op
    path: str  # JSON pointer, ``~1`` for ``/``

    def __str__(self) -> str:
        return f"{self.op} {self.path}"


@dataclass(frozen=True)
class _Pending:
    change: FieldChange
    size: int  # length of the operation as JSON, for rationalizing


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _size(op: Op, path: str, value: Any = None) -> int:
    doc: dict[str, Any] = {"op": str(op), "path": path}
    if op != Op.REMOVE:
        doc["value"] = value
    return len(json.dumps(doc, separators=(",", ":"), default=str))


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _diff(path: str, live: Any, desired: Any, out: list[_Pending]) -> None:
    if _kind(live) != _kind(desired):
        out.append(_Pending(FieldChange(Op.REPLACE, path), _size(Op.REPLACE, path, desired)))
        return
    if live == desired:
        return
    start = len(out)
    if isinstance(live, Mapping):
        for key in sorted(set(live) | set(desired)):
            child = f"{path}/{_escape(str(key))}"
            if key not in desired:
                out.append(_Pending(FieldChange(Op.REMOVE, child), _size(Op.REMOVE, child)))
            elif key not in live:
                size = _size(Op.ADD, child, desired[key])
                out.append(_Pending(FieldChange(Op.ADD, child), size))
            else:
                _diff(child, live[key], desired[key], out)
    elif isinstance(live, list):
        common = min(len(live), len(desired))
        for index in range(common):
            _diff(f"{path}/{index}", live[index], desired[index], out)
        # Every removal is at the same index: the items after it move up.
        at = f"{path}/{common}"
        for _ in live[common:]:
            out.append(_Pending(FieldChange(Op.REMOVE, at), _size(Op.REMOVE, at)))
        for item in desired[common:]:
            at = f"{path}/-"
            out.append(_Pending(FieldChange(Op.ADD, at), _size(Op.ADD, at, item)))
    else:
        out.append(_Pending(FieldChange(Op.REPLACE, path), _size(Op.REPLACE, path, desired)))
        return
    whole = _size(Op.REPLACE, path, desired)
    if sum(p.size for p in out[start:]) > whole:
        del out[start:]
        out.append(_Pending(FieldChange(Op.REPLACE, path), whole))


def _labels_and_annotations(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
    return {"metadata": kept}


def _body(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def field_changes(live: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The operations that would turn ``live`` into ``desired`` (a dry-run result), as Flux counts.

    Ignored fields must already be gone from both (``driftignore.without_paths``).
    """
    meta: list[_Pending] = []
    _diff("", _labels_and_annotations(live), _labels_and_annotations(desired), meta)
    body: list[_Pending] = []
    _diff("", _body(live), _body(desired), body)
    kept = [p.change for p in meta if p.change.op != Op.REMOVE]
    return (*kept, *(p.change for p in body))


def count(changes: Sequence[FieldChange]) -> tuple[int, int, int]:
    """(additions, changes, removals), as Flux's event message counts them."""
    return (
        sum(c.op == Op.ADD for c in changes),
        sum(c.op == Op.REPLACE for c in changes),
        sum(c.op == Op.REMOVE for c in changes),
    )
