"""Go's fmt.Sprintf for templates' ``printf``: the verbs v s q d t f e g x X c and %%.

Flags ``-``, ``+``, ``0``, width and precision work as fmt's do; a verb
that does not fit its argument prints fmt's ``%!d(string=abc)``, a missing
argument ``%!s(MISSING)`` and extra ones ``%!(EXTRA string=x)``, as Go does.
"""

from __future__ import annotations

import re
from typing import Any

from services.image.gotemplate.values import (
    MISSING,
    GoStruct,
    format_float,
    format_value,
    go_type_name,
)

__all__ = ["go_quote", "sprintf"]

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?(.)?", re.DOTALL)
_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    out = []
    for char in text:
        if char in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def sprintf(template: str, *args: Any) -> str:
    """fmt.Sprintf(template, args...)."""
    out: list[str] = []
    position = 0
    used = 0
    while position < len(template):
        percent = template.find("%", position)
        if percent < 0:
            out.append(template[position:])
            break
        out.append(template[position:percent])
        match = _DIRECTIVE.match(template, percent)
        assert match is not None  # the pattern matches any "%"
        flags, width, precision, verb = match.groups()
        position = match.end()
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        value = args[used]
        used += 1
        text = _verb(verb, value, flags=flags, precision=precision)
        # fmt caps widths too (at 1e6); sluice keeps messages small.
        pad = min(int(width), 1 << 16) if width else 0
        out.append(_pad(text, flags=flags, width=pad, value=value))
    if used < len(args):
        extra = ", ".join(f"{go_type_name(v)}={format_value(v)}" for v in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _bad(verb: str, value: Any) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(value)}={format_value(value)})"


def _verb(verb: str, value: Any, *, flags: str, precision: str | None) -> str:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if value is None and verb != "v":
        return f"%!{verb}(<nil>)"
    if verb == "v":
        return format_value(value, plus="+" in flags)
    if verb == "s":
        if isinstance(value, bool | int | float):
            return _bad(verb, value)
        text = format_value(value)
        return text[: int(precision)] if precision else text
    if verb == "q":
        if isinstance(value, str) or (isinstance(value, GoStruct) and value.go_stringer):
            return go_quote(format_value(value))
        if is_int:
            return "'" + chr(value) + "'"
        return _bad(verb, value)
    if verb == "d":
        if not is_int:
            return _bad(verb, value)
        return ("+" if "+" in flags and value >= 0 else "") + str(value)
    if verb == "t":
        return format_value(value) if isinstance(value, bool) else _bad(verb, value)
    if verb in "feg":
        if not isinstance(value, float):
            return _bad(verb, value)
        digits = int(precision) if precision else (-1 if verb == "g" else 6)
        text = format_float(value, verb, digits if precision is not None else -1)
        return ("+" if "+" in flags and value >= 0 else "") + text
    if verb in "xX":
        if is_int:
            text = format(value, "x")
        elif isinstance(value, str):
            text = value.encode().hex()
        else:
            return _bad(verb, value)
        return text.upper() if verb == "X" else text
    if verb == "c" and is_int:
        return chr(value)
    return _bad(verb, value) if value is not MISSING else f"%!{verb}(<nil>)"


def _pad(text: str, *, flags: str, width: int, value: Any) -> str:
    if len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)
