"""Chart values written as go-yaml v2 writes them, every mapping sorted by key.

Flux's config digest hashes these exact bytes (fluxcd/pkg chartutil.Encode:
sigs.k8s.io/yaml.JSONObjectToYAMLObject, SortMapSlice, go-yaml v2 Encoder), so
"nearly the same YAML" is not good enough: the layout and every scalar style
below follow go-yaml v2 (block style, 2-space indent, sequences in a mapping
not indented, ``{}``/``[]`` for empty collections) and libyaml's emitter.

Scalars: a whole float is an int (JSONObjectToYAMLObject); other floats use
Go's shortest ``%g`` (``1.5``, ``1.2345675e+06``, ``.inf``); a string that
would read back as another type (``"true"``, ``"1"``, ``"null"``,
``"2024-01-01"``) is double-quoted; one the emitter cannot write plain
(leading ``-``/``#``/``*``, ``": "``, ``" #"``, surrounding spaces) is
single-quoted; one with a newline is a literal block (``|-``); one with a
character libyaml does not print (a tab, a control character) is double-quoted
with escapes.

A plain or single-quoted string running past column 80 is folded at a single
space, as libyaml does. Not reproduced: the folding of long double-quoted
strings, and the ``? key`` form of keys longer than 128 characters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["encode_sorted", "go_float"]

_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1

# go-yaml v2 resolve(): what a plain scalar would read back as.
_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {
    *["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"],
    *["n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"],
}
_SPECIAL_FLOAT = {
    *[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"],
    *[".nan", ".NaN", ".NAN"],
}
_INT = re.compile(r"[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{1,2}:[0-9]{2})?)?"
)

_BEST_WIDTH = 80
_LEADING = set("#,[]{}&*!|>'\"%@`")
_ESCAPES = {
    "\0": "0",
    "\a": "a",
    "\b": "b",
    "\t": "t",
    "\n": "n",
    "\v": "v",
    "\f": "f",
    "\r": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


def _printable(ch: str) -> bool:
    # libyaml's is_printable (a tab is not).
    code = ord(ch)
    return (
        code == 0x0A
        or 0x20 <= code <= 0x7E
        or code == 0x85
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or 0x10000 <= code <= 0x10FFFF
    )


def _resolves_to_string(s: str) -> bool:
    if s in _NULL or s in _BOOL or s in _SPECIAL_FLOAT:
        return False
    if _INT.fullmatch(s) or _FLOAT.fullmatch(s) or _BASE60.fullmatch(s):
        return False
    return not _TIMESTAMP.fullmatch(s)


def _plain_allowed(s: str) -> bool:
    """libyaml's yaml_emitter_analyze_scalar, block context: may ``s`` be written plain?"""
    if not s or s[0] == " " or s[-1] == " ":
        return False
    if s.startswith(("---", "...")):
        return False
    for i, ch in enumerate(s):
        if not _printable(ch) or ch == "\n":
            return False
        followed_by_space = i + 1 == len(s) or s[i + 1] in " \t"
        if i == 0:
            if ch in _LEADING:
                return False
            if ch in "?:-" and followed_by_space:
                return False
        elif (ch == ":" and followed_by_space) or (ch == "#" and s[i - 1] in " \t"):
            return False
    return True


def _double_quoted(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append("\\" + _ESCAPES[ch])
        elif _printable(ch):
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02X}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(f"\\U{ord(ch):08X}")
    return '"' + "".join(out) + '"'


def _literal(s: str, indent: int) -> str:
    if s.endswith("\n\n") or s == "\n":
        chomp = "+"
    elif s.endswith("\n"):
        chomp = ""
    else:
        chomp = "-"
    hint = "2" if s[:1] in " \n" else ""
    pad = " " * indent
    body = s[:-1] if s.endswith("\n") else s
    lines = "".join((pad + line if line else "") + "\n" for line in body.split("\n"))
    return f"|{hint}{chomp}\n{lines}"


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 64)`` as go-yaml v2 writes it."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    # Position of the decimal point after the first digit... of `digits`.
    point = len(digit_tuple) + exponent
    if value == 0:
        point = 1
    minus = "-" if sign else ""
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return minus + digits + "0" * (point - len(digits))
    return f"{minus}{digits[:point]}.{digits[point:]}"


def _fold(text: str, indent: int, column: int, *, quoted: bool = False) -> str:
    """libyaml's plain and single-quoted writers: past column 80, a lone space breaks the line."""
    out = []
    spaces = False
    for i, ch in enumerate(text):
        if ch == " ":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            # A quoted scalar never breaks at its first or last character.
            ends = quoted and i in (0, len(text) - 1)
            if not spaces and column > _BEST_WIDTH and nxt != " " and not ends:
                out.append("\n" + " " * indent)
                column = indent
            else:
                out.append(ch)
                column += 1
            spaces = True
        else:
            out.append(ch)
            column += 1
            spaces = False
    return "".join(out)


def _scalar(value: Any, indent: int, column: int | None = None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # JSONObjectToYAMLObject: a whole float64 that fits an int64 (or uint64) is an int.
        if value.is_integer() and _INT64[0] <= value <= _UINT64_MAX:
            return str(int(value))
        return go_float(value)
    text = str(value)
    if "\n" in text:
        return _literal(text, indent)
    if not all(_printable(ch) for ch in text):
        return _double_quoted(text)
    if not _resolves_to_string(text):
        return _double_quoted(text)
    if _plain_allowed(text):
        # A key (column None) is a simple key, which never breaks.
        return text if column is None else _fold(text, indent, column)
    quoted = text.replace("'", "''")
    if column is not None:
        quoted = _fold(quoted, indent, column + 1, quoted=True)
    return "'" + quoted + "'"


def _mapping(doc: Mapping[str, Any], indent: int) -> str:
    out = []
    pad = " " * indent
    for key in sorted(doc):
        value = doc[key]
        head = pad + _scalar(key, indent) + ":"
        if isinstance(value, Mapping) and value:
            out.append(head + "\n" + _mapping(value, indent + 2))
        elif isinstance(value, Sequence) and not isinstance(value, str) and value:
            out.append(head + "\n" + _sequence(value, indent))
        else:
            out.append(_line(head + " " + _inline(value, indent + 2, len(head) + 1)))
    return "".join(out)


def _sequence(items: Sequence[Any], indent: int) -> str:
    out = []
    pad = " " * indent
    for item in items:
        if isinstance(item, Mapping) and item:
            out.append(pad + "- " + _mapping(item, indent + 2)[indent + 2 :])
        elif isinstance(item, Sequence) and not isinstance(item, str) and item:
            out.append(pad + "- " + _sequence(item, indent + 2)[indent + 2 :])
        else:
            out.append(_line(pad + "- " + _inline(item, indent + 2, indent + 2)))
    return "".join(out)


def _inline(value: Any, indent: int, column: int) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"
    return _scalar(value, indent, column)


def _line(text: str) -> str:
    # A literal block already ends its last line.
    return text if text.endswith("\n") else text + "\n"


def encode_sorted(doc: Mapping[str, Any]) -> str:
    """``doc`` as go-yaml v2 writes it, mappings sorted by key (Flux's Encode + SortMapSlice)."""
    if not doc:
        return "{}\n"
    return _mapping(doc, 0)
