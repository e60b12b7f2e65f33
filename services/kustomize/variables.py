"""postBuild variables as the reconcile, ``sluice build`` and ``sluice diff`` read them."""

from __future__ import annotations

import base64

from services.kustomize.substitute import PostBuild
from shared.api import Kustomization
from shared.keys import ObjectKey
from shared.scopes import resolve
from shared.store import Store

__all__ = ["MissingVariables", "post_build_variables"]


class MissingVariables(LookupError):
    """A ConfigMap or Secret named in postBuild.substituteFrom is missing (and not optional)."""


def post_build_variables(store: Store, ks: Kustomization, scope: str = "") -> PostBuild | None:
    """``spec.postBuild`` with each substituteFrom source read from the store, in list order.

    Each source is looked up in the Kustomization's ``scope``, then fleet-wide
    (``shared.scopes``).
    """
    post = ks.spec.post_build
    if post is None:
        return None
    sources: list[dict[str, str]] = []
    for ref in post.substitute_from:
        _, doc = resolve(store, ObjectKey(ref.kind, ks.namespace, ref.name), scope)
        if doc is None:
            if ref.optional:
                continue
            raise MissingVariables(f"postBuild.substituteFrom: {ref.kind} '{ref.name}' not found")
        data = doc.get("data") or {}
        if ref.kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        # Flux strips the newlines that `kubectl create --from-file` leaves.
        sources.append({k: str(v).strip("\n") for k, v in data.items()})
    return PostBuild(
        substitute=dict(post.substitute),
        substitute_from=tuple(sources),
        strategy=post.substitute_strategy or "WithVariables",
    )
