"""How ``sluice diff`` prints one object's plan: flux diff's lines, Secret values masked.

Every service's diff (``diff ks``, ``diff hr``) plans its objects with the
shared ``shared.kube.plan.plan`` and prints each verdict here, so they read
alike: ``► Kind/ns/name created``, ``► ... drifted`` and a unified diff of the
live object against the dry run's answer, ``► ... deleted``. A Secret's values
are never printed: each is ``***``, marked ``(before)``/``(after)`` where it
changes.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from shared import yaml
from shared.kube.inventory import Action
from shared.kube.plan import SERVER_FIELDS, ObjectPlan
from shared.secrets import LAST_APPLIED_ANNOTATION

__all__ = ["MASK", "comparable", "mask_secrets", "object_diff"]

MASK = "***"
# What apply strips before sending, and what diff ignores on top.
_NOISE = frozenset({*SERVER_FIELDS, "creationTimestamp"})


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without status and the metadata the API server keeps changing."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _NOISE}
    return out


def _mask_pair(before: dict[str, Any], after: dict[str, Any], keys: set[str] | None = None) -> None:
    for key in (set(before) | set(after)) if keys is None else keys:
        same = before.get(key) == after.get(key)
        if key in before:
            before[key] = MASK if same else f"{MASK} (before)"
        if key in after:
            after[key] = MASK if same else f"{MASK} (after)"


def mask_secrets(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Replace a Secret's values with ``***``, marked before/after where they differ."""
    if "Secret" not in (before.get("kind"), after.get("kind")):
        return
    for section in ("data", "stringData"):
        _mask_pair(before.get(section) or {}, after.get(section) or {})
    # kubectl's last-applied annotation is a plain copy of the whole Secret.
    old, new = (d["metadata"].get("annotations") or {} for d in (before, after))
    _mask_pair(old, new, {LAST_APPLIED_ANNOTATION} & (set(old) | set(new)))


def _yaml(obj: Mapping[str, Any]) -> list[str]:
    return yaml.dump(dict(obj), sort_keys=True).splitlines()


def object_diff(planned: ObjectPlan) -> list[str]:
    """Flux-style lines for one object's plan: nothing when apply would leave it as it is."""
    ref = planned.ref
    if planned.action == Action.CREATED:
        return [f"► {ref} created"]
    if planned.action != Action.CONFIGURED or planned.live is None:
        return []
    before, after = comparable(planned.live), comparable(planned.dry or planned.obj)
    if before == after:
        # Only kubectl's leftovers (last-applied, its managedFields) would go.
        return [f"► {ref} drifted: fields of kubectl would be taken over"]
    mask_secrets(before, after)
    lines = difflib.unified_diff(
        _yaml(before), _yaml(after), f"{ref} (live)", f"{ref} (after apply)", lineterm=""
    )
    return [f"► {ref} drifted", *lines]
