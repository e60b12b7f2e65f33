"""Which tag an ImagePolicy chooses, as image-reflector-controller chooses it (FLUX-API §5.2).

Pure: the tags in, the choice or a typed error out. The steps are Flux's
(``internal/policy`` and ``applyPolicy``):

1. ``filterTags``: keep the tags the pattern (a Go regexp, unanchored) finds
   a match in; with ``extract``, compare the expansion of the template
   (``$1``, ``$name``, ``${name}``, ``$$``, as Go's ``Regexp.Expand``) instead
   of the tag. Two tags that extract to the same value: the later one in the
   given order wins, as in Flux's map (in Flux's stored order, descending,
   that is the least tag).
2. The rule: ``semver.range`` takes the highest tag that is a version
   (``fluxcd/pkg/version``: three dot-separated parts, ``v`` prefix and
   leading zeros allowed; other tags are skipped) in the range;
   ``alphabetical`` the last (``asc``) or first (``desc``) in byte order;
   ``numerical`` the greatest (``asc``) or least (``desc``) as Go's
   ``strconv.ParseFloat`` reads them, and a tag that is not a number fails
   the policy, as in Flux (a ``filterTags.pattern`` keeps such tags out).
3. The chosen value maps back to its original tag, which is what
   ``status.latestRef.tag`` reports.

Ties are broken as Flux breaks them. Flux stores a scan's tags sorted in
descending byte order, then its loops keep the first of equal versions
(``GreaterThan`` is strict) and the last of equal numbers (``<`` is strict):
so ``v1.0.0`` wins over ``1.0.0``, and ``01`` over ``1``. :func:`choose_tag`
sorts the tags the same way first, so the caller's order does not matter; the
``latest_*`` functions break ties by the order they are given. (After
``filterTags`` Flux reads a Go map, in no fixed order; sluice keeps the
descending order there too, so one set of tags always gives one choice.)

Errors (all :class:`PolicyError`, each naming the policy)::

    PolicyError
    ├── InvalidPolicy   the spec cannot be used (Flux: Stalled, InvalidPolicy)
    ├── NoTagMatches    no tag left to choose from (Flux: Ready=False, Failure)
    └── NotANumber      numerical, and a tag is not a number (Flux: Ready=False)
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.api.imagepolicy import ImagePolicySpec
from shared.goregexp import InvalidRegexp, compile_go
from shared.semver import InvalidConstraint, Version, parse_constraint, parse_flux_version

__all__ = [
    "Choice",
    "InvalidPolicy",
    "NoTagMatches",
    "NotANumber",
    "PolicyError",
    "choose_tag",
    "expand_template",
    "filter_tags",
    "latest_alphabetical",
    "latest_numerical",
    "latest_semver",
    "parse_go_float",
]

Order = Literal["asc", "desc"]


class PolicyError(Exception):
    """The policy chose no tag; ``policy`` names it (``namespace/name``), ``reason`` says why."""

    def __init__(self, policy: str, reason: str) -> None:
        super().__init__(f"ImagePolicy {policy}: {reason}")
        self.policy = policy
        self.reason = reason


class InvalidPolicy(PolicyError):
    """The spec cannot be used (a bad regexp or range): retrying will not help."""


class NoTagMatches(PolicyError):
    """No tag is left to choose from: none scanned, none through the filter or in the range."""


class NotANumber(PolicyError):
    """A numerical policy met a tag that is not a number; ``tag`` is the first such tag."""

    def __init__(self, policy: str, reason: str, *, tag: str) -> None:
        super().__init__(policy, reason)
        self.tag = tag


@dataclass(frozen=True)
class Choice:
    """What a policy chose: ``tag`` is the image's tag (``status.latestRef.tag``);
    ``compared`` the value the rule ordered (``extract``'s result, else the tag)."""

    tag: str
    compared: str


def choose_tag(spec: ImagePolicySpec, tags: Sequence[str], *, policy: str) -> Choice:
    """The tag ``spec`` chooses among ``tags`` (a repository's scanned tags, any order).

    ``policy`` names the ImagePolicy in errors (``namespace/name``). Raises
    :class:`InvalidPolicy`, :class:`NoTagMatches` or :class:`NotANumber`.
    """
    if not tags:
        raise NoTagMatches(policy, "the image repository has no tags to choose from")
    # Flux's stored order: descending bytes (Python orders str by code point, the same).
    tags = sorted(set(tags), reverse=True)
    originals = {tag: tag for tag in tags}
    if spec.filter_tags is not None:
        pattern, extract = spec.filter_tags.pattern, spec.filter_tags.extract
        try:
            originals = filter_tags(tags, pattern=pattern, extract=extract)
        except InvalidRegexp as err:
            raise InvalidPolicy(policy, f'invalid filterTags.pattern "{pattern}": {err}') from None
        if not originals:
            raise NoTagMatches(
                policy, f'none of the {len(tags)} tags matches filterTags.pattern "{pattern}"'
            )
    candidates = sorted(originals, reverse=True)
    rule = spec.policy
    if rule.semver is not None:
        try:
            chosen = latest_semver(candidates, rule.semver.range)
        except InvalidConstraint as err:
            raise InvalidPolicy(policy, f"invalid semver.range: {err}") from None
        if chosen is None:
            raise NoTagMatches(
                policy,
                f'no tag of {_counted(candidates)} is a version in range "{rule.semver.range}"',
            )
    elif rule.numerical is not None:
        try:
            chosen = latest_numerical(candidates, order=rule.numerical.order)
        except ValueError:
            bad = next(c for c in candidates if parse_go_float(c) is None)
            raise NotANumber(
                policy,
                f'tag "{originals[bad]}" is not a number{_extracted(bad, originals)}: '
                "a numerical policy orders numbers only; set filterTags.pattern "
                "to keep only numeric tags",
                tag=originals[bad],
            ) from None
    elif rule.alphabetical is not None:
        chosen = latest_alphabetical(candidates, order=rule.alphabetical.order)
    else:  # the model refuses this at apply; a spec built in code may still lack it
        raise InvalidPolicy(
            policy, "spec.policy names no rule: set semver, alphabetical or numerical"
        )
    return Choice(tag=originals[chosen], compared=chosen)


def _counted(candidates: Sequence[str]) -> str:
    return "the 1 candidate" if len(candidates) == 1 else f"the {len(candidates)} candidates"


def _extracted(value: str, originals: dict[str, str]) -> str:
    return f' (extracted "{value}")' if originals[value] != value else ""


def filter_tags(tags: Iterable[str], *, pattern: str, extract: str = "") -> dict[str, str]:
    """The tags ``pattern`` finds a match in, keyed by the value to compare (``extract``'s
    expansion, else the tag itself) and mapped to the original tag.

    Insertion order follows ``tags``; a later tag overwrites an earlier one
    with the same value. Raises InvalidRegexp for a pattern Go refuses.
    """
    compiled = compile_go(pattern)
    kept: dict[str, str] = {}
    for tag in tags:
        match = compiled.search(tag)
        if match is None:
            continue
        value = expand_template(extract, match, names=compiled.groupindex) if extract else tag
        kept.pop(value, None)  # a later tag takes the value, and its place in the order
        kept[value] = tag
    return kept


def expand_template(template: str, match: Any, *, names: dict[str, int]) -> str:
    """``template`` with ``$n``, ``$name`` and ``${...}`` replaced from ``match``, as Go's
    ``Regexp.ExpandString``: the longest name wins (``$1x`` is group ``1x``, use ``${1}x``),
    an unknown or unmatched group is empty, ``$$`` is ``$``, a lone ``$`` stays."""
    out: list[str] = []
    rest = template
    while True:
        before, dollar, rest = rest.partition("$")
        out.append(before)
        if not dollar:
            return "".join(out)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        reference = _reference(rest)
        if reference is None:
            out.append("$")  # malformed: Go keeps the $ as text
            continue
        name, rest = reference
        out.append(_group(match, name, names))


def _is_name_char(char: str) -> bool:
    # Go: unicode.IsLetter, unicode.IsDigit (Nd) or '_'.
    return char.isalpha() or char == "_" or unicodedata.category(char) == "Nd"


def _reference(text: str) -> tuple[str, str] | None:
    """The group name at the start of ``text`` (after ``$``) and what follows it."""
    brace = text.startswith("{")
    body = text[1:] if brace else text
    end = 0
    while end < len(body) and _is_name_char(body[end]):
        end += 1
    if end == 0:
        return None
    name = body[:end]
    if brace:
        if end >= len(body) or body[end] != "}":
            return None
        end += 1
    return name, body[end:]


def _group(match: Any, name: str, names: dict[str, int]) -> str:
    index = _group_number(name)
    if index is None:
        index = names.get(name)
    if index is None or index > match.re.groups:
        return ""
    start, end = match.span(index)
    return "" if start < 0 else str(match.string[start:end])


def _group_number(name: str) -> int | None:
    """``name`` as a group number, as Go reads it: ASCII digits, no leading zero, < 1e8."""
    if not name.isascii() or not name.isdigit() or (len(name) > 1 and name[0] == "0"):
        return None
    number = int(name)
    return number if number < 100_000_000 else None


def latest_semver(tags: Iterable[str], version_range: str) -> str | None:
    """The tag with the highest version in ``version_range``, None when none is.

    Tags that are not versions are skipped; of equal versions (``1.0.0`` and
    ``v1.0.0``) the first in ``tags`` wins. Raises InvalidConstraint.
    """
    constraint = parse_constraint(version_range)
    best: Version | None = None
    for tag in tags:
        version = parse_flux_version(tag)
        if version is None or not constraint.check(version):
            continue
        if best is None or version.compare(best) > 0:
            best = version
    return best.original if best is not None else None


def latest_alphabetical(tags: Iterable[str], *, order: Order = "asc") -> str:
    """The last tag in byte order (``asc``) or the first (``desc``); ValueError when empty."""
    values = list(tags)
    if not values:
        raise ValueError("no tags to order")
    # Python orders str by code point, which is UTF-8 byte order, as Go's sort.Strings.
    return max(values) if order == "asc" else min(values)


def latest_numerical(tags: Iterable[str], *, order: Order = "asc") -> str:
    """The greatest number (``asc``) or the least (``desc``); of equal ones, the last.

    Flux's loop, step for step: a tag replaces the current choice unless it
    is smaller (``asc``) or greater (``desc``), so a ``NaN`` tag, which
    compares false with everything, takes the place it reaches. ValueError
    when empty or when a tag is not a number as Go reads one.
    """
    values = list(tags)
    if not values:
        raise ValueError("no tags to order")
    latest, best = "", 0.0
    for index, tag in enumerate(values):
        number = parse_go_float(tag)
        if number is None:
            raise ValueError(f"{tag!r} is not a number")
        if index > 0 and (number < best if order == "asc" else number > best):
            continue
        latest, best = tag, number
    return latest


_DECIMAL = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)


def parse_go_float(text: str) -> float | None:
    """``text`` as Go's ``strconv.ParseFloat(text, 64)`` reads it, None where Go errs.

    Decimal and hexadecimal (``0x1p-2``) forms, ``Inf``/``Infinity``/``NaN`` in
    any case, ``_`` between digits; no spaces; out of range is an error.
    """
    if _SPECIAL.fullmatch(text):
        return float(text)
    hexadecimal = _HEX.fullmatch(text) is not None
    if not hexadecimal and _DECIMAL.fullmatch(text) is None:
        return None
    if "_" in text and not _underscores_ok(text):
        return None
    plain = text.replace("_", "")
    try:
        value = float.fromhex(plain) if hexadecimal else float(plain)
    except (ValueError, OverflowError):
        return None
    return None if math.isinf(value) else value


def _underscores_ok(text: str) -> bool:
    """Go's ``underscoreOK``: each ``_`` between digits, or after a base prefix."""
    body = text.lstrip("+-")
    hexadecimal = body[:2].lower() == "0x"
    saw = "0" if hexadecimal else "^"
    for char in body[2:] if hexadecimal else body:
        if char.isdigit() or (hexadecimal and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"
