"""JSON documents (``*.json`` files, registry and webhook bodies), read by the YAML loader's rules.

The rules of :mod:`shared.yaml` hold here too: a key given twice in one
object is refused, and so is nesting deeper than
:data:`shared.yaml.MAX_DEPTH` levels, with a :class:`shared.yaml.DocumentError`
that names the source, never a RecursionError from the parser or a later step.
"""

from __future__ import annotations

import json
from typing import Any

from shared.yaml import MAX_DEPTH, DocumentError

__all__ = ["load_json"]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests, counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(data: str | bytes, *, source: str) -> Any:
    """The JSON value of ``data``; DocumentError (document 1 of ``source``) when it is refused."""
    too_deep = f"nested too deeply (more than {MAX_DEPTH} levels)"
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=_object)
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text (byte {exc.start})", source=source) from None
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}"
        raise DocumentError(f"invalid JSON at {at}: {exc.msg}", source=source, index=0) from None
    except _DuplicateKey as exc:
        raise DocumentError(
            f'invalid JSON: duplicate key "{exc.key}"', source=source, index=0
        ) from None
    except RecursionError:
        # The parser recurses once per level; it gave up far past MAX_DEPTH.
        raise DocumentError(too_deep, source=source, index=0) from None
    if _depth(value) > MAX_DEPTH:
        raise DocumentError(too_deep, source=source, index=0)
    return value
