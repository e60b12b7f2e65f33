"""Go values as the interpreter sees them, and Go's fmt printing of them (Sprint, Sprintln, %v).

Python values stand for Go values: ``str``, ``int``, ``float``, ``bool``,
``None`` (nil), ``list``/``tuple`` (slices), ``dict`` (maps, printed with
sorted keys as fmt does), ``GoStruct`` subclasses (structs, with Go field
and method names, and ``String()`` when the Go type is a fmt.Stringer), and
``MISSING``: the invalid value a missing map key gives, printed
``<no value>`` by the template engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

__all__ = [
    "MISSING",
    "GoMap",
    "GoStruct",
    "format_float",
    "format_value",
    "go_sort_key",
    "go_type_name",
    "sprint",
    "sprintln",
]


class _NoValue:
    """Go's invalid reflect.Value (a missing map key)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _NoValue()


class GoStruct:
    """A Go struct: ``go_fields`` maps Go field names to attributes, in declaration order.

    ``go_methods`` maps Go method names (no arguments) to Python methods;
    ``go_stringer`` says the type has ``String()`` (fmt then prints that).
    """

    go_type: ClassVar[str] = "struct"
    go_fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    go_methods: ClassVar[Mapping[str, str]] = {}
    go_stringer: ClassVar[bool] = False

    def go_field(self, name: str) -> tuple[bool, Any]:
        """(found, value) of a field or zero-argument method by its Go name."""
        for go_name, attribute in self.go_fields:
            if go_name == name:
                return True, getattr(self, attribute)
        if name in self.go_methods:
            return True, getattr(self, self.go_methods[name])()
        return False, None

    def go_string(self) -> str:
        """``String()``, for types with ``go_stringer``."""
        raise NotImplementedError

    def go_field_values(self) -> list[tuple[str, Any]]:
        """The fields as fmt prints them (nested structs stay nested)."""
        return [(go_name, getattr(self, attribute)) for go_name, attribute in self.go_fields]


class GoMap(dict[Any, Any]):
    """A Go map whose key type is not string: ``.Name`` on it is an error, as in Go."""

    go_type: ClassVar[str] = "map"


def go_type_name(value: Any) -> str:
    """Go's name for the value's type, as error messages show it."""
    if value is MISSING:
        return "<invalid reflect.Value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoStruct | GoMap):
        return value.go_type
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    return type(value).__name__


def go_sort_key(value: Any) -> Any:
    """Key order as Go's fmt (and templates' range) sort map keys: by value, structs by field."""
    if isinstance(value, GoStruct):
        return tuple(go_sort_key(v) for _, v in value.go_field_values())
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value.encode())
    return (3, repr(value))


def format_value(value: Any, *, plus: bool = False, depth: int = 0) -> str:
    """fmt's ``%v`` (``%+v`` with ``plus``) of a value."""
    if value is MISSING:
        return "<invalid reflect.Value>" if depth else "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, GoStruct):
        if value.go_stringer:
            return value.go_string()
        parts = [
            (f"{name}:" if plus else "") + format_value(field, plus=plus, depth=depth + 1)
            for name, field in value.go_field_values()
        ]
        return "{" + " ".join(parts) + "}"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: go_sort_key(item[0]))
        shown = (
            format_value(k, plus=plus, depth=depth + 1)
            + ":"
            + format_value(v, plus=plus, depth=depth + 1)
            for k, v in items
        )
        return "map[" + " ".join(shown) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v, plus=plus, depth=depth + 1) for v in value) + "]"
    return str(value)


def format_float(value: float, verb: str = "g", precision: int = -1) -> str:
    """strconv.FormatFloat as fmt uses it: %v/%g (shortest digits), %e and %f."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if verb == "f":
        return f"{value:.{6 if precision < 0 else precision}f}"
    if verb == "e":
        return _go_exponent(f"{value:.{6 if precision < 0 else precision}e}")
    if precision >= 0:
        text = f"{value:.{max(precision, 1)}g}"
        return _go_exponent(text) if "e" in text else text
    # Shortest digits; %e form when the exponent is < -4 or >= 6 (strconv's eprec for -1).
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    shown = "".join(map(str, digits)) or "0"
    exp10 = len(shown) + int(exponent) - 1
    minus = "-" if sign else ""
    if value == 0:
        return minus + "0"
    if -4 <= exp10 < 6:
        if exp10 >= len(shown) - 1:
            return minus + shown + "0" * (exp10 - len(shown) + 1)
        if exp10 >= 0:
            return minus + shown[: exp10 + 1] + "." + shown[exp10 + 1 :]
        return minus + "0." + "0" * (-exp10 - 1) + shown
    mantissa = shown[0] + ("." + shown[1:] if len(shown) > 1 else "")
    return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"


def _go_exponent(text: str) -> str:
    """Python's 1e+6 exponent as Go writes it (at least two digits: 1e+06)."""
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}e{exponent[0]}{exponent[1:].rjust(2, '0')}"


def sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if index and not isinstance(arg, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(format_value(arg, depth=1) if arg is MISSING else format_value(arg))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """fmt.Sprintln: spaces between all operands, and a newline."""
    return " ".join(format_value(arg, depth=1 if arg is MISSING else 0) for arg in args) + "\n"
