"""The ConfigMaps and Secrets a HelmRelease's ``valuesFrom`` names, read from the store.

The reconcile and ``sluice diff hr`` compose the chart values the same way:
:func:`release_values` reads each referenced object of the HelmRelease's
namespace (in its scope) and hands them to the pure
:func:`~services.helm.values.compose_values`. A Secret's data is base64-decoded
here; nothing read from it reaches a message (``ValuesReferenceError`` names
the object and key only). :func:`secret_strings` lists what came from Secrets,
so a printout can mask it wherever the chart put it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

from services.helm.values import ValuesObject, compose_values
from shared.api.helmrelease import HelmRelease
from shared.keys import ObjectKey
from shared.scopes import resolve
from shared.store import Store
from shared.yaml import DocumentError, load

__all__ = ["release_values", "secret_strings", "values_objects"]


def values_objects(store: Store, hr: HelmRelease, *, scope: str) -> list[ValuesObject]:
    """The referenced objects that exist, their data decoded; a missing one is left out."""
    found = []
    for ref in hr.spec.values_from:
        _, doc = resolve(store, ObjectKey(ref.kind, hr.namespace, ref.name), scope)
        if doc is None:
            continue  # compose_values says whether that is an error
        data = {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
        if ref.kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        found.append(ValuesObject(ref.kind, ref.name, data))
    return found


def release_values(store: Store, hr: HelmRelease, *, scope: str) -> dict[str, Any]:
    """The chart values the release gets; ValuesReferenceError when a reference is missing."""
    return compose_values(
        hr.spec.values,
        hr.spec.values_from,
        objects=values_objects(store, hr, scope=scope),
        namespace=hr.namespace,
    )


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def secret_strings(objects: Sequence[ValuesObject]) -> tuple[str, ...]:
    """Every value a Secret among ``objects`` holds: its YAML's values, or its whole text.

    Longest first, so a masker replaces a whole value before a part of it.
    """
    found: set[str] = set()
    for obj in objects:
        if obj.kind != "Secret":
            continue
        for text in obj.data.values():
            try:
                doc = load(text, source=f"Secret {obj.name}")
            except DocumentError:
                doc = None
            if isinstance(doc, dict | list):
                found.update(_leaves(doc))  # a values.yaml: its values, not its keys
                continue
            # A scalar (a targetPath value): as written, and without its quotes.
            found.update((text.strip(), text.strip().strip("'\""), *_leaves(doc)))
    return tuple(sorted((s for s in found if s), key=lambda s: (-len(s), s)))
