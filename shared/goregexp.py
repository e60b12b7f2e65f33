"""Go's regular expressions, for the fields Flux matches with Go's ``regexp`` (``semverFilter``).

RE2 syntax and linear-time matching, through ``google-re2`` (pinned; the
ignore rules use it too): a pattern Go refuses (a backreference, a lookahead)
is refused here, and no pattern can make a worker backtrack for hours, as
Python's ``re`` can on a hostile one.
"""

from __future__ import annotations

from typing import Any

import re2

__all__ = ["InvalidRegexp", "compile_go"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # say it in our error, not on the worker's stderr


class InvalidRegexp(ValueError):
    """The pattern is not a valid Go (RE2) regular expression."""


def compile_go(pattern: str) -> Any:
    """The compiled pattern (``.search(text)``), or InvalidRegexp saying why."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as err:
        reason = err.args[0] if err.args else err
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise InvalidRegexp(text) from None
