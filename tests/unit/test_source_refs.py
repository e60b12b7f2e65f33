"""Ref precedence and ref resolution from ls-remote output (ranges: test_semver.py)."""

from __future__ import annotations

import pytest

from services.source.git.refs import (
    GitRef,
    InvalidRefError,
    RefKind,
    RefNotFoundError,
    commit_resolution,
    ref_kind,
    remote_query,
    resolve_remote,
    validate_commit,
)

A = "a" * 40
B = "b" * 40
C = "c" * 40
T = "7" * 40  # an annotated tag object


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        (GitRef(), RefKind.BRANCH),
        (GitRef(branch="main"), RefKind.BRANCH),
        (GitRef(branch="main", tag="v1"), RefKind.TAG),
        (GitRef(tag="v1", semver="^1"), RefKind.SEMVER),
        (GitRef(semver="^1", name="refs/pull/1/head"), RefKind.NAME),
        (GitRef(branch="main", tag="v1", semver="^1", name="refs/x", commit=A), RefKind.COMMIT),
    ],
)
def test_precedence_is_commit_then_name_then_semver_then_tag_then_branch(
    ref: GitRef, kind: RefKind
) -> None:
    assert ref_kind(ref) is kind


def test_an_empty_ref_means_branch_master_as_in_flux() -> None:
    refs = {"refs/heads/master": A, "refs/heads/main": B}
    resolution = resolve_remote(GitRef(), refs)
    assert resolution.commit == A
    assert resolution.revision == f"master@sha1:{A}"


@pytest.mark.parametrize(
    ("ref", "refs", "revision"),
    [
        (GitRef(branch="main"), {"refs/heads/main": A}, f"main@sha1:{A}"),
        (GitRef(branch="feature/x"), {"refs/heads/feature/x": B}, f"feature/x@sha1:{B}"),
        (GitRef(tag="v1.2.3"), {"refs/tags/v1.2.3": A}, f"v1.2.3@sha1:{A}"),
        (
            GitRef(tag="v1.2.3"),
            {"refs/tags/v1.2.3": T, "refs/tags/v1.2.3^{}": B},
            f"v1.2.3@sha1:{B}",
        ),
        (GitRef(name="refs/pull/1/head"), {"refs/pull/1/head": C}, f"refs/pull/1/head@sha1:{C}"),
        (GitRef(name="refs/heads/main"), {"refs/heads/main": A}, f"refs/heads/main@sha1:{A}"),
        (
            GitRef(semver="^1.0"),
            {"refs/tags/v1.0.0": A, "refs/tags/v1.4.0": T, "refs/tags/v1.4.0^{}": B},
            f"v1.4.0@sha1:{B}",
        ),
    ],
)
def test_resolution_peels_tags_and_writes_flux_revisions(
    ref: GitRef, refs: dict[str, str], revision: str
) -> None:
    assert resolve_remote(ref, refs).revision == revision


def test_a_commit_ref_names_its_branch_when_given() -> None:
    assert commit_resolution(GitRef(commit=A), A).revision == f"sha1:{A}"
    assert commit_resolution(GitRef(branch="main", commit=A), A).revision == f"main@sha1:{A}"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (GitRef(branch="nope"), "branch 'nope' not found"),
        (GitRef(tag="v9"), "tag 'v9' not found"),
        (GitRef(name="refs/pull/9/head"), "ref 'refs/pull/9/head' not found"),
        (GitRef(semver=">=5.0.0"), "no tag matches semver range '>=5.0.0'"),
    ],
)
def test_a_missing_ref_is_reported_by_what_the_spec_asked_for(ref: GitRef, message: str) -> None:
    with pytest.raises(RefNotFoundError, match=message):
        resolve_remote(ref, {"refs/heads/main": A, "refs/tags/v1.0.0": B})


@pytest.mark.parametrize(
    "ref",
    [
        GitRef(name="main"),
        GitRef(branch="main.lock"),
        GitRef(branch="a..b"),
        GitRef(tag="v1 x"),
        GitRef(semver="not a range"),
    ],
)
def test_unusable_refs_are_invalid_not_missing(ref: GitRef) -> None:
    with pytest.raises(InvalidRefError):
        remote_query(ref)


@pytest.mark.parametrize(
    ("ref", "query"),
    [
        (GitRef(branch="main"), ("--heads", ("refs/heads/main",))),
        (GitRef(tag="v1"), ("--tags", ("refs/tags/v1", "refs/tags/v1^{}"))),
        (GitRef(semver="^1"), ("--tags", ())),
        (GitRef(name="refs/pull/2/head"), ("", ("refs/pull/2/head", "refs/pull/2/head^{}"))),
    ],
)
def test_ls_remote_asks_only_for_the_refs_it_needs(
    ref: GitRef, query: tuple[str, tuple[str, ...]]
) -> None:
    assert remote_query(ref) == query


def test_commit_shas_are_validated_and_lowered() -> None:
    assert validate_commit(A.upper()) == A
    with pytest.raises(InvalidRefError):
        validate_commit("main")
