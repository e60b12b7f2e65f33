"""Choose the commit a GitRepository `spec.ref` points at, as Flux does (pure).

Precedence is Flux's: commit > name > semver > tag > branch, and an empty ref
means branch `master`. Semver ranges are read by shared.semver (Masterminds/semver
v3, as Flux).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.source.git.revision import git_revision
from shared.semver import InvalidConstraint, highest_matching, parse_constraint

__all__ = [
    "DEFAULT_BRANCH",
    "GitRef",
    "InvalidRefError",
    "RefKind",
    "RefNotFoundError",
    "Resolution",
    "choose_semver_tag",
    "commit_resolution",
    "ref_kind",
    "remote_query",
    "resolve_remote",
    "validate_commit",
]

DEFAULT_BRANCH = "master"

_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_BAD_REF = re.compile(r"(\.\.|@\{|//|[\x00-\x20\x7f~^:?*\[\\])")


class InvalidRefError(ValueError):
    """The ref spec cannot be used as written (bad semver range, bad ref name or sha)."""


class RefNotFoundError(LookupError):
    """The remote has no ref, or no tag, matching the ref spec."""


class RefKind(StrEnum):
    """Which field of the ref spec decides the commit."""

    COMMIT = "commit"
    NAME = "name"
    SEMVER = "semver"
    TAG = "tag"
    BRANCH = "branch"


@dataclass(frozen=True)
class GitRef:
    """A GitRepository `spec.ref`: empty strings for unset fields."""

    branch: str = ""
    tag: str = ""
    semver: str = ""
    name: str = ""
    commit: str = ""


@dataclass(frozen=True)
class Resolution:
    """The commit a ref resolved to, and the ref name its revision string shows."""

    commit: str
    ref_name: str = ""
    absolute: bool = False

    @property
    def revision(self) -> str:
        """Flux's revision string, e.g. `main@sha1:<hex>` or `sha1:<hex>`."""
        return git_revision(self.ref_name, self.commit, absolute=self.absolute)


def ref_kind(ref: GitRef) -> RefKind:
    """The field that decides the commit, by Flux's precedence."""
    if ref.commit:
        return RefKind.COMMIT
    if ref.name:
        return RefKind.NAME
    if ref.semver:
        return RefKind.SEMVER
    if ref.tag:
        return RefKind.TAG
    return RefKind.BRANCH


def remote_query(ref: GitRef) -> tuple[str, tuple[str, ...]]:
    """The `git ls-remote` selector ("--heads", "--tags" or "") and patterns that resolve `ref`."""
    kind = ref_kind(ref)
    if kind is RefKind.COMMIT:
        raise InvalidRefError("a commit ref is resolved locally, not with ls-remote")
    if kind is RefKind.SEMVER:
        try:
            parse_constraint(ref.semver)
        except InvalidConstraint as err:
            raise InvalidRefError(str(err)) from None
        return "--tags", ()
    name = _ref_name(ref, kind)
    if kind is RefKind.BRANCH or name.startswith("refs/heads/"):
        return "--heads", (name,)
    if kind is RefKind.TAG or name.startswith("refs/tags/"):
        return "--tags", (name, name + "^{}")
    return "", (name, name + "^{}")


def resolve_remote(ref: GitRef, remote_refs: Mapping[str, str]) -> Resolution:
    """Pick the commit for `ref` from `ls-remote` output (ref name → sha, peeled `^{}` kept)."""
    kind = ref_kind(ref)
    if kind is RefKind.COMMIT:
        raise InvalidRefError("a commit ref is resolved locally, not with ls-remote")
    if kind is RefKind.SEMVER:
        tags = [n[10:] for n in remote_refs if n.startswith("refs/tags/") and n[-3:] != "^{}"]
        tag = choose_semver_tag(ref.semver, tags)
        name = f"refs/tags/{tag}"
    else:
        name = _ref_name(ref, kind)
    commit = remote_refs.get(name + "^{}") or remote_refs.get(name)
    if not commit:
        label, value = {RefKind.NAME: ("ref", ref.name), RefKind.TAG: ("tag", ref.tag)}.get(
            kind, ("branch", ref.branch or DEFAULT_BRANCH)
        )
        raise RefNotFoundError(f"{label} {value!r} not found in the remote repository")
    return Resolution(commit=commit, ref_name=name, absolute=kind is RefKind.NAME)


def commit_resolution(ref: GitRef, commit: str) -> Resolution:
    """The resolution of a commit ref: the branch, when given, names it (`main@sha1:…`)."""
    return Resolution(commit=commit, ref_name=f"refs/heads/{ref.branch}" if ref.branch else "")


def validate_commit(commit: str) -> str:
    """The lower-cased sha (4 to 40 hex digits) of a commit ref, or InvalidRefError."""
    sha = commit.strip().lower()
    if not _HEX.match(sha):
        raise InvalidRefError(f"ref.commit {commit!r} is not a hexadecimal commit sha")
    return sha


def choose_semver_tag(constraint: str, tags: Iterable[str]) -> str:
    """The tag with the highest version matching the range; ties go to the greatest name."""
    try:
        tag = highest_matching(constraint, tags)
    except InvalidConstraint as err:
        raise InvalidRefError(str(err)) from None
    if tag is None:
        raise RefNotFoundError(f"no tag matches semver range {constraint!r}")
    return tag


def _ref_name(ref: GitRef, kind: RefKind) -> str:
    if kind is RefKind.NAME:
        name = ref.name.strip()
        if not name.startswith("refs/"):
            raise InvalidRefError(f"ref.name {ref.name!r} must be a full ref, e.g. refs/heads/main")
    elif kind is RefKind.TAG:
        name = f"refs/tags/{ref.tag.strip()}"
    else:
        name = f"refs/heads/{(ref.branch or DEFAULT_BRANCH).strip()}"
    if _BAD_REF.search(name) or name.endswith(("/", ".lock", ".")):
        raise InvalidRefError(f"{name!r} is not a valid git ref name")
    return name
