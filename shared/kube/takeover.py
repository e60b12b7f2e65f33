"""Taking an object over from kubectl (or another named manager) on the first apply.

Objects applied by hand before sluice carry kubectl's last-applied annotation and
managedFields entries; left alone, fields sluice drops from Git would stay
(owned by kubectl) instead of being removed. As Flux does, the leftovers are
removed and kubectl's fields are handed to sluice's field manager.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.kube.client import JSON_PATCH, KubeClient

__all__ = ["cleanup_ops", "take_over"]

_CLEANUP_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
)
_CLEANUP_LABELS = ("fluxcd.io/sync-gc-mark",)
_KUBECTL_MANAGERS = frozenset(
    {("kubectl", "Apply"), ("kubectl", "Update"), ("before-first-apply", "Update")}
)


def _merge_fields(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge_fields(old, value)
        else:
            out[key] = value
    return out


def cleanup_ops(
    live: Mapping[str, Any], field_manager: str, override_managers: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """JSON patch removing kubectl's leftovers and handing its fields to sluice's manager."""
    meta = live.get("metadata") or {}
    ops: list[dict[str, Any]] = []
    for where, keys in (("annotations", _CLEANUP_ANNOTATIONS), ("labels", _CLEANUP_LABELS)):
        for key in keys:
            if key in (meta.get(where) or {}):
                path = f"/metadata/{where}/{key.replace('~', '~0').replace('/', '~1')}"
                ops.append({"op": "remove", "path": path})
    taken: dict[str, Any] | None = None
    kept: list[dict[str, Any]] = []
    others = {(name, op) for name in override_managers for op in ("Apply", "Update")}
    managers = _KUBECTL_MANAGERS | others | {(field_manager, "Update")}
    for entry in meta.get("managedFields") or []:
        who = (entry.get("manager"), entry.get("operation"))
        if who in managers and not entry.get("subresource"):
            taken = _merge_fields(taken or {}, entry.get("fieldsV1") or {})
        else:
            kept.append(dict(entry))
    if taken is not None:
        mine_key = (field_manager, "Apply", None)
        owned = [
            e
            for e in kept
            if (e.get("manager"), e.get("operation"), e.get("subresource")) == mine_key
        ]
        if not owned:
            owned = [{"manager": mine_key[0], "operation": "Apply", "fieldsType": "FieldsV1"}]
            owned[0]["apiVersion"] = live.get("apiVersion")
            kept.append(owned[0])
        owned[0]["fieldsV1"] = _merge_fields(owned[0].get("fieldsV1") or {}, taken)
        ops.append({"op": "replace", "path": "/metadata/managedFields", "value": kept})
    return ops


def take_over(
    client: KubeClient,
    obj: Mapping[str, Any],
    field_manager: str,
    override_managers: Sequence[str] = (),
) -> None:
    """Remove kubectl's leftovers from the live ``obj`` and give its fields to ``field_manager``."""
    # Computed from a fresh read: the managedFields written back must be current.
    live = client.get(obj)
    ops = cleanup_ops(live, field_manager, override_managers) if live is not None else []
    if ops:
        query = {"fieldManager": field_manager}
        client.request("PATCH", client.path(obj), query=query, body=ops, content_type=JSON_PATCH)
