"""Masterminds/semver v3 ranges and strict versions, as Flux reads every semver field."""

from __future__ import annotations

import pytest

from shared.semver import (
    InvalidConstraint,
    Version,
    highest_matching,
    parse_constraint,
    parse_flux_version,
    parse_version,
)

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
        # Masterminds v3.4+: `!=` excludes pre-releases like every other operator.
        ("!=2.0.0", "v1.1.0"),
        ("^1.2.0-0", "v1.2.0-rc.1"),
        (">=1.2.0-0", "v10.0.0-beta"),
        ("1.2.0-rc.1", "v1.2.0-rc.1"),
        (">=10.0.0-0", "v10.0.0-beta"),
    ],
)
def test_semver_picks_the_newest_matching_tag(constraint: str, tag: str) -> None:
    assert highest_matching(constraint, TAGS) == tag


def test_pre_releases_are_excluded_unless_the_range_names_one() -> None:
    assert highest_matching(">=10.0.0", TAGS) is None
    # Masterminds v3.4+ (Flux v2.9) applies the rule per AND group: one term naming a
    # pre-release lets them through the whole group, not through the other `||` groups.
    assert highest_matching(">=1.0.0-0 <2.0.0", TAGS) == "v1.2.0-rc.1"
    assert highest_matching(">=1.0.0-0 <1.1.0 || >=1.1.0 <2.0.0", TAGS) == "v1.1.0"


def test_equal_versions_tie_break_on_the_greater_tag_name() -> None:
    assert highest_matching("1.0.0", ["1.0.0", "v1.0.0"]) == "v1.0.0"


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
    assert (parse_version(tag) is not None) is ok


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
        ("!=1.2.3", "1.2.4-beta", False),
        ("!=1.2.3-0", "1.2.4-beta", True),
        (">=1.0.0-0 <2.0.0", "1.5.0-rc.1", True),
        (">=1.0.0 <2.0.0-0", "1.5.0-rc.1", True),
        (">=1.0.0 <2.0.0", "1.5.0-rc.1", False),
        (">=1.0.0-0 || <2.0.0", "0.5.0-rc.1", False),
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
    parsed_version = parse_version(version)
    assert parsed_version is not None
    assert parse_constraint(constraint).check(parsed_version) is expected


@pytest.mark.parametrize("constraint", ["", "abc", ">= 1.2 ||", "1.2.3.4", ">>1", "1x.2"])
def test_malformed_ranges_are_refused(constraint: str) -> None:
    with pytest.raises(InvalidConstraint):
        parse_constraint(constraint)


# fluxcd/pkg/version.ParseVersion, checked against it (Go, Masterminds v3.5.0).
@pytest.mark.parametrize(
    ("tag", "parsed"),
    [
        ("1.2.3", (1, 2, 3, "", "")),
        ("v1.2.3", (1, 2, 3, "", "")),
        ("v2025.02.03-rc.1", (2025, 2, 3, "rc.1", "")),
        ("v01.02.03", (1, 2, 3, "", "")),
        ("1.2-rc.1", (1, 2, 0, "rc.1", "")),  # three dot-separated parts, Masterminds fills patch
        ("1.2.3-rc.1+build.5", (1, 2, 3, "rc.1", "build.5")),
        ("1.2", None),
        ("1.2.3.4", None),
        ("1.0.0p", None),
        ("V1.2.3", None),
        ("b1.2.3", None),
        ("1.2.3-rc.01", None),
        ("1.2.3-", None),
        ("18446744073709551616.0.0", None),
        ("1.2.3\n", None),
    ],
)
def test_flux_reads_tags_leniently_but_with_three_parts(
    tag: str, parsed: tuple[int, int, int, str, str] | None
) -> None:
    version = parse_flux_version(tag)
    got = (
        None
        if version is None
        else (*version_numbers(version), version.prerelease, version.metadata)
    )
    assert got == parsed
    assert version is None or version.original == tag


def version_numbers(version: Version) -> tuple[int, int, int]:
    return version.major, version.minor, version.patch
