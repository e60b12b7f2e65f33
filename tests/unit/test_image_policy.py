"""An ImagePolicy chooses the tag image-reflector-controller chooses.

Rows come from Flux's own tables (image-reflector-controller
``internal/policy/*_test.go``) and its documented examples
(``docs/spec/v1/imagepolicies.md``); the Go behaviours under them
(``strconv.ParseFloat``, ``Regexp.ExpandString``, Masterminds v3.5.0 with
``fluxcd/pkg/version``) were checked against Go itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.image.policy import (
    Choice,
    InvalidPolicy,
    NoTagMatches,
    NotANumber,
    PolicyError,
    choose_tag,
    filter_tags,
    latest_alphabetical,
    latest_numerical,
    latest_semver,
    parse_go_float,
)
from shared.api.imagepolicy import ImagePolicySpec

POLICY = "apps/podinfo"


def spec(
    policy: dict[str, Any], *, pattern: str | None = None, extract: str = ""
) -> ImagePolicySpec:
    doc: dict[str, Any] = {"imageRepositoryRef": {"name": "podinfo"}, "policy": policy}
    if pattern is not None:
        doc["filterTags"] = {"pattern": pattern, "extract": extract}
    return ImagePolicySpec.model_validate(doc)


# internal/policy/semver_test.go TestSemVer_Latest, plus the lenient parsing rules.
@pytest.mark.parametrize(
    ("version_range", "tags", "expected"),
    [
        ("1.0.x", ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], "1.0.1"),
        ("1.0.x", ["v1.2.3", "v1.0.0", "v0.1.0"], "v1.0.0"),
        ("1.0.x", ["b1.2.3", "b1.0.0", "b0.1.0"], None),
        ("1.0.x", ["1.2.0"], None),
        # Three dot-separated parts: `1.3` is skipped, not read as 1.3.0.
        (">=1.0.0", ["1.2.0", "1.3", "latest"], "1.2.0"),
        # Leading zeros are read (CalVer), and the tag is returned as spelled.
        (">=2025.1.1", ["v2025.02.03", "v2025.01.30"], "v2025.02.03"),
        # Pre-releases only when the range's AND group names one.
        (">=1.0.0", ["1.0.0", "1.1.0-rc.1"], "1.0.0"),
        (">=1.0.0-0", ["1.0.0", "1.1.0-rc.1"], "1.1.0-rc.1"),
        (">=1.0.0-0 <2.0.0", ["1.0.0", "1.1.0-rc.1", "2.1.0-rc.1"], "1.1.0-rc.1"),
        # 2.0.0-rc.1 comes before 2.0.0, so `<2.0.0` takes it once pre-releases count.
        (">=1.0.0-0 <2.0.0", ["1.1.0-rc.1", "2.0.0-rc.1"], "2.0.0-rc.1"),
        ("^1.x-0", ["1.0.0", "1.2.0-rc.1", "1.2.0-rc.2", "2.0.0-rc.1"], "1.2.0-rc.2"),
        # The release sorts above its own pre-releases.
        (">=1.0.0-0", ["1.2.0-rc.2", "1.2.0"], "1.2.0"),
        # Equal versions: the first, as Flux's strict GreaterThan keeps it.
        ("1.0.0", ["1.0.0", "v1.0.0", "1.0.0+build.2"], "1.0.0"),
        ("1.0.0", ["v1.0.0", "1.0.0"], "v1.0.0"),
    ],
)
def test_semver_chooses_the_highest_version_in_range(
    version_range: str, tags: list[str], expected: str | None
) -> None:
    assert latest_semver(tags, version_range) == expected


# internal/policy/alphabetical_test.go TestAlphabetical_Latest.
CALVER = ["16.04", "16.04.1", "16.10", "20.04", "20.10"]
CODE_NAMES = ["xenial", "yakkety", "zesty", "artful", "bionic"]
UNIX = ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"]
RFC3339 = [
    "2021-01-08T21-18-21Z",
    "2020-05-08T21-18-21Z",
    "2021-01-08T19-20-00Z",
    "1990-01-08T00-20-00Z",
    "2023-05-08T00-20-00Z",
]


@pytest.mark.parametrize(
    ("tags", "order", "expected"),
    [
        (CALVER, "asc", "20.10"),
        (CALVER, "desc", "16.04"),
        (CODE_NAMES, "asc", "zesty"),
        (CODE_NAMES, "desc", "artful"),
        (UNIX, "asc", "1606364286"),
        (UNIX, "desc", "1606234201"),
        ([f"rel-{t}" for t in UNIX], "asc", "rel-1606364286"),
        (RFC3339, "asc", "2023-05-08T00-20-00Z"),
        (RFC3339, "desc", "1990-01-08T00-20-00Z"),
        # Byte order, not natural order: "9" sorts after "10", "Z" before "a".
        (["9", "10"], "asc", "9"),
        (["Zeta", "alpha"], "asc", "alpha"),
    ],
)
def test_alphabetical_chooses_the_last_tag_in_byte_order(
    tags: list[str], order: Any, expected: str
) -> None:
    assert latest_alphabetical(tags, order=order) == expected


# internal/policy/numerical_test.go TestNumerical_Latest (Flux shuffles its lists: order is free).
@pytest.mark.parametrize(
    ("tags", "order", "expected"),
    [
        (["-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"], "asc", "73"),
        (["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"], "desc", "-78"),
        (
            ["47.40896403322944", "-27.8520927455902", "53.47333823144817", "3.2008658570411086"],
            "asc",
            "53.47333823144817",
        ),
        (
            ["-65.27202780220686", "57.82948329142309", "-90.29082099756083", "16.0686707041"],
            "desc",
            "-90.29082099756083",
        ),
        (UNIX, "asc", "1606364286"),
        (UNIX, "desc", "1606234201"),
        (["1"], "asc", "1"),
        (["1"], "desc", "1"),
        # Numbers, not strings: 10 > 9; Go's float syntax (exponents, `_`, hex).
        (["9", "10"], "asc", "10"),
        (["1e3", "999"], "asc", "1e3"),
        (["1_000", "999"], "asc", "1_000"),
        (["0x1p4", "15"], "asc", "0x1p4"),
    ],
)
def test_numerical_chooses_the_greatest_or_least_number(
    tags: list[str], order: Any, expected: str
) -> None:
    assert latest_numerical(tags, order=order) == expected
    assert latest_numerical(list(reversed(tags)), order=order) == expected


@pytest.mark.parametrize(
    ("tags", "order", "expected"),
    [
        # Flux's loop: NaN compares false with everything, so it takes the place it reaches
        # (choose_tag reads Flux's order, descending, where "NaN" comes before "1" and after "inf").
        (["NaN", "1"], "asc", "1"),
        (["1", "NaN"], "asc", "NaN"),
        (["inf", "NaN"], "desc", "NaN"),
        (["NaN", "nan"], "asc", "nan"),
    ],
)
def test_a_nan_tag_is_ordered_as_flux_loop_orders_it(
    tags: list[str], order: Any, expected: str
) -> None:
    assert latest_numerical(tags, order=order) == expected


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_of_equal_numbers_the_last_wins_as_in_flux_loop(order: Any) -> None:
    assert latest_numerical(["1", "1.0", "01"], order=order) == "01"
    assert latest_numerical(["01", "1.0", "1"], order=order) == "1"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42.0),
        ("-3.5", -3.5),
        ("+.5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1_000", 1000.0),
        ("0x1p-2", 0.25),
        ("Infinity", float("inf")),
        ("1a", None),
        ("b", None),
        ("", None),
        (" 1", None),
        ("1_", None),
        ("_1", None),
        ("1__0", None),
        ("0x10", None),  # a hexadecimal float needs its p exponent
        ("1e400", None),  # out of range
        ("٣", None),  # only ASCII digits
    ],
)
def test_numbers_are_read_as_go_parsefloat_reads_them(text: str, value: float | None) -> None:
    assert parse_go_float(text) == value


# internal/policy/filter_test.go TestRegexFilter (values in sorted order, as Flux's test sorts).
DEBUG_TAGS = [
    "123-123.123.abcd123-debug",
    "123-123.123.abcd123",
    "123-123.123.abcd456-debug",
    "123-123.123.abcd456",
]


@pytest.mark.parametrize(
    ("tags", "pattern", "extract", "expected"),
    [
        (["a"], "", "", ["a"]),
        (["ver1", "ver2", "ver3", "rel1"], "^ver", "", ["ver1", "ver2", "ver3"]),
        (["ver1", "ver2", "ver3", "rel1"], r"ver(\d+)", "$1", ["1", "2", "3"]),
        (
            DEBUG_TAGS,
            r"^(123-[0-9]+\.[0-9]+\.[a-z0-9]+-debug)",
            "",
            ["123-123.123.abcd123-debug", "123-123.123.abcd456-debug"],
        ),
        (
            DEBUG_TAGS,
            r"^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+[^-debug])",
            "$tag",
            ["123-123.123.abcd123", "123-123.123.abcd456"],
        ),
        (
            DEBUG_TAGS,
            r"^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+$)",
            "$tag",
            ["123-123.123.abcd123", "123-123.123.abcd456"],
        ),
    ],
)
def test_filter_tags_keeps_matching_tags_and_extracts(
    tags: list[str], pattern: str, extract: str, expected: list[str]
) -> None:
    assert sorted(filter_tags(tags, pattern=pattern, extract=extract)) == expected


@pytest.mark.parametrize(
    ("extract", "expected"),
    [
        ("$ts", "1700000000"),
        ("${ts}", "1700000000"),
        ("$1-$2", "abc1234-1700000000"),
        ("${1}x", "abc1234x"),
        ("$1x", ""),  # the longest name: group "1x", which does not exist
        ("$nope", ""),
        ("$9", ""),
        ("$$ts", "$ts"),
        ("cost: $", "cost: $"),
        ("${ts", "${ts"),
        ("$01", ""),  # a leading zero makes it a name, not group 1
    ],
)
def test_extract_expands_like_go_regexp_expand(extract: str, expected: str) -> None:
    kept = filter_tags(
        ["main-abc1234-1700000000"],
        pattern=r"^main-(?P<sha>[a-f0-9]+)-(?P<ts>[0-9]+)",
        extract=extract,
    )
    assert kept == {expected: "main-abc1234-1700000000"}


def test_two_tags_extracting_the_same_value_keep_the_later_tag() -> None:
    kept = filter_tags(["v1-a", "v1-b", "v2-a"], pattern=r"^v(\d+)", extract="$1")
    assert kept == {"1": "v1-b", "2": "v2-a"}


# The documented examples (docs/spec/v1/imagepolicies.md, flux create image policy).
def test_documented_semver_example_selects_the_latest_stable_version() -> None:
    tags = ["0.9.0", "1.0.0", "1.4.2", "1.5.0-rc.1", "latest", "main-abc123"]
    assert choose_tag(spec({"semver": {"range": ">=1.0.0"}}), tags, policy=POLICY) == Choice(
        tag="1.4.2", compared="1.4.2"
    )


def test_documented_release_candidate_example_filters_then_takes_the_newest_rc() -> None:
    tags = ["1.0.0", "1.1.0-rc.1", "1.1.0-rc.2", "1.1.0", "1.2.0-beta.1", "2.0.0-rc.1"]
    chosen = choose_tag(
        spec({"semver": {"range": "^1.x-0"}}, pattern=".*-rc.*"), tags, policy=POLICY
    )
    assert chosen == Choice(tag="1.1.0-rc.2", compared="1.1.0-rc.2")


def test_documented_minio_example_orders_the_extracted_timestamps_and_reports_the_tag() -> None:
    tags = [
        "RELEASE.2023-01-31T02-24-19Z",
        "RELEASE.2023-02-09T05-16-53Z",
        "RELEASE.2022-12-12T19-27-27Z",
        "RELEASE.2023-02-09T05-16-53Z.fips",
        "latest",
    ]
    chosen = choose_tag(
        spec(
            {"alphabetical": {"order": "asc"}},
            pattern=r"^RELEASE\.(?P<timestamp>.*)Z$",
            extract="$timestamp",
        ),
        tags,
        policy=POLICY,
    )
    assert chosen == Choice(tag="RELEASE.2023-02-09T05-16-53Z", compared="2023-02-09T05-16-53")


def test_documented_cli_example_orders_main_builds_by_their_timestamp() -> None:
    tags = ["main-abc1234-1700000300", "main-fff0000-1700000100", "dev-1111111-1800000000", "1.0.0"]
    chosen = choose_tag(
        spec(
            {"numerical": {"order": "asc"}},
            pattern=r"^main-[a-f0-9]+-(?P<ts>[0-9]+)",
            extract="$ts",
        ),
        tags,
        policy=POLICY,
    )
    assert chosen == Choice(tag="main-abc1234-1700000300", compared="1700000300")


@pytest.mark.parametrize(
    ("policy", "tags", "expected"),
    [
        # Flux sorts the stored tags descending; the first of equal versions wins...
        ({"semver": {"range": "1.0.0"}}, ["1.0.0", "v1.0.0", "1.0.0+b"], "v1.0.0"),
        # ...and the last of equal numbers.
        ({"numerical": {}}, ["1", "1.0", "01", "0.5"], "01"),
        ({"numerical": {"order": "desc"}}, ["1", "1.0", "01", "2"], "01"),
    ],
)
def test_ties_are_broken_as_flux_breaks_them_whatever_the_order_given(
    policy: dict[str, Any], tags: list[str], expected: str
) -> None:
    for order in (tags, list(reversed(tags)), sorted(tags)):
        assert choose_tag(spec(policy), order, policy=POLICY).tag == expected


def test_the_default_orders_are_ascending() -> None:
    assert choose_tag(spec({"alphabetical": {}}), ["a", "c", "b"], policy=POLICY).tag == "c"
    assert choose_tag(spec({"numerical": {}}), ["2", "10", "1"], policy=POLICY).tag == "10"


@pytest.mark.parametrize(
    ("policy", "pattern", "tags", "error", "says"),
    [
        ({"semver": {"range": ">=1.0.0"}}, None, [], NoTagMatches, "has no tags to choose from"),
        (
            {"semver": {"range": "1.0.x"}},
            None,
            ["1.2.0", "latest"],
            NoTagMatches,
            'no tag of the 2 candidates is a version in range "1.0.x"',
        ),
        (
            {"alphabetical": {}},
            "^release-",
            ["main-1", "main-2"],
            NoTagMatches,
            'none of the 2 tags matches filterTags.pattern "^release-"',
        ),
        (
            {"numerical": {}},
            None,
            ["0", "1a", "b"],
            NotANumber,
            # Flux reads its stored tags in descending order: "b" comes first.
            'tag "b" is not a number: a numerical policy orders numbers only',
        ),
    ],
)
def test_a_policy_that_cannot_choose_says_why_naming_the_policy(
    policy: dict[str, Any],
    pattern: str | None,
    tags: list[str],
    error: type[PolicyError],
    says: str,
) -> None:
    with pytest.raises(error) as raised:
        choose_tag(spec(policy, pattern=pattern), tags, policy=POLICY)
    assert raised.value.policy == POLICY
    assert str(raised.value).startswith(f"ImagePolicy {POLICY}: ")
    assert says in str(raised.value)


def test_a_tag_that_is_not_a_number_is_named_with_its_extracted_value() -> None:
    with pytest.raises(NotANumber) as raised:
        choose_tag(
            spec({"numerical": {}}, pattern=r"^build-(?P<n>\w+)$", extract="$n"),
            ["build-7", "build-x8"],
            policy=POLICY,
        )
    assert raised.value.tag == "build-x8"
    assert 'tag "build-x8" is not a number (extracted "x8")' in str(raised.value)


def test_a_spec_built_without_validation_is_an_invalid_policy_not_a_crash() -> None:
    broken = ImagePolicySpec.model_construct(
        image_repository_ref=spec({"alphabetical": {}}).image_repository_ref,
        policy=spec({"semver": {"range": "1.x"}}).policy.model_copy(update={"semver": None}),
        filter_tags=None,
    )
    with pytest.raises(InvalidPolicy, match="names no rule"):
        choose_tag(broken, ["1.0.0"], policy=POLICY)
