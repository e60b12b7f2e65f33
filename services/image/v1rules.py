"""Flux v1's automation rules: the workload annotations, the tag patterns, the tag fluxd chose.

What fluxd read from a workload's (or HelmRelease's) annotations
(``pkg/cluster/kubernetes/resource.PoliciesFromAnnotations``,
``pkg/policy``), and how it chose a container's next tag
(``pkg/daemon/images.go calculateChanges``, ``pkg/update/images.go``):

- keys ``fluxcd.io/<policy>`` and the legacy ``flux.weave.works/<policy>``;
  ``filter.fluxcd.io/<container>`` is ``tag.<container>``;
- ``automated`` and ``locked`` count only when the value is the string
  ``"true"``; a locked workload is never automated;
- ``tag.<container>`` is the container's pattern; sluice also reads
  ``tag_all`` as the pattern of every container without its own (fluxctl's
  ``policy --tag-all`` wrote it out per container; reading it as written is a
  superset); neither: ``glob:*``;
- patterns: ``glob:`` (the default prefix; ``*`` is the only wildcard, as
  ryanuber/go-glob), ``semver:`` (a Masterminds range; tags parsed as
  Masterminds' coercing ``NewVersion``), ``regexp:`` or ``regex:`` (Go
  syntax, unanchored); an invalid range or regexp matches every tag, as in
  fluxd (the apply-time check in ``v1images`` reports it instead of hiding it);
- ``latest`` (any case) is never a candidate unless the pattern is
  exactly ``glob:latest``;
- semver orders by version (the greater tag text first among equal
  versions); glob and regexp by the image's creation time, newest first
  (ties: the smaller tag first); for those, fluxd skipped a container whose
  current or newest image has no creation time.

Pure: no I/O.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any, Literal

from shared.goregexp import InvalidRegexp, compile_go
from shared.semver import Constraint, InvalidConstraint, parse_constraint, parse_loose_version

__all__ = [
    "POLICY_PREFIXES",
    "Choice",
    "TagPattern",
    "V1Policies",
    "choose_tag",
    "glob_match",
    "policies_from_annotations",
]

POLICY_PREFIXES = ("fluxcd.io/", "flux.weave.works/")
FILTER_PREFIX = "filter.fluxcd.io/"
_TRUE = "true"
_PREFIXES: tuple[tuple[str, Literal["glob", "semver", "regexp"]], ...] = (
    ("semver:", "semver"),
    ("regexp:", "regexp"),
    ("regex:", "regexp"),
)
# Go's zero time.Time: an image without a creation time sorts as the oldest.
_ZERO = datetime.datetime.min.replace(tzinfo=datetime.UTC)

Created = Callable[[str], "datetime.datetime | None"]
"""A tag's image creation time (None: unknown, fluxd's zero time)."""


def glob_match(pattern: str, subject: str) -> bool:
    """ryanuber/go-glob's ``Glob``: ``*`` matches any run of characters, nothing else is special."""
    if pattern == "*":
        return True
    parts = pattern.split("*")
    if len(parts) == 1:
        return subject == pattern
    leading, trailing = pattern.startswith("*"), pattern.endswith("*")
    last = len(parts) - 1
    for index in range(last):
        found = subject.find(parts[index])
        if index == 0 and not leading and found != 0:
            return False
        if found < 0:
            return False
        subject = subject[found + len(parts[index]) :]
    return trailing or subject.endswith(parts[last])


@dataclass(frozen=True)
class TagPattern:
    """One tag filter: ``glob:1.*``, ``semver:~1.10``, ``regexp:^v\\d+$`` (text without prefix)."""

    kind: Literal["glob", "semver", "regexp"]
    text: str
    problem: str = ""  # why a semver range or regexp is invalid (then it matches everything)
    _constraint: Constraint | None = field(default=None, compare=False, repr=False)
    _regexp: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, value: str) -> TagPattern:
        """fluxd's ``NewPattern``: the prefix picks the kind; no known prefix is a glob."""
        for prefix, kind in _PREFIXES:
            if value.startswith(prefix):
                text = value.removeprefix(prefix)
                if kind == "semver":
                    try:
                        return cls(kind, text, _constraint=parse_constraint(text))
                    except InvalidConstraint as err:
                        return cls(kind, text, problem=str(err))
                try:
                    return cls(kind, text, _regexp=compile_go(text))
                except InvalidRegexp as err:
                    return cls(kind, text, problem=f"invalid regexp {text!r}: {err}")
        return cls("glob", value.removeprefix("glob:"))

    def __str__(self) -> str:
        return f"{self.kind}:{self.text}"

    @property
    def requires_timestamp(self) -> bool:
        """Whether tags are ordered by the image's creation time (glob, regexp)."""
        return self.kind != "semver"

    def matches(self, tag: str) -> bool:
        """Whether ``tag`` is a candidate (``latest`` only for ``glob:latest``)."""
        if tag.lower() == "latest" and not (self.kind == "glob" and self.text == "latest"):
            return False
        if self.kind == "glob":
            return glob_match(self.text, tag)
        if self.kind == "semver":
            version = parse_loose_version(tag)
            if version is None:
                return False
            return self._constraint is None or self._constraint.check(version)
        return self._regexp is None or self._regexp.search(tag) is not None


ALL = TagPattern("glob", "*")


@dataclass(frozen=True)
class V1Policies:
    """The v1 policies one object's annotations set."""

    automated: bool = False
    locked: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)  # container -> pattern text
    tag_all: str = ""

    @property
    def active(self) -> bool:
        """Whether fluxd would automate the object: automated and not locked."""
        return self.automated and not self.locked

    def pattern_for(self, container: str) -> TagPattern:
        """The container's pattern: ``tag.<container>``, else ``tag_all``, else ``glob:*``."""
        text = self.tags.get(container) or self.tag_all
        return TagPattern.parse(text) if text else ALL

    def patterns(self) -> dict[str, TagPattern]:
        """Every pattern written, by its annotation's policy name (for checking them)."""
        found = {f"tag.{name}": TagPattern.parse(text) for name, text in self.tags.items()}
        if self.tag_all:
            found["tag_all"] = TagPattern.parse(self.tag_all)
        return found


def policies_from_annotations(annotations: Mapping[str, str]) -> V1Policies:
    """The v1 policies in ``annotations`` (both prefixes; ``filter.fluxcd.io/`` as ``tag.``)."""
    policies: dict[str, str] = {}
    # fluxd ranged over a Go map, so with both prefixes the winner was random: sluice lets
    # the current prefix win, and the filter form lose to both.
    for key in sorted(annotations, key=_precedence):
        value = annotations[key]
        if key.startswith(FILTER_PREFIX):
            policies[f"tag.{key.removeprefix(FILTER_PREFIX)}"] = value
            continue
        for prefix in POLICY_PREFIXES:
            if key.startswith(prefix):
                policies[key.removeprefix(prefix)] = value
    tags = {
        name.removeprefix("tag."): value
        for name, value in policies.items()
        if name.startswith("tag.") and name != "tag."
    }
    return V1Policies(
        automated=policies.get("automated") == _TRUE,
        locked=policies.get("locked") == _TRUE,
        tags=tags,
        tag_all=policies.get("tag_all", ""),
    )


def _precedence(key: str) -> tuple[int, str]:
    order = {FILTER_PREFIX: 0, POLICY_PREFIXES[1]: 1, POLICY_PREFIXES[0]: 2}
    for prefix, rank in order.items():
        if key.startswith(prefix):
            return rank, key
    return 3, key


@dataclass(frozen=True)
class Choice:
    """The tag to write (None: leave the container), and why not when skipped."""

    tag: str | None
    skipped: str = ""


def _newer_by_semver(a: str, b: str) -> int:
    """fluxd's ``NewerBySemver`` as a sort key: negative when ``a`` sorts first (is newer)."""
    va, vb = parse_loose_version(a), parse_loose_version(b)
    if va is None and vb is None:
        return -1 if a < b else (1 if a > b else 0)
    if va is None:
        return 1
    if vb is None:
        return -1
    order = va.compare(vb)
    if order == 0:  # 1.10.0 beside 1.10: the longer text is newer, as fluxd
        return -1 if a > b else (1 if a < b else 0)
    return -order


def _newer_by_created(created: Created) -> Callable[[str, str], int]:
    def compare(a: str, b: str) -> int:
        ta, tb = created(a) or _ZERO, created(b) or _ZERO
        if ta == tb:
            return -1 if a < b else (1 if a > b else 0)
        return -1 if ta > tb else 1

    return compare


def choose_tag(
    pattern: TagPattern,
    *,
    current: str,
    tags: Iterable[str],
    created: Created | None = None,
) -> Choice:
    """The tag fluxd would move a container at ``current`` to, among the registry's ``tags``.

    ``created`` is needed for glob and regexp patterns only (the image's creation time).
    """
    candidates = [tag for tag in tags if pattern.matches(tag)]
    if not candidates:
        return Choice(None, f"no tag matches {pattern}")
    if pattern.requires_timestamp:
        when = created or (lambda _tag: None)
        latest = sorted(candidates, key=cmp_to_key(_newer_by_created(when)))[0]
    else:
        latest = sorted(candidates, key=cmp_to_key(_newer_by_semver))[0]
    if latest == current:
        return Choice(None)
    if pattern.requires_timestamp:
        when = created or (lambda _tag: None)
        if when(current) is None or when(latest) is None:
            return Choice(None, f"image with zero created timestamp ({current} or {latest})")
    return Choice(latest)
