"""Go duration strings as Flux writes them (``1m``, ``1h30m``, ``500ms``, ``1.5h``).

The accepted grammar is the one the Flux CRDs enforce with an OpenAPI
pattern, ``^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$``: a sequence of non-negative
decimal numbers each followed by a unit. Go's ``time.ParseDuration`` also
knows ``ns``/``us`` and signs, but the API server would refuse those in a Flux
object, so sluice refuses them too.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "DURATION_PATTERN",
    "SHORT_DURATION_PATTERN",
    "format_duration",
    "parse_duration",
]

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
# Flux source timeouts leave out hours (a Git fetch should never take that long).
SHORT_DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"

_WHOLE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+")
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_EXPECTED = "expected a Go duration such as 1m or 1h30m"


def _hint(text: str) -> str:
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return f"missing unit: write {text}s, {text}m or {text}h"
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?d", text):
        return "days are not a Go duration unit: write hours, e.g. 24h"
    if text != text.strip() or " " in text:
        return f"{_EXPECTED}, without spaces"
    if text.startswith("-"):
        return "a duration cannot be negative"
    return _EXPECTED


def parse_duration(text: str, *, allow_hours: bool = True) -> float:
    """Return the number of seconds in a Flux duration string, or raise ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: {_EXPECTED}, as a string")
    if not text:
        raise ValueError(f'invalid duration "": {_EXPECTED}')
    if not _WHOLE.fullmatch(text):
        raise ValueError(f'invalid duration "{text}": {_hint(text)}')
    parts = _PART.findall(text)
    if not allow_hours and any(unit == "h" for _, unit in parts):
        raise ValueError(
            f'invalid duration "{text}": hours are not allowed here, '
            "expected ms, s or m units such as 60s or 5m"
        )
    return sum(float(number) * _SECONDS_PER_UNIT[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Write seconds as a compact Go duration (``90`` -> ``1m30s``), to the millisecond."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format {seconds!r} as a duration: expected seconds >= 0")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if not (hours or minutes or whole):
        parts.append(f"{millis}ms")
    elif millis:
        parts.append(f"{whole}.{millis:03d}".rstrip("0") + "s")
    elif whole:
        parts.append(f"{whole}s")
    return "".join(parts)
