"""What a scan keeps of a tag list, as Flux: exclusions, order, latestTags, revision."""

from __future__ import annotations

import pytest

from services.image.tags import (
    DEFAULT_EXCLUSION_LIST,
    ExclusionList,
    InvalidExclusionError,
    latest_tags,
    sort_tags,
    tags_revision,
)


@pytest.mark.parametrize(
    ("patterns", "tags", "kept"),
    [
        # Flux's default drops cosign signatures only.
        (
            None,
            ["v1", "sha256-abc.sig", "sha256-abc.att", "v1.sig.x"],
            ["v1", "sha256-abc.att", "v1.sig.x"],
        ),
        ([], ["a.sig", "b"], ["b"]),
        # A list given replaces the default: .sig tags are then kept.
        (["^latest$"], ["latest", "a.sig", "1.0"], ["a.sig", "1.0"]),
        # Go's MatchString: a match anywhere, unanchored.
        (["rc"], ["1.0.0-rc.1", "1.0.0", "rcx"], ["1.0.0"]),
        (["^dev-", "^pr-[0-9]+$"], ["dev-1", "pr-12", "pr-12a", "main"], ["pr-12a", "main"]),
    ],
)
def test_the_exclusion_list_drops_what_its_go_regexps_match(
    patterns: list[str] | None, tags: list[str], kept: list[str]
) -> None:
    assert ExclusionList.compile(patterns).keep(tags) == kept


def test_the_default_exclusion_list_is_fluxs() -> None:
    assert DEFAULT_EXCLUSION_LIST == ("^.*\\.sig$",)
    assert ExclusionList.compile(None).patterns == DEFAULT_EXCLUSION_LIST


@pytest.mark.parametrize("pattern", ["(", "(?=x)", "\\1"])
def test_a_pattern_go_refuses_names_itself(pattern: str) -> None:
    with pytest.raises(InvalidExclusionError) as caught:
        ExclusionList.compile([pattern])
    assert str(caught.value).startswith(f"failed to compile regex {pattern}: ")


@pytest.mark.parametrize(
    ("tags", "ordered"),
    [
        (["1.0.0", "1.10.0", "1.9.0", "latest"], ["latest", "1.9.0", "1.10.0", "1.0.0"]),
        # Byte order: uppercase sorts before lowercase, so after it when descending.
        (["b", "B", "a", "A"], ["b", "a", "B", "A"]),
        (["v1", "v1-rc", "v1.0"], ["v1.0", "v1-rc", "v1"]),
        ([], []),
    ],
)
def test_tags_are_kept_in_descending_byte_order(tags: list[str], ordered: list[str]) -> None:
    assert sort_tags(tags) == ordered


def test_latest_tags_are_the_first_ten_by_descending_name_not_by_push_time() -> None:
    tags = sort_tags([f"1.0.{n}" for n in range(15)])
    assert latest_tags(tags) == [
        "1.0.9", "1.0.8", "1.0.7", "1.0.6", "1.0.5", "1.0.4", "1.0.3", "1.0.2", "1.0.14", "1.0.13",
    ]  # fmt: skip
    assert latest_tags(["b", "a"]) == ["b", "a"]


@pytest.mark.parametrize(
    ("tags", "revision"),
    [
        # Values computed by Go: adler32.Checksum(json.Marshal(tags)).
        ([], "18153657"),
        (["v2.0.0", "v1.0.0", "latest"], "1594296113"),
        (["a<b>&c", "é\u2028x", "\b\f\x7f"], "940903852"),
    ],
)
def test_the_revision_is_fluxs_checksum_of_the_sorted_tags(tags: list[str], revision: str) -> None:
    assert tags_revision(tags) == revision


def test_the_revision_changes_with_the_tags_and_not_with_their_listing_order() -> None:
    one = tags_revision(sort_tags(["1.0.0", "1.1.0"]))
    assert one == tags_revision(sort_tags(["1.1.0", "1.0.0"]))
    assert one != tags_revision(sort_tags(["1.0.0", "1.1.0", "1.2.0"]))
