"""Which paths of a source tree stay out of its artifact: .gitignore syntax read as Flux does.

Patterns come, lowest priority first, from: the VCS exclusions (always), the
default exclusions (only when neither a `.sourceignore` file nor `spec.ignore`
gives any pattern, as in source-controller), every `.sourceignore` file (the
root first, then subdirectories depth first, each scoped to its directory),
then `spec.ignore`. The last pattern that matches a path decides, so a later
`!pattern` re-includes a path an earlier one excluded, even inside an
excluded directory (go-git semantics, which Flux uses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "DEFAULT_EXCLUDES",
    "SOURCEIGNORE",
    "VCS_EXCLUDES",
    "IgnoreMatcher",
    "Pattern",
    "build_matcher",
    "parse_pattern",
    "read_patterns",
]

SOURCEIGNORE = ".sourceignore"
VCS_EXCLUDES = (".git/", ".gitignore", ".gitmodules", ".gitattributes")
DEFAULT_EXCLUDES = (
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
    "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)  # fmt: skip


@dataclass(frozen=True)
class Pattern:
    """One parsed line: `domain` is the directory of the file it came from."""

    text: str
    parts: tuple[str, ...]
    domain: tuple[str, ...] = ()
    inclusion: bool = False
    dir_only: bool = False
    anchored: bool = False

    def match(self, path: Sequence[str], *, is_dir: bool) -> bool | None:
        """True to exclude, False to include (a `!` pattern), None when it does not apply."""
        depth = len(self.domain)
        if len(path) <= depth or tuple(path[:depth]) != self.domain:
            return None
        rest = tuple(path[depth:])
        hit = (
            _glob_match(self.parts, rest, 0, 0, dir_only=self.dir_only, is_dir=is_dir)
            if self.anchored
            else self._name_match(rest, is_dir=is_dir)
        )
        if not hit:
            return None
        return not self.inclusion

    def _name_match(self, path: tuple[str, ...], *, is_dir: bool) -> bool:
        last = len(path) - 1
        for index, name in enumerate(path):
            if _component_match(self.parts[0], name):
                # A `dir/` pattern matches a parent directory, or the path itself if a directory.
                return not (self.dir_only and not is_dir and index == last)
        return False


@dataclass(frozen=True)
class IgnoreMatcher:
    """An ordered pattern list; the last pattern that applies to a path decides."""

    patterns: tuple[Pattern, ...]

    @property
    def has_inclusions(self) -> bool:
        """Whether any `!pattern` could re-include a path below an excluded directory."""
        return any(p.inclusion for p in self.patterns)

    def ignored(self, path: str | Sequence[str], *, is_dir: bool = False) -> bool:
        """Whether `path` (relative, `/`-separated, or its components) is left out."""
        parts = [p for p in path.split("/") if p] if isinstance(path, str) else list(path)
        for pattern in reversed(self.patterns):
            verdict = pattern.match(parts, is_dir=is_dir)
            if verdict is not None:
                return verdict
        return False


def parse_pattern(line: str, domain: Sequence[str] = ()) -> Pattern:
    """Parse one .gitignore line (not a comment or blank) scoped to `domain`."""
    text = line
    inclusion = line.startswith("!")
    if inclusion:
        line = line[1:]
    if not line.endswith("\\ "):
        line = line.rstrip(" ")
    dir_only = line.endswith("/")
    if dir_only:
        line = line[:-1]
    anchored = "/" in line
    parts = tuple(p for p in line.split("/") if p) if anchored else (line,)
    return Pattern(
        text=text,
        parts=parts,
        domain=tuple(domain),
        inclusion=inclusion,
        dir_only=dir_only,
        anchored=anchored,
    )


def read_patterns(text: str, domain: Sequence[str] = ()) -> list[Pattern]:
    """Every pattern in a .gitignore-syntax text, skipping comments and blank lines."""
    patterns = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("#") or not line.strip():
            continue
        patterns.append(parse_pattern(line, domain))
    return patterns


def build_matcher(
    *, spec_ignore: str | None = None, sourceignores: Mapping[str, str] | None = None
) -> IgnoreMatcher:
    """The matcher for one artifact: `sourceignores` maps a directory ("" = root) to its file."""
    found: list[Pattern] = []
    for directory in sorted(sourceignores or {}, key=_dir_key):
        domain = _dir_key(directory)
        found.extend(read_patterns((sourceignores or {})[directory], domain))
    if spec_ignore is not None:
        found.extend(read_patterns(spec_ignore))
    base = [parse_pattern(p) for p in VCS_EXCLUDES]
    if not found:
        base.extend(parse_pattern(p) for p in DEFAULT_EXCLUDES)
    return IgnoreMatcher(patterns=(*base, *found))


def _dir_key(directory: str) -> tuple[str, ...]:
    return tuple(p for p in directory.split("/") if p and p != ".")


def _glob_match(
    parts: tuple[str, ...],
    path: tuple[str, ...],
    pi: int,
    si: int,
    *,
    dir_only: bool,
    is_dir: bool,
) -> bool:
    if pi == len(parts):
        # The pattern named this path, or one of its parent directories.
        return si < len(path) or is_dir or not dir_only
    part = parts[pi]
    if part == "**":
        if pi == len(parts) - 1:
            return si < len(path)
        return any(
            _glob_match(parts, path, pi + 1, k, dir_only=dir_only, is_dir=is_dir)
            for k in range(si, len(path))
        )
    if si == len(path) or not _component_match(part, path[si]):
        return False
    return _glob_match(parts, path, pi + 1, si + 1, dir_only=dir_only, is_dir=is_dir)


def _component_match(glob: str, name: str) -> bool:
    regex = _compile(glob)
    return regex is not None and regex.fullmatch(name) is not None


@lru_cache(maxsize=1024)
def _compile(glob: str) -> re.Pattern[str] | None:
    """Go filepath.Match syntax as a regex; None for a malformed glob, which matches nothing."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            if i + 1 == len(glob):
                return None
            i += 1
            out.append(re.escape(glob[i]))
        elif c == "[":
            end, cls = _char_class(glob, i + 1)
            if cls is None:
                return None
            out.append(cls)
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _char_class(glob: str, i: int) -> tuple[int, str | None]:
    negate = i < len(glob) and glob[i] in "^!"
    if negate:
        i += 1
    ranges: list[str] = []
    while i < len(glob):
        c = glob[i]
        if c == "]" and ranges:
            body = "".join(ranges)
            return i, f"[{'^' if negate else ''}{body}]"
        if c == "\\":
            i += 1
            if i == len(glob):
                return i, None
            c = glob[i]
        lo = c
        if i + 2 < len(glob) and glob[i + 1] == "-" and glob[i + 2] != "]":
            hi = glob[i + 2]
            if hi < lo:
                return i, None
            ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
            i += 3
            continue
        ranges.append(re.escape(lo))
        i += 1
    return i, None
