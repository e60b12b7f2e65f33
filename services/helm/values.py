"""A HelmRelease's chart values, composed as helm-controller composes them.

This is fluxcd/pkg ``chartutil.ChartValuesFromReferences``: each
``spec.valuesFrom`` entry in order, then the inline ``spec.values`` merged
last. The ConfigMaps and Secrets are read by the caller and handed in as
:class:`ValuesObject` (pure code: no store, no Helm).

- an entry without ``targetPath`` parses the key's text as a YAML mapping and
  merges it over what came before (:func:`shared.helmvalues.merge_maps`, Flux's ``MergeMaps``:
  mappings merge key by key, anything else replaces);
- an entry with ``targetPath`` first merges the inline values in, then sets
  the key's text at that path in Helm's ``--set`` syntax
  (:mod:`services.helm.strvals`). Flux documents that a targetPath overrides
  everything; in its code that holds because the merge shares the inline
  values' nested mappings and lists, so the ``--set`` writes into them and the
  final merge of the inline values repeats it. A top-level key is not shared:
  there the inline value wins (``values: {tag: "1"}`` beats ``targetPath:
  tag``). ``merge_maps`` shares the same way, so the results are Flux's.
  The text is typed the way ``--set`` types it (``true`` is a
  bool, ``8080`` an int, ``null`` removes nothing but sets null) unless it is
  wrapped in quotes, which makes it a string;
- a missing object or key is skipped when the entry is ``optional``, and an
  error otherwise.

Errors are :class:`ValuesReferenceError`, whose message names the kind, the
object, the key and the reason, never the data (a Secret's content).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.helm.strvals import SetError, parse_into
from shared.api.helmrelease import ValuesReference
from shared.helmvalues import merge_maps
from shared.yaml import DocumentError, load

__all__ = [
    "ValuesObject",
    "ValuesReferenceError",
    "compose_values",
    "replace_path_value",
]

Values = dict[str, Any]


@dataclass(frozen=True)
class ValuesObject:
    """A ConfigMap or Secret of the HelmRelease's namespace, as read by the caller.

    ``data`` holds the decoded text of each key (a Secret's ``data`` already
    base64-decoded, its ``stringData`` folded in).
    """

    kind: str
    name: str
    data: Mapping[str, str]


class ValuesReferenceError(Exception):
    """A ``valuesFrom`` entry cannot be resolved; the message says which and why, never the data."""

    def __init__(self, ref: ValuesReference, namespace: str, reason: str) -> None:
        self.kind = ref.kind
        self.name = ref.name
        self.key = ref.values_key
        self.optional = ref.optional
        self.reason = reason
        optional = " optional" if ref.optional else ""
        super().__init__(
            f"could not resolve{optional} {ref.kind} chart values reference "
            f"'{namespace}/{ref.name}' with key '{ref.values_key}': {reason}"
        )


def replace_path_value(values: Values, path: str, value: str) -> None:
    """Set ``value`` at ``path`` in ``values`` as Flux's ReplacePathValue (``--set path=value``).

    A value wrapped in single or double quotes loses every leading and
    trailing quote (Go's ``strings.Trim``) and stays a string (``--set-string``);
    any other is typed as ``--set`` types it. Raises SetError.
    """
    quoted = (value.startswith("'") and value.endswith("'")) or (
        value.startswith('"') and value.endswith('"')
    )
    if quoted:
        parse_into(f"{path}={value.strip(chr(39) + chr(34))}", values, as_string=True)
    else:
        parse_into(f"{path}={value}", values, as_string=False)


def _read_values(text: str, source: str) -> Values:
    # Helm's ReadValues: an empty document is an empty mapping; anything but a mapping is refused.
    doc = load(text, source=source)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise DocumentError(f"expected a mapping, found {type(doc).__name__}", source=source)
    return doc


def compose_values(
    values: Mapping[str, Any] | None,
    refs: Sequence[ValuesReference],
    *,
    objects: Sequence[ValuesObject],
    namespace: str,
) -> Values:
    """A HelmRelease's chart values: ``refs`` resolved from ``objects`` in order, ``values`` last.

    ``objects`` are the ConfigMaps and Secrets the caller found; one that is
    not there is missing. Raises ValuesReferenceError.
    """
    found = {(obj.kind, obj.name): obj for obj in objects}
    # A deep copy: the targetPath step below writes through the inline values (see the
    # module docstring), which must not reach the caller's HelmRelease.
    inline: Values = copy.deepcopy(dict(values or {}))
    result: Values = {}
    for ref in refs:
        obj = found.get((ref.kind, ref.name))
        if obj is None:
            if ref.optional:
                continue
            raise ValuesReferenceError(ref, namespace, "resource not found")
        text = obj.data.get(ref.values_key)
        if text is None:
            if ref.optional:
                continue
            raise ValuesReferenceError(ref, namespace, "key not found")
        if ref.target_path:
            result = merge_maps(result, inline)
            try:
                replace_path_value(result, ref.target_path, text)
            except SetError as exc:
                raise ValuesReferenceError(
                    ref, namespace, f"failed to merge value: {exc}"
                ) from None
            continue
        try:
            data = _read_values(text, f"{ref.kind} {ref.name} key {ref.values_key}")
        except DocumentError as exc:
            # DocumentError never quotes the text: safe for a Secret.
            raise ValuesReferenceError(
                ref, namespace, f"failed to read values data: {exc.message}"
            ) from None
        result = merge_maps(result, data)
    return merge_maps(result, inline)
