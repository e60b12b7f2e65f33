"""Which paths of a source tree stay out of its artifact: .gitignore syntax read as Flux does.

Patterns come, lowest priority first, from: the VCS exclusions (always), the
default exclusions (only when neither a `.sourceignore` file nor `spec.ignore`
gives any pattern, as in source-controller), every `.sourceignore` file (the
root first, then subdirectories depth first, each scoped to its directory),
then `spec.ignore`. The last pattern that matches a path decides, so a later
`!pattern` re-includes a path an earlier one excluded, even inside an
excluded directory (go-git semantics, which Flux uses).

Each layer is matched by the `pathspec` library's GitIgnoreSpec (git's
wildmatch rules) on its RE2 backend (`google-re2`: linear time, whatever the
patterns); this module only orders the layers and scopes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pathspec import GitIgnoreSpec

__all__ = [
    "DEFAULT_EXCLUDES",
    "SOURCEIGNORE",
    "VCS_EXCLUDES",
    "IgnoreMatcher",
    "Layer",
    "build_matcher",
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
class Layer:
    """The patterns of one source, applying below `domain` (the directory of its file)."""

    spec: GitIgnoreSpec
    domain: tuple[str, ...] = ()

    @classmethod
    def parse(cls, lines: Sequence[str], domain: Sequence[str] = ()) -> Layer:
        """A layer from .gitignore-syntax lines; comments and blank lines give no pattern."""
        # RE2, never Python's backtracking re: the lines come with the source, and
        # `*a*a*a...b` would otherwise take hours on one long path.
        return cls(GitIgnoreSpec.from_lines(lines, backend="re2"), tuple(domain))

    @property
    def size(self) -> int:
        """How many patterns (not comments or blank lines) the layer holds."""
        return sum(p.include is not None for p in self.spec.patterns)

    @property
    def has_inclusions(self) -> bool:
        """Whether any `!pattern` of the layer re-includes paths."""
        return any(p.include is False for p in self.spec.patterns)

    def verdict(self, path: Sequence[str], *, is_dir: bool) -> bool | None:
        """True to exclude, False to include (a `!` pattern), None when no pattern applies."""
        depth = len(self.domain)
        if len(path) <= depth or tuple(path[:depth]) != self.domain:
            return None
        # A trailing slash tells the matcher it is a directory, for `dir/` patterns.
        relative = "/".join(path[depth:]) + ("/" if is_dir else "")
        return self.spec.check_file(relative).include


@dataclass(frozen=True)
class IgnoreMatcher:
    """Ordered layers; the last pattern that applies to a path decides."""

    layers: tuple[Layer, ...]

    @property
    def has_inclusions(self) -> bool:
        """Whether any `!pattern` could re-include a path below an excluded directory."""
        return any(layer.has_inclusions for layer in self.layers)

    def ignored(self, path: str | Sequence[str], *, is_dir: bool = False) -> bool:
        """Whether `path` (relative, `/`-separated, or its components) is left out."""
        parts = [p for p in path.split("/") if p] if isinstance(path, str) else list(path)
        for layer in reversed(self.layers):
            verdict = layer.verdict(parts, is_dir=is_dir)
            if verdict is not None:
                return verdict
        return False


def build_matcher(
    *, spec_ignore: str | None = None, sourceignores: Mapping[str, str] | None = None
) -> IgnoreMatcher:
    """The matcher for one artifact: `sourceignores` maps a directory ("" = root) to its file."""
    files = sourceignores or {}
    found = [
        Layer.parse(files[directory].splitlines(), _dir_key(directory))
        for directory in sorted(files, key=_dir_key)
    ]
    if spec_ignore is not None:
        found.append(Layer.parse(spec_ignore.splitlines()))
    base = [Layer.parse(VCS_EXCLUDES)]
    if not any(layer.size for layer in found):
        base.append(Layer.parse(DEFAULT_EXCLUDES))
    return IgnoreMatcher(layers=(*base, *found))


def _dir_key(directory: str) -> tuple[str, ...]:
    return tuple(p for p in directory.split("/") if p and p != ".")
