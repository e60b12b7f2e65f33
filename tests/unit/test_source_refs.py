"""Ref precedence, ref resolution from ls-remote output, and Masterminds semver ranges."""

from __future__ import annotations

import pytest

from services.source.refs import (
    GitRef,
    InvalidRefError,
    RefKind,
    RefNotFoundError,
    choose_semver_tag,
    commit_resolution,
    parse_constraint,
    parse_tag_version,
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


TAGS = ["v1.0.0", "v1.1.0", "v1.2.0-rc.1", "v2.0.0", "v10.0.0-beta", "latest", "1.3", "v01.0.0"]


@pytest.mark.parametrize(
    ("constraint", "tag"),
    [
        ("*", "v2.0.0"),
        ("~1", "v1.1.0"),
        ("^1.0.0", "v1.1.0"),
        ("1.0.x", "v1.0.0"),
        (">=1.0.0 <2.0.0", "v1.1.0"),
        (">=1.0.0, <2.0.0", "v1.1.0"),
        ("1.0.0 - 1.5.0", "v1.1.0"),
        ("<1.1.0 || >=2.0.0 <3", "v2.0.0"),
        ("!=2.0.0, <3", "v1.1.0"),
        # Masterminds: a plain `!=` does not exclude pre-releases by itself.
        ("!=2.0.0", "v10.0.0-beta"),
        ("^1.2.0-0", "v1.2.0-rc.1"),
        (">=1.2.0-0", "v10.0.0-beta"),
        ("1.2.0-rc.1", "v1.2.0-rc.1"),
        (">=10.0.0-0", "v10.0.0-beta"),
    ],
)
def test_semver_picks_the_newest_matching_tag(constraint: str, tag: str) -> None:
    assert choose_semver_tag(constraint, TAGS) == tag


def test_pre_releases_are_excluded_unless_the_range_names_one() -> None:
    with pytest.raises(RefNotFoundError):
        choose_semver_tag(">=10.0.0", TAGS)
    # Masterminds applies the rule per term: `<2.0.0` alone still refuses a pre-release.
    assert choose_semver_tag(">=1.0.0-0 <2.0.0", TAGS) == "v1.1.0"


def test_equal_versions_tie_break_on_the_greater_tag_name() -> None:
    assert choose_semver_tag("1.0.0", ["1.0.0", "v1.0.0"]) == "v1.0.0"


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("v1.2.3", True),
        ("1.2.3", True),
        ("1.2.3-rc.1+build.5", True),
        ("1.2", False),
        ("v01.2.3", False),
        ("1.2.3-01", False),
        ("vv1.2.3", False),
        ("release-1.2.3", False),
    ],
)
def test_tags_parse_as_strict_semver_with_an_optional_v(tag: str, ok: bool) -> None:
    assert (parse_tag_version(tag) is not None) is ok


# Rows follow the behaviour of Masterminds/semver v3's constraint functions.
@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        ("*", "1.2.3", True),
        ("*", "1.2.3-alpha.1", False),
        ("*-0", "1.2.3-alpha.1", True),
        ("~0.0.0", "1.2.3", True),
        ("0.x.x", "1.2.3", False),
        ("= 2.0", "2.0.0", True),
        ("= 2.0", "1.2.3", False),
        ("4.1", "4.1.0", True),
        ("4.1.x", "4.1.3", True),
        ("1.x", "1.4.0", True),
        ("2.*", "3.4.5", False),
        ("2.1.*", "2.2.1", False),
        ("2", "2.1.1", True),
        ("!=4.1", "4.1.0", False),
        ("!=4.x", "5.1.0", True),
        ("!=4.x", "4.1.0", False),
        ("!=4.1.x", "4.2.0", True),
        ("!=4.2.x", "4.2.3", False),
        ("!=1.2.3", "1.2.4-beta", True),
        (">1.1", "4.1.0", True),
        (">1.1", "1.1.0", False),
        (">11", "11.1.0", False),
        (">11.1", "11.1.1", False),
        (">11.1", "11.2.1", True),
        (">0", "1.0.0-alpha", False),
        (">0.0.0-0", "0.0.0-alpha", True),
        (">1.2.3-alpha.1", "1.2.3-alpha.2", True),
        (">=11.1", "11.0.2", False),
        (">=0", "0.0.1-alpha", False),
        (">=0-0", "0.0.1-alpha", True),
        ("=>1.1", "1.1.0", True),
        ("<1.2", "1.1.9", True),
        ("<0-z", "0.0.0-alpha", True),
        ("<=1.2", "1.2.9", True),
        ("<=1.2", "1.3.0", False),
        ("<=1", "1.9.9", True),
        ("=<1.2.3", "1.2.3", True),
        ("~1.2.3", "1.2.4", True),
        ("~1.2.3", "1.3.4", False),
        ("~1", "2.3.4", False),
        ("~>1.2", "1.2.4", True),
        ("~1.2.3-beta.2", "1.2.4-beta.2", True),
        ("~1.2.3-beta.2", "1.3.4-beta.2", False),
        ("^1.2.3", "1.8.9", True),
        ("^1.2.3", "2.8.9", False),
        ("^1.2.3", "1.2.1", False),
        ("^1.2.0", "1.2.1-alpha.1", False),
        ("^1.2.1-alpha.1", "1.2.1-beta.1", True),
        ("^1.2.1-alpha.1", "1.8.1", True),
        ("^0.2.3", "0.2.5", True),
        ("^0.2.3", "0.5.6", False),
        ("^0.0.3", "0.0.4", False),
        ("^0.0", "0.0.3", True),
        ("^0.0", "0.1.4", False),
        ("^0", "0.2.3", True),
        ("^0", "1.1.4", False),
        ("1.1 - 2", "2.9.9", True),
        ("1.1 - 2", "3.0.0", False),
        ("1.0.0-alpha.beta", "1.0.0-alpha.beta", True),
        (">1.0.0-alpha", "1.0.0-alpha.1", True),
        (">1.0.0-alpha.1", "1.0.0-alpha.beta", True),
        (">1.0.0-beta.11", "1.0.0-beta.2", False),
        (">1.0.0-rc.1", "1.0.0", True),
    ],
)
def test_masterminds_range_semantics(constraint: str, version: str, expected: bool) -> None:
    parsed_version = parse_tag_version(version)
    assert parsed_version is not None
    assert parse_constraint(constraint).check(parsed_version) is expected


@pytest.mark.parametrize("constraint", ["", "abc", ">= 1.2 ||", "1.2.3.4", ">>1", "1x.2"])
def test_malformed_ranges_are_refused(constraint: str) -> None:
    with pytest.raises(InvalidRefError):
        parse_constraint(constraint)
