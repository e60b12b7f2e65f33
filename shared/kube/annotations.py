"""The toolkit annotations on applied objects (§1.4), and the one rule that leaves an object alone.

Apply, prune and ``sluice diff`` all ask ``left_alone`` whether sluice may
touch an object, so a preview can never disagree with what a reconcile does:

- ``reconcile: disabled`` or ``ssa: Ignore``, on the desired object or the live
  one: neither applied nor pruned;
- ``ssa: IfNotPresent`` on the desired object: created, never updated;
- ``prune: disabled`` on the live object: never pruned.

Keys are read from annotations or labels, values compared lower-cased, as Flux does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FORCE_KEY", "PRUNE_KEY", "RECONCILE_KEY", "SSA_KEY", "left_alone", "metadata_value"]

SSA_KEY = "kustomize.toolkit.fluxcd.io/ssa"
FORCE_KEY = "kustomize.toolkit.fluxcd.io/force"
PRUNE_KEY = "kustomize.toolkit.fluxcd.io/prune"
RECONCILE_KEY = "kustomize.toolkit.fluxcd.io/reconcile"


def metadata_value(obj: Mapping[str, Any] | None, key: str) -> str:
    """A toolkit key from annotations or labels, lower-cased (§1.4); "" when absent."""
    if not obj:
        return ""
    meta = obj.get("metadata") or {}
    for where in ("annotations", "labels"):
        value = (meta.get(where) or {}).get(key)
        if value is not None:
            return str(value).lower()
    return ""


def left_alone(
    desired: Mapping[str, Any] | None, live: Mapping[str, Any] | None, *, deleting: bool = False
) -> str:
    """Why sluice must not apply (or, ``deleting``, prune) this object; "" when it may."""
    if deleting and metadata_value(live, PRUNE_KEY) == "disabled":
        return f"{PRUNE_KEY} is disabled"
    for obj in (desired, live):
        if metadata_value(obj, RECONCILE_KEY) == "disabled":
            return f"{RECONCILE_KEY} is disabled"
    for obj in (desired, live):
        if metadata_value(obj, SSA_KEY) == "ignore":
            return f"{SSA_KEY} is Ignore"
    if not deleting and live is not None and metadata_value(desired, SSA_KEY) == "ifnotpresent":
        return f"{SSA_KEY} is IfNotPresent and the object exists"
    return ""
