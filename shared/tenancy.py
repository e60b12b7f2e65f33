"""Multi-tenancy lockdown: references that must stay in the referring object's namespace.

With ``no_cross_namespace_refs`` (Flux's ``--no-cross-namespace-refs``) a tenant
that may write objects in its own namespace can't point them at a source, a
dependency or any other object of another tenant. Flux stalls such an object
with reason AccessDenied; so does sluice, before any fetch or build.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.api.conditions import ACCESS_DENIED
from shared.keys import ObjectKey
from shared.reconcile import Stalled
from shared.settings import Settings

__all__ = ["refuse_cross_namespace"]


def refuse_cross_namespace(
    settings: Settings, owner: ObjectKey, refs: Mapping[str, ObjectKey]
) -> None:
    """Stall with AccessDenied when a reference (field → key) leaves ``owner``'s namespace."""
    if not settings.no_cross_namespace_refs:
        return
    for field, ref in refs.items():
        if ref.namespace != owner.namespace:
            raise Stalled(
                ACCESS_DENIED,
                f"{field}: cannot access {ref.kind} '{ref.namespace}/{ref.name}': "
                "cross-namespace references are disabled on this installation "
                "(no_cross_namespace_refs)",
            )
