"""How a new string value is written in place of an old YAML scalar, as Flux's YAML writer would.

kyaml sets the node's value and keeps its style; for a plain node whose new
value a YAML 1.1 reader (go-yaml v2, what the Kubernetes API server speaks)
would take for a non-string, ``FormatNonStringStyle`` switches it to double
quotes. The emitter (libyaml's rules, shared by go-yaml) then quotes a
plain value that cannot stand plain: empty, a leading indicator, ``: `` or
`` #`` inside, leading or trailing blanks. Single quotes are its first
choice, double quotes when the value needs escapes.
"""

from __future__ import annotations

import re

import yaml

__all__ = ["is_yaml11_non_string", "render_scalar"]

# go-yaml v2's resolve table: booleans include y/n and on/off, unlike YAML 1.2.
_V2_BOOLS = ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_V2_BOOLS_FALSE = ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_V2_OTHERS = ("~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN")
_V2_INFINITIES = tuple(sign + inf for sign in ("", "+", "-") for inf in (".inf", ".Inf", ".INF"))
_V2_KEYWORDS = frozenset(_V2_BOOLS + _V2_BOOLS_FALSE + _V2_OTHERS + _V2_INFINITIES)
_V2_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
# strconv.ParseInt(s, 0, 64) after go-yaml v2 dropped the underscores.
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[1-9][0-9]*|0)$")
# go-yaml v2 reads these as timestamps (time.Time), so kyaml quotes them too.
_V2_TIMESTAMP = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}"
    r"(([Tt]|[ \t]+)\d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?([ \t]*(Z|[+-]\d{1,2}(:\d{2})?))?)?$"
)
_INDICATORS = "#,[]{}&*!|>'\"%@`"
_FLOW_INDICATORS = ",?[]{}"
_ESCAPES = {
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\xa0": "\\_",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


def render_scalar(value: str, *, style: str, flow: bool = False) -> str:
    """``value`` as YAML text in the old scalar's ``style`` ("" plain, "'" or '"')."""
    if style == '"':
        return _double_quoted(value)
    if style == "'":
        return _single_quoted(value) if _single_ok(value) else _double_quoted(value)
    # go-yaml quotes an empty string (plain, it would read as null) with double quotes.
    if value == "" or is_yaml11_non_string(value):
        return _double_quoted(value)
    if _plain_ok(value, flow=flow):
        return value
    return _single_quoted(value) if _single_ok(value) else _double_quoted(value)


def is_yaml11_non_string(value: str) -> bool:
    """Whether go-yaml v2 reads ``value`` (plain, as a whole document) as anything but a string."""
    if value == "" or "\n" in value:
        return False
    try:
        node = yaml.compose(value, Loader=yaml.BaseLoader)
    except yaml.YAMLError:
        return False  # go-yaml fails too, and kyaml then leaves the style alone
    if node is None:
        return True
    if not isinstance(node, yaml.ScalarNode):
        return True
    if node.style or node.tag not in ("tag:yaml.org,2002:str", None):
        return False
    plain = node.value
    if plain in _V2_KEYWORDS:
        return True
    digits = plain.replace("_", "")
    return bool(_GO_INT.match(digits) or _V2_FLOAT.match(digits) or _V2_TIMESTAMP.match(plain))


def _plain_ok(value: str, *, flow: bool) -> bool:
    if not value or value[0] in " \t" or value[-1] in " \t":
        return False
    if value.startswith(("---", "...")) or value[0] in _INDICATORS:
        return False
    if not all(char.isprintable() for char in value):
        return False
    first_blank_next = len(value) == 1 or value[1] in " \t"
    if value[0] in "-?:" and first_blank_next:
        return False
    if flow and value[0] in "?:":
        return False
    for index, char in enumerate(value):
        follows_blank = index + 1 == len(value) or value[index + 1] in " \t"
        if char == ":" and (follows_blank or flow):
            return False
        if char == "#" and index > 0 and value[index - 1] in " \t":
            return False
        if flow and char in _FLOW_INDICATORS:
            return False
    return True


def _single_ok(value: str) -> bool:
    return all(char.isprintable() for char in value)


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _double_quoted(value: str) -> str:
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02X}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(f"\\U{ord(char):08X}")
    return '"' + "".join(out) + '"'
