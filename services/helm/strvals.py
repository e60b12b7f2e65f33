"""Helm's ``--set`` parser (helm.sh/helm/v4/pkg/strvals ``ParseInto``/``ParseIntoString``).

helm-controller sets a ``valuesFrom`` entry with ``targetPath`` through it, so
the path syntax is Helm's: ``a.b`` nests mappings, ``a\\.b`` is one key with a
dot, ``a[0].b`` indexes a list (grown with nulls), ``a={x,y}`` is a list, and
``,`` separates assignments (so a value holding a comma starts another
``key=value``). ``--set`` typing: ``true``/``false`` (any case) are booleans,
``null`` is null, a decimal not starting with ``0`` (or ``0`` itself) an int;
everything else, and everything with ``as_string``, a string. Setting through a
key that holds another type (``a=1,a.b=2``) is an error, as Helm reports it.

Errors never quote the text: it may come from a Secret.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_INDEX", "MAX_NESTED_NAME_LEVEL", "SetError", "parse_into"]

MAX_INDEX = 65536
"""Helm's largest list index (a bigger one would allocate without bound)."""
MAX_NESTED_NAME_LEVEL = 30
"""Helm's deepest ``a.b.c`` nesting."""

_INT64 = (-(2**63), 2**63 - 1)
_ATOI = re.compile(r"[+-]?[0-9]+")


class SetError(Exception):
    """A ``--set`` expression cannot be applied; the message never quotes the text."""


class _EOF(Exception):
    """The text ended (Go's io.EOF, which several parser steps treat as success)."""


class _NotList(Exception):
    """The value does not start with ``{``."""


class _Parser:
    def __init__(self, text: str, data: dict[str, Any], *, as_string: bool) -> None:
        self.text = text
        self.pos = 0
        self.data = data
        self.as_string = as_string

    def read(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def until(self, stop: str) -> tuple[str, str | None]:
        """Characters up to one of ``stop`` (consumed; None at the end); ``\\x`` is a literal x."""
        out: list[str] = []
        while True:
            ch = self.read()
            if ch is None or ch in stop:
                return "".join(out), ch
            if ch == "\\":
                nxt = self.read()
                if nxt is None:
                    return "".join(out), None
                out.append(nxt)
            else:
                out.append(ch)

    def typed(self, raw: str) -> Any:
        if self.as_string:
            return raw
        lower = raw.lower()
        if lower == "true":
            return True
        if lower == "false":
            return False
        if lower == "null":
            return None
        if raw == "0":
            return 0
        # Go's ParseInt(val, 10, 64): an optional sign, decimal digits, within int64.
        body = raw[1:] if raw[:1] in "+-" else raw
        if raw and raw[0] != "0" and body.isascii() and body.isdigit():
            number = int(raw)
            if _INT64[0] <= number <= _INT64[1]:
                return number
        return raw

    def parse(self) -> None:
        while True:
            try:
                self.key(self.data, 0)
            except _EOF:
                return

    def key(self, data: dict[str, Any], level: int) -> None:
        k, last = self.until("=[,.")
        if last is None:
            if not k:
                raise _EOF
            raise SetError("a key has no value")
        if last == "[":
            index = self.index()
            items = _existing(data, k, list)
            items, ended = self.list_item(items, index, level)
            _set(data, k, items)
            if ended:
                raise _EOF
        elif last == "=":
            if not k:
                # Helm's tests refuse ``name1.=name2``: a value needs a key.
                raise SetError("a value has no key")
            try:
                _set(data, k, self.value_list())
            except _EOF:
                _set(data, k, "")
                raise
            except _NotList:
                raw, end = self.until(",")
                _set(data, k, self.typed(raw))
                if end is None:
                    raise _EOF from None
        elif last == ",":
            _set(data, k, "")
            raise SetError("a key has no value (cannot end with ,)")
        else:  # "."
            level += 1
            if level > MAX_NESTED_NAME_LEVEL:
                raise SetError(
                    "value name nested level is greater than maximum supported "
                    f"nested level of {MAX_NESTED_NAME_LEVEL}"
                )
            inner = _existing(data, k, dict)
            try:
                self.key(inner, level)
            finally:
                if inner:
                    _set(data, k, inner)
            if not inner:
                raise SetError("a key map has no value")

    def index(self) -> int:
        raw, last = self.until("]")
        if last is None:
            raise SetError("error parsing index: the text ends before ]")
        if not _ATOI.fullmatch(raw):
            raise SetError("error parsing index: not a number")
        return int(raw)

    def value_list(self) -> list[Any]:
        ch = self.read()
        if ch is None:
            raise _EOF
        if ch != "{":
            self.pos -= 1
            raise _NotList
        items: list[Any] = []
        while True:
            raw, last = self.until(",}")
            if last is None:
                raise SetError("list must terminate with '}'")
            items.append(self.typed(raw))
            if last == "}":
                if self.read() not in (",", None):
                    self.pos -= 1
                return items

    def list_item(self, items: list[Any], index: int, level: int) -> tuple[list[Any], bool]:
        """The list with ``index`` set from the text after ``]``, and whether the text ended."""
        if index < 0:
            raise SetError(f"negative {index} index not allowed")
        k, last = self.until("[.=")
        if k:
            raise SetError("unexpected data at end of array index")
        if last is None:
            return items, True
        if last == "=":
            try:
                value: Any = self.value_list()
            except _EOF:
                value = ""
            except _NotList:
                raw, _ = self.until(",")
                value = self.typed(raw)
            return _set_index(items, index, value), False
        if last == "[":
            nxt = self.index()
            existing = items[index] if len(items) > index else None
            if existing is not None and not isinstance(existing, list):
                raise SetError(f"index {index} holds a {_kind(existing)}, not a list")
            nested, ended = self.list_item(existing or [], nxt, level)
            return _set_index(items, index, nested), ended
        existing = items[index] if len(items) > index else None
        inner = existing if isinstance(existing, dict) else {}
        try:
            self.key(inner, level)
        except _EOF:
            # Helm's tests pin it: ``list[0].foo=bar`` at the end of the text sets the element.
            return _set_index(items, index, inner), True
        return _set_index(items, index, inner), False


def _kind(value: Any) -> str:
    return {dict: "map", list: "list", str: "string", bool: "bool", int: "int"}.get(
        type(value), type(value).__name__
    )


def _existing(data: dict[str, Any], key: str, kind: type) -> Any:
    """The collection already at ``key``, or a new one; another type is an error.

    Helm's parser panics (and reports it) when a key holds something else: ``a=1,a.b=2``.
    """
    if key not in data:
        return kind()
    current = data[key]
    if not isinstance(current, kind):
        raise SetError(f"key holds a {_kind(current)}, not a {_kind(kind())}")
    return current


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if key:
        data[key] = value


def _set_index(items: list[Any], index: int, value: Any) -> list[Any]:
    if index < 0:
        raise SetError(f"negative {index} index not allowed")
    if index > MAX_INDEX:
        raise SetError(f"index of {index} is greater than maximum supported index of {MAX_INDEX}")
    if len(items) <= index:
        items = items + [None] * (index + 1 - len(items))
    items[index] = value
    return items


def parse_into(text: str, data: dict[str, Any], *, as_string: bool) -> None:
    """Apply ``key=value[,key=value...]`` to ``data`` in place; ``as_string`` is ``--set-string``.

    Raises SetError.
    """
    _Parser(text, data, as_string=as_string).parse()
