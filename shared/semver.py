"""Semantic versions and Masterminds/semver v3 ranges, the library Flux uses for every semver field.

GitRepository ``spec.ref.semver``, HelmChart ``spec.version``, ImagePolicy
``semver.range`` and OCIRepository ``spec.ref.semver`` all read their ranges
this way: ``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=``, ``~``, ``^``, x-ranges,
hyphen ranges, ``||`` for OR and commas or spaces for AND. A pre-release only
matches an AND group of which some term names a pre-release: ``>=1.0.0-0 <2.0.0``
takes ``1.5.0-rc.1``, ``>=1.0.0 <2.0.0`` does not (Masterminds v3.4 and later,
which every Flux controller of v2.9 builds with; v3.2 applied the rule term by
term). :func:`parse_version` reads strict ``X.Y.Z[-pre][+meta]`` with an
optional leading ``v``; :func:`parse_flux_version` reads tags as
``fluxcd/pkg/version.ParseVersion`` does (ImagePolicy, Git tags): three
dot-separated parts, leading zeros allowed (``v2025.02.03``). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "Constraint",
    "InvalidConstraint",
    "Version",
    "highest_matching",
    "parse_constraint",
    "parse_flux_version",
    "parse_loose_version",
    "parse_version",
]

_X = ("x", "X", "*")

_NUM = r"(0|[1-9][0-9]*)"
_PRE = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"  # numeric parts without leading 0
_META = r"[0-9A-Za-z-]+"
_STRICT = re.compile(
    rf"^{_NUM}\.{_NUM}\.{_NUM}(?:-({_PRE}(?:\.{_PRE})*))?(?:\+({_META}(?:\.{_META})*))?$"
)
_CV = (
    r"v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?"
    r"(-([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?"
)
_CV_NOGROUPS = re.sub(r"\((?!\?)", "(?:", _CV)
_OPS = r"=|!=|>|<|>=|=>|<=|=<|~|~>|\^|"
_ONE = re.compile(rf"^\s*({_OPS})\s*{_CV}\s*$")
_FIND = re.compile(rf"(?:{_OPS})\s*{_CV_NOGROUPS}")
_VALID = re.compile(
    rf"^\s*(?:{_OPS})\s*{_CV_NOGROUPS}\s*(?:(?:\s+|,\s*)(?:{_OPS})\s*{_CV_NOGROUPS}\s*)*$"
)
_RANGE = re.compile(rf"\s*({_CV_NOGROUPS})\s+-\s+({_CV_NOGROUPS})\s*")
# Masterminds' NewVersion (coercing: leading zeros allowed; minor, patch optional).
_LOOSE = re.compile(
    r"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
# Masterminds' bounds on what it parses.
MAX_VERSION_LENGTH = 256
MAX_CONSTRAINT_LENGTH = 512
MAX_CONSTRAINT_GROUPS = 32
_UINT64_MAX = 2**64 - 1


class InvalidConstraint(ValueError):
    """A semver range that cannot be parsed."""


@dataclass(frozen=True)
class Version:
    """A semantic version; `original` is the text it was parsed from (the tag)."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = ""

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 as Masterminds orders versions (build metadata ignored)."""
        mine, theirs = (self.major, self.minor, self.patch), (other.major, other.minor, other.patch)
        if mine != theirs:
            return -1 if mine < theirs else 1
        if self.prerelease == other.prerelease:
            return 0
        if not self.prerelease:
            return 1
        if not other.prerelease:
            return -1
        return _compare_prerelease(self.prerelease, other.prerelease)


def parse_version(tag: str) -> Version | None:
    """A strict `X.Y.Z[-pre][+meta]` version with an optional leading `v`, else None."""
    match = _STRICT.match(tag.removeprefix("v"))
    if match is None:
        return None
    major, minor, patch, pre, meta = match.groups()
    return Version(int(major), int(minor), int(patch), pre or "", meta or "", tag)


def parse_flux_version(tag: str) -> Version | None:
    """``tag`` as ``fluxcd/pkg/version.ParseVersion`` reads it, else None.

    Three dot-separated parts are required (``1.2`` is not a version, though
    Masterminds alone would read it as 1.2.0); then Masterminds' coercing
    parse: an optional ``v``, numbers with leading zeros (``v01.02.03`` is
    1.2.3), a pre-release whose numeric identifiers have none, build metadata.
    """
    if len(tag) > MAX_VERSION_LENGTH or len(tag.split(".", 2)) != 3:
        return None
    match = _LOOSE.fullmatch(tag)
    if match is None:
        return None
    major, minor, patch, pre, meta = match.groups()
    numbers = [int(part) if part else 0 for part in (major, minor, patch)]
    if any(number > _UINT64_MAX for number in numbers):
        return None
    if not _valid_prerelease(pre or ""):
        return None
    return Version(numbers[0], numbers[1], numbers[2], pre or "", meta or "", tag)


def parse_loose_version(tag: str) -> Version | None:
    """``tag`` as Masterminds' ``NewVersion`` reads it (Flux v1's ``semver:`` tag filters), else
    None: an optional ``v``, minor and patch optional (``1.2`` is 1.2.0), leading zeros allowed.
    """
    if len(tag) > MAX_VERSION_LENGTH:
        return None
    match = _LOOSE.fullmatch(tag)
    if match is None or not _valid_prerelease(match.group(4) or ""):
        return None
    major, minor, patch, pre, meta = match.groups()
    numbers = [int(part) if part else 0 for part in (major, minor, patch)]
    if any(number > _UINT64_MAX for number in numbers):
        return None
    return Version(numbers[0], numbers[1], numbers[2], pre or "", meta or "", tag)


def _valid_prerelease(prerelease: str) -> bool:
    """Masterminds: numeric pre-release identifiers have no leading zero (``rc.01`` is refused)."""
    return not any(
        part.isdigit() and len(part) > 1 and part[0] == "0" for part in prerelease.split(".")
    )


def highest_matching(constraint: str, candidates: Iterable[str]) -> str | None:
    """The candidate with the highest version matching the range, None when none does.

    Candidates that are not versions are skipped; equal versions (``1.0.0``
    and ``v1.0.0``) go to the greater string.
    """
    parsed = parse_constraint(constraint)
    best: Version | None = None
    for candidate in candidates:
        version = parse_version(candidate)
        if version is None or not parsed.check(version):
            continue
        if best is None:
            best = version
            continue
        order = version.compare(best)
        if order > 0 or (order == 0 and version.original > best.original):
            best = version
    return best.original if best is not None else None


@dataclass(frozen=True)
class _Term:
    op: str
    con: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: Version, *, include_prerelease: bool) -> bool:
        # Masterminds v3.4+: whether pre-releases count is decided per AND group.
        if v.prerelease and not include_prerelease:
            return False
        return _OPERATORS[self.op](v, self)


@dataclass(frozen=True)
class Constraint:
    """A parsed Masterminds range: OR of AND groups."""

    text: str
    groups: tuple[tuple[_Term, ...], ...]

    def check(self, version: Version) -> bool:
        """Whether `version` satisfies the range."""
        return any(
            all(term.check(version, include_prerelease=_names_prerelease(group)) for term in group)
            for group in self.groups
        )


def _names_prerelease(group: tuple[_Term, ...]) -> bool:
    return any(term.con.prerelease for term in group)


def parse_constraint(text: str) -> Constraint:
    """A Masterminds range such as `>=1.2.0 <2.0.0 || ~3.1`; InvalidConstraint if malformed."""
    if len(text) > MAX_CONSTRAINT_LENGTH:
        raise InvalidConstraint(
            f"semver range is too long: {len(text)} characters, at most {MAX_CONSTRAINT_LENGTH}"
        )
    rewritten = _RANGE.sub(lambda m: f" >= {m.group(1)}, <= {m.group(2)} ", text)
    groups: list[tuple[_Term, ...]] = []
    parts = rewritten.split("||")
    if len(parts) > MAX_CONSTRAINT_GROUPS:
        raise InvalidConstraint(
            f"semver range {text!r} has {len(parts)} ||-groups, at most {MAX_CONSTRAINT_GROUPS}"
        )
    for part in parts:
        if not _VALID.match(part):
            raise InvalidConstraint(f"semver range {text!r} is not valid: {part.strip()!r}")
        groups.append(tuple(_parse_term(m.group(0)) for m in _FIND.finditer(part)))
    return Constraint(text=text, groups=tuple(groups))


def _parse_term(text: str) -> _Term:
    match = _ONE.match(text)
    if match is None:
        raise InvalidConstraint(f"semver constraint {text!r} is not valid")
    op, major = match.group(1), match.group(2)
    minor, patch = (match.group(3) or "").lstrip("."), (match.group(4) or "").lstrip(".")
    prerelease = (match.group(5) or "").removeprefix("-")
    dirty = minor_dirty = patch_dirty = False
    if major in _X:
        dirty, parts = True, ["0", "0", "0"]
    elif not minor or minor in _X:
        dirty = minor_dirty = True
        parts = [major, "0", "0"]
    elif not patch or patch in _X:
        dirty = patch_dirty = True
        parts = [major, minor, "0"]
    else:
        parts = [major, minor, patch]
    if not all(part.isdigit() for part in parts) or not _valid_prerelease(prerelease):
        raise InvalidConstraint(f"semver constraint {text!r} is not valid")
    numbers = [int(part) for part in parts]
    if any(number > _UINT64_MAX for number in numbers):
        raise InvalidConstraint(f"semver constraint {text!r} is not valid: a number is too big")
    con = Version(numbers[0], numbers[1], numbers[2], prerelease=prerelease)
    return _Term(op, con, dirty, minor_dirty, patch_dirty)


def _tilde(v: Version, t: _Term) -> bool:
    if v.compare(t.con) < 0:
        return False
    c = t.con
    if (c.major, c.minor, c.patch) == (0, 0, 0) and not t.minor_dirty and not t.patch_dirty:
        return True
    return v.major == c.major and (v.minor == c.minor or t.minor_dirty)


def _caret(v: Version, t: _Term) -> bool:
    c = t.con
    if v.compare(c) < 0:
        return False
    if c.major > 0 or t.minor_dirty:
        return v.major == c.major
    if v.major > 0:
        return False
    if c.minor > 0 or t.patch_dirty:
        return v.minor == c.minor
    return v.minor == 0 and v.patch == c.patch


def _not_equal(v: Version, t: _Term) -> bool:
    c = t.con
    if t.dirty:
        if c.major != v.major:
            return True
        if t.minor_dirty:
            return False
        if c.minor != v.minor:
            return True
        if t.patch_dirty:
            return bool(v.prerelease or c.prerelease) and (
                _compare_prerelease(v.prerelease, c.prerelease) != 0
            )
        if c.patch != v.patch:
            return True
    return v.compare(c) != 0


def _greater(v: Version, t: _Term) -> bool:
    c = t.con
    if not t.dirty:
        return v.compare(c) > 0
    if v.major != c.major:
        return v.major > c.major
    if t.minor_dirty:
        return False
    if t.patch_dirty:
        return v.minor > c.minor
    return v.compare(c) > 0


def _less_equal(v: Version, t: _Term) -> bool:
    c = t.con
    if not t.dirty:
        return v.compare(c) <= 0
    if v.major > c.major:
        return False
    return not (v.major == c.major and v.minor > c.minor and not t.minor_dirty)


_OPERATORS: dict[str, Callable[[Version, _Term], bool]] = {
    "": lambda v, t: _tilde(v, t) if t.dirty else v.compare(t.con) == 0,
    "=": lambda v, t: _tilde(v, t) if t.dirty else v.compare(t.con) == 0,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda v, t: v.compare(t.con) < 0,
    ">=": lambda v, t: v.compare(t.con) >= 0,
    "=>": lambda v, t: v.compare(t.con) >= 0,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _compare_prerelease(a: str, b: str) -> int:
    left, right = a.split("."), b.split(".")
    for index in range(max(len(left), len(right))):
        x = left[index] if index < len(left) else ""
        y = right[index] if index < len(right) else ""
        if x == y:
            continue
        if not x or not y:
            return -1 if not x else 1
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            # Numeric identifiers sort before alphanumeric ones.
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return 0
