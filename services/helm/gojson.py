"""JSON read and written back byte for byte as Go's ``encoding/json`` wrote it.

Helm stores a release as Go's ``json.Marshal`` of its structs, and Flux
digests a release as Go's ``json.Encoder`` output of a copy of its parts. To
compute the same digest, and to write a release back as Helm would, a stored
document is read with :func:`loads` (numbers kept as the text Go wrote, object
keys in the order Go wrote them: struct field order, map keys sorted) and
written with :func:`dumps`:

- a number is written as read: Go re-encodes a float64 it decoded to the same
  text (``1e-7``, ``1e+21``, ``12345678901234567000``), which Python's float
  formatting does not;
- strings are escaped as Go does: ``<``, ``>``, ``&``, U+2028 and U+2029 as
  ``\\u`` escapes, other characters left as UTF-8.

Documents that did not come from Go (Python values) belong to
:mod:`services.helm.digest`, which writes them as Go would from scratch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["GoNumber", "dumps", "loads", "plain"]

_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


class GoNumber(str):
    """A JSON number, as the text Go wrote."""

    __slots__ = ()

    def value(self) -> int | float:
        """The number as Python reads it (an int when it has no fraction or exponent)."""
        return json.loads(self)  # type: ignore[no-any-return]


def loads(text: str | bytes) -> Any:
    """The JSON document ``text``, numbers as :class:`GoNumber`, objects as ordered dicts."""
    return json.loads(text, parse_int=GoNumber, parse_float=GoNumber)


def _string(text: str) -> str:
    escaped = json.dumps(text, ensure_ascii=False)
    for char, replacement in _ESCAPES:
        if char in escaped:
            escaped = escaped.replace(char, replacement)
    return escaped


def _encode(doc: Any, out: list[str]) -> None:
    if isinstance(doc, GoNumber):
        out.append(str.__str__(doc))
    elif isinstance(doc, str):
        out.append(_string(doc))
    elif doc is None:
        out.append("null")
    elif isinstance(doc, bool):
        out.append("true" if doc else "false")
    elif isinstance(doc, int | float):
        out.append(json.dumps(doc))
    elif isinstance(doc, Mapping):
        out.append("{")
        for index, (key, value) in enumerate(doc.items()):
            if index:
                out.append(",")
            out.append(_string(str(key)))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(doc, list | tuple):
        out.append("[")
        for index, item in enumerate(doc):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(doc).__name__} as JSON")


def dumps(doc: Any) -> bytes:
    """``doc`` as Go's ``json.Marshal`` writes it: compact, keys in the order given."""
    out: list[str] = []
    _encode(doc, out)
    return "".join(out).encode("utf-8")


def plain(doc: Any) -> Any:
    """``doc`` with every :class:`GoNumber` turned into a Python int or float."""
    if isinstance(doc, GoNumber):
        return doc.value()
    if isinstance(doc, Mapping):
        return {key: plain(value) for key, value in doc.items()}
    if isinstance(doc, list):
        return [plain(item) for item in doc]
    return doc
