"""Table columns for ``sluice get``: what a Flux or kubectl user expects per kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.api.conditions import get_condition
from shared.plugins import kind_facts

__all__ = ["age", "cluster_columns", "cluster_rows", "columns_for", "rows_for"]

Row = list[str]
Column = tuple[str, Callable[[dict[str, Any]], str]]


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """kubectl's short age: 45s, 12m, 3h, 5d."""
    if not timestamp:
        return ""
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _ready(doc: dict[str, Any]) -> str:
    cond = get_condition(doc.get("status"), "Ready")
    return str(cond.get("status", "Unknown")) if cond else "Unknown"


def _message(doc: dict[str, Any]) -> str:
    cond = get_condition(doc.get("status"), "Ready")
    return str(cond.get("message", "")) if cond else ""


def _suspended(doc: dict[str, Any]) -> str:
    return "True" if (doc.get("spec") or {}).get("suspend") else "False"


def _applied(doc: dict[str, Any]) -> str:
    return str((doc.get("status") or {}).get("lastAppliedRevision", ""))


def _data_count(doc: dict[str, Any]) -> str:
    return str(len(doc.get("data") or {}) + len(doc.get("binaryData") or {}))


def _labels(doc: dict[str, Any]) -> str:
    labels = (doc.get("metadata") or {}).get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _age(doc: dict[str, Any]) -> str:
    return age((doc.get("metadata") or {}).get("creationTimestamp"))


_FLUX_STATUS: list[Column] = [
    ("AGE", _age),
    ("READY", _ready),
    ("STATUS", _message),
]

# Columns of the kinds that no service reconciles; a reconciled kind gets
# `flux get`'s own (_reconciled).
_COLUMNS: dict[str, list[Column]] = {
    "Cluster": [("LABELS", _labels), *_FLUX_STATUS],
    "Secret": [
        ("TYPE", lambda d: str(d.get("type", "Opaque"))),
        ("DATA", _data_count),
        ("AGE", _age),
    ],
    "ConfigMap": [("DATA", _data_count), ("AGE", _age)],
}


def _columns(kind: str) -> list[Column]:
    facts = kind_facts(kind)
    if facts is None:
        return _COLUMNS.get(kind, _FLUX_STATUS)
    # `flux get`'s columns: the revision is where the kind's status keeps it.
    revision: list[Column] = [("REVISION", facts.revision_of)] if facts.revision else []
    return [
        *revision,
        ("SUSPENDED", _suspended),
        ("READY", _ready),
        ("MESSAGE", _message),
    ]


def columns_for(kind: str, *, all_namespaces: bool) -> list[str]:
    """Header of the table for one kind."""
    names = [name for name, _ in _columns(kind)]
    return ["NAMESPACE", "NAME", *names] if all_namespaces else ["NAME", *names]


def rows_for(kind: str, docs: Sequence[dict[str, Any]], *, all_namespaces: bool) -> list[Row]:
    """One row per object, in the order of ``columns_for``."""
    rows = []
    columns = _columns(kind)
    for doc in docs:
        meta = doc.get("metadata") or {}
        cells = [fn(doc) for _, fn in columns]
        head = [str(meta.get("namespace", "")), str(meta.get("name", ""))]
        rows.append(head + cells if all_namespaces else head[1:] + cells)
    return rows


def cluster_columns(*, all_namespaces: bool) -> list[str]:
    """Header of ``get ks --clusters``: one row per (Kustomization, cluster)."""
    names = ["NAME", "CLUSTER", "REVISION", "READY", "MESSAGE"]
    return ["NAMESPACE", *names] if all_namespaces else names


def cluster_rows(docs: Sequence[dict[str, Any]], *, all_namespaces: bool) -> list[Row]:
    """``status.clusters[]`` as rows; an object with none yet gets one row of its own.

    Each entry's revision is read where its kind keeps it (a Kustomization's
    last applied, a HelmRelease's last attempted chart version).
    """
    rows = []
    for doc in docs:
        facts = kind_facts(str(doc.get("kind", "")))
        revision_of = facts.revision_of if facts else _applied
        meta = doc.get("metadata") or {}
        head = [str(meta.get("namespace", "")), str(meta.get("name", ""))]
        head = head if all_namespaces else head[1:]
        entries = (doc.get("status") or {}).get("clusters") or []
        if not entries:
            # Failed before any cluster (source, build): its own Ready says why.
            rows.append([*head, "-", "", _ready(doc), _message(doc)])
        for entry in entries:
            # An entry holds its conditions and revisions as a status does.
            as_doc = {"status": entry}
            cells = [str(entry.get("name", "")), revision_of(as_doc)]
            rows.append([*head, *cells, _ready(as_doc), _message(as_doc)])
    return rows
