"""Which stored objects a genuine webhook call asks to reconcile.

Each ``spec.resources[]`` entry names one object (``name``) or every object of
its kind carrying ``matchLabels`` (``name: "*"``), in its ``namespace`` (the
Receiver's by default), inside the Receiver's scope (a named source, Secret
or ConfigMap may also come from the fleet-wide scope, as every reference
does: ``shared/scopes.py``). The top-level ``resourceFilter`` and the entry's
own ``filter`` (CEL over ``res``, the object's metadata, and ``req``, the
call's JSON body) must both accept an object for it to be reconciled.

As Flux's server: a named object that does not exist, a cross-namespace
reference where they are forbidden, or a filter that fails on an object is an
error of that entry (the server answers 500 after requesting the rest); a
``*`` that matches nothing is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.api.receiver import WILDCARD, Receiver, ReceiverResource
from shared.cel import CelError, Expression, compile_bool
from shared.keys import ObjectKey
from shared.labels import selector_from_dict
from shared.scopes import resolve
from shared.store import Store

__all__ = ["FILTER_VARIABLES", "Filters", "Selection", "compile_filters", "select_targets"]

FILTER_VARIABLES = ("res", "req")


@dataclass(frozen=True)
class Filters:
    """The compiled ``resourceFilter`` and each resource's ``filter`` (None: none set)."""

    top: Expression | None
    per_resource: tuple[Expression | None, ...]

    @property
    def any(self) -> bool:
        """Whether any filter is set (only then is the body parsed as ``req``)."""
        return self.top is not None or any(f is not None for f in self.per_resource)


def compile_filters(receiver: Receiver) -> Filters:
    """Compile every filter of ``receiver``; InvalidExpression names the one that fails.

    The message says which field holds it (``resourceFilter``,
    ``resources[1].filter``), as Flux's InvalidCELExpression condition does.
    """
    spec = receiver.spec
    top = None
    if spec.resource_filter is not None:
        top = _compile(spec.resource_filter, where="invalid resourceFilter expression")
    per: list[Expression | None] = []
    for i, resource in enumerate(spec.resources):
        where = (
            f"invalid filter expression for resources[{i}] "
            f"(kind={resource.kind!r}, name={resource.name!r})"
        )
        per.append(None if resource.filter is None else _compile(resource.filter, where=where))
    return Filters(top, tuple(per))


def _compile(text: str, *, where: str) -> Expression:
    try:
        return compile_bool(text, variables=FILTER_VARIABLES)
    except CelError as err:
        raise type(err)(text, f"{where}: {err}") from err


@dataclass
class Selection:
    """What one call selected: the keys to reconcile, and each entry's error, in order."""

    keys: list[ObjectKey] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    filtered_out: int = 0


def _metadata_view(doc: dict[str, Any]) -> dict[str, Any]:
    """``res``: the object as Flux's PartialObjectMetadata (apiVersion, kind, metadata)."""
    return {
        "apiVersion": doc.get("apiVersion", ""),
        "kind": doc.get("kind", ""),
        "metadata": doc.get("metadata") or {},
    }


def _candidates(
    store: Store, resource: ReceiverResource, *, namespace: str, scope: str
) -> list[tuple[ObjectKey, dict[str, Any]]]:
    """The objects one entry names; LookupError when a named one does not exist."""
    if resource.name == WILDCARD:
        selector = selector_from_dict({"matchLabels": resource.match_labels or {}})
        docs = store.list(resource.kind, namespace, selector, scope=scope)
        return [(ObjectKey.of(doc, scope), doc) for doc in docs]
    key, doc = resolve(store, ObjectKey(resource.kind, namespace, resource.name), scope)
    if doc is None:
        raise LookupError(f"{resource.kind} '{namespace}/{resource.name}' not found")
    return [(key, doc)]


def _accepts(filters: Sequence[Expression | None], data: dict[str, Any]) -> bool:
    return all(f.evaluate(data) for f in filters if f is not None)


def select_targets(
    store: Store,
    receiver: Receiver,
    *,
    scope: str,
    filters: Filters,
    req: dict[str, Any],
    no_cross_namespace_refs: bool = False,
) -> Selection:
    """The objects ``receiver`` reconciles for a call whose JSON body is ``req``."""
    selection = Selection()
    for i, resource in enumerate(receiver.spec.resources):
        namespace = resource.namespace or receiver.namespace
        if no_cross_namespace_refs and namespace != receiver.namespace:
            selection.errors.append(
                f"resources[{i}]: cross-namespace references are not allowed ({namespace})"
            )
            continue
        try:
            found = _candidates(store, resource, namespace=namespace, scope=scope)
            for key, doc in found:
                data = {"res": _metadata_view(doc), "req": req}
                if _accepts((filters.top, filters.per_resource[i]), data):
                    selection.keys.append(key)
                else:
                    selection.filtered_out += 1
        except (LookupError, CelError) as err:
            selection.errors.append(f"resources[{i}]: {err}")
    return selection
