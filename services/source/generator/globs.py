"""Glob matching for ArtifactGenerator copies: Go's ``path.Match`` and doublestar's rules.

Two dialects, as source-watcher uses them:

- Go's ``fs.Glob`` / ``path.Match`` (copies): a pattern has as many segments as
  the path; ``*`` matches any run of characters but ``/``, ``?`` one,
  ``[a-z]`` / ``[^a-z]`` a class, ``\\x`` the character itself. ``**`` is ``*``.
- doublestar (excludes, and copies with ``strategy: Extract``): the same, plus
  a ``**`` segment spans any number of directories (``dir/**`` matches ``dir``
  too) and ``{a,b}`` alternates.

Matching never backtracks exponentially: a segment is matched with the
two-pointer wildcard algorithm and a path with a table over segments, so a
hostile pattern costs at most pattern length times path length.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

__all__ = ["GlobError", "glob_match", "has_glob"]

_GLOB_CHARS = frozenset("*?[]")
# `{a,b}{c,d}...` multiplies; past this many alternatives a pattern is refused.
MAX_ALTERNATIVES = 256


class GlobError(ValueError):
    """A pattern that cannot be read: an unclosed class or brace, too many alternatives."""


@dataclass(frozen=True)
class _Set:
    """A character class: ``ranges`` of (low, high), matching outside them when ``negate``."""

    negate: bool
    ranges: tuple[tuple[str, str], ...]

    def matches(self, char: str) -> bool:
        inside = any(low <= char <= high for low, high in self.ranges)
        return inside != self.negate


class _Wild:
    """``*`` or ``?``: objects of their own, so an escaped ``\\*`` stays a literal."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_STAR = _Wild("*")
_ONE = _Wild("?")
_Token = str | _Set | _Wild  # a literal character, a wildcard, or a class


def has_glob(pattern: str) -> bool:
    """Whether ``pattern`` holds glob characters (``*?[]``), as source-watcher decides."""
    return any(c in _GLOB_CHARS for c in pattern)


def _class(text: str, start: int) -> tuple[_Set, int]:
    """The class opening at ``text[start] == "["``; returns it and the index after ``]``."""
    i = start + 1
    negate = i < len(text) and text[i] in "^!"
    i += negate
    ranges: list[tuple[str, str]] = []
    first = True
    while i < len(text) and (text[i] != "]" or first):
        first = False
        low = text[i + 1] if text[i] == "\\" and i + 1 < len(text) else text[i]
        i += 2 if text[i] == "\\" else 1
        high = low
        if i + 1 < len(text) and text[i] == "-" and text[i + 1] != "]":
            high = text[i + 2] if text[i + 1] == "\\" and i + 2 < len(text) else text[i + 1]
            i += 3 if text[i + 1] == "\\" else 2
        ranges.append((low, high))
    if i >= len(text):
        raise GlobError(f"unclosed '[' in glob {text!r}")
    return _Set(negate, tuple(ranges)), i + 1


@cache
def _tokens(segment: str) -> tuple[_Token, ...]:
    out: list[_Token] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            if not out or out[-1] is not _STAR:  # `**` inside a segment is one `*`
                out.append(_STAR)
            i += 1
        elif c == "?":
            out.append(_ONE)
            i += 1
        elif c == "[":
            token, i = _class(segment, i)
            out.append(token)
        elif c == "\\" and i + 1 < len(segment):
            out.append(segment[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return tuple(out)


def _one(token: _Token, char: str) -> bool:
    if isinstance(token, _Set):
        return token.matches(char)
    return token is _ONE or token == char


def _segment_match(segment: str, name: str) -> bool:
    """Wildcard match of one segment, O(len(segment) * len(name)) at worst."""
    tokens = _tokens(segment)
    p = i = 0
    star, resume = -1, 0
    while i < len(name):
        if p < len(tokens) and tokens[p] is not _STAR and _one(tokens[p], name[i]):
            p += 1
            i += 1
        elif p < len(tokens) and tokens[p] is _STAR:
            star, resume = p, i
            p += 1
        elif star >= 0:
            p, resume = star + 1, resume + 1
            i = resume
        else:
            return False
    while p < len(tokens) and tokens[p] is _STAR:
        p += 1
    return p == len(tokens)


def _braces(pattern: str) -> list[str]:
    """Every alternative of doublestar's ``{a,b}`` (nested too), in order."""
    depth, start = 0, -1
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
            start = i if depth == 1 else start
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                head, body, tail = pattern[:start], pattern[start + 1 : i], pattern[i + 1 :]
                found = [
                    f"{head}{choice}{rest}" for choice in _split_top(body) for rest in _braces(tail)
                ]
                found = [alt for one in found for alt in _braces(one)]
                if len(found) > MAX_ALTERNATIVES:
                    raise GlobError(
                        f"glob {pattern!r} has more than {MAX_ALTERNATIVES} alternatives"
                    )
                return found
        i += 1
    if depth:
        raise GlobError(f"unclosed '{{' in glob {pattern!r}")
    return [pattern]


def _split_top(body: str) -> list[str]:
    """``a,{b,c},d`` split at its top-level commas."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 2
            continue
        depth += (c == "{") - (c == "}")
        if c == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
        i += 1
    parts.append(body[start:])
    return parts


def _path_match(segments: tuple[str, ...], parts: tuple[str, ...], *, doublestar: bool) -> bool:
    """Match segment by segment; a doublestar ``**`` spans zero or more parts.

    ``reached[p]``: the segments so far match the first ``p`` parts of the path.
    """
    reached = [True] + [False] * len(parts)
    for segment in segments:
        if doublestar and segment == "**":
            # Once a prefix is reached, `**` reaches every longer one.
            reached = list(accumulate(reached, operator.or_))
            continue
        reached = [False] + [
            reached[p] and _segment_match(segment, parts[p]) for p in range(len(parts))
        ]
    return reached[-1]


def glob_match(pattern: str, path: str, *, doublestar: bool) -> bool:
    """Whether ``path`` (relative, ``/``-separated) matches ``pattern`` in the chosen dialect."""
    parts = tuple(path.split("/"))
    alternatives = _braces(pattern) if doublestar else [pattern]
    for alternative in alternatives:
        segments = tuple(alternative.strip("/").split("/"))
        for segment in segments:
            _tokens(segment)  # an unreadable class is an error, even where no path reaches it
        if _path_match(segments, parts, doublestar=doublestar):
            return True
    return False
