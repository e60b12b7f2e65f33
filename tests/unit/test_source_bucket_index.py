"""A Bucket's etag index: Flux's revision, which keys it holds, and which keys are refused."""

from __future__ import annotations

import hashlib

import pytest

from services.source.bucket.bucketindex import EtagIndex, UnsafeKey, bucket_matcher, build_index


def _index(listing: dict[str, str], *, sourceignore: str | None = None, ignore: str | None = None):
    matcher = bucket_matcher(sourceignore=sourceignore, spec_ignore=ignore)
    return build_index(listing.items(), matcher=matcher)


def test_the_revision_is_sha256_of_sorted_key_etag_lines_as_flux_computes_it() -> None:
    index = EtagIndex({"b.yaml": "e2", "a/x.yaml": "e1"})
    expected = hashlib.sha256(b"a/x.yaml e1\nb.yaml e2\n").hexdigest()
    assert index.revision == f"sha256:{expected}"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"a": "1"}, {"a": "2"}),  # changed object
        ({"a": "1"}, {"a": "1", "b": "1"}),  # new object
        ({"a": "1", "b": "1"}, {"a": "1"}),  # deleted object
        ({"a": "1"}, {"c": "1"}),  # renamed object
    ],
)
def test_any_change_of_the_bucket_changes_the_revision(
    before: dict[str, str], after: dict[str, str]
) -> None:
    assert EtagIndex(before).revision != EtagIndex(after).revision


def test_an_empty_bucket_has_the_digest_of_nothing() -> None:
    assert EtagIndex({}).revision == "sha256:" + hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("sourceignore", "ignore", "kept"),
    [
        # No rules: every object, with no default exclusions (as Flux's Bucket).
        (None, None, ["a.png", "apps/app.yaml", "apps/notes.md", "docs/x.md"]),
        ("*.md\n", None, ["a.png", "apps/app.yaml"]),
        ("docs/\n", None, ["a.png", "apps/app.yaml", "apps/notes.md"]),
        # spec.ignore comes last and wins over .sourceignore.
        ("*.md\n", "!apps/notes.md\n", ["a.png", "apps/app.yaml", "apps/notes.md"]),
        # Flux's documented example: exclude all, include one folder.
        (None, "/*\n!/apps\n/apps/**/*.md\n", ["apps/app.yaml"]),
    ],
)
def test_ignore_rules_choose_the_indexed_keys(
    sourceignore: str | None, ignore: str | None, kept: list[str]
) -> None:
    listing = {k: "e" for k in ["apps/app.yaml", "apps/notes.md", "docs/x.md", "a.png"]}
    assert sorted(_index(listing, sourceignore=sourceignore, ignore=ignore).entries) == kept


def test_directory_markers_and_the_root_sourceignore_are_not_indexed() -> None:
    listing = {"apps/": "d", ".sourceignore": "s", "apps/a.yaml": "a", "x/.sourceignore": "n"}
    assert sorted(_index(listing).entries) == ["apps/a.yaml", "x/.sourceignore"]


@pytest.mark.parametrize(
    "key",
    ["../escape.yaml", "apps/../../x", "/etc/passwd", "a//b", "./a", "a/./b", "a\\..\\b"],
)
def test_a_key_that_would_leave_the_artifact_root_is_refused(key: str) -> None:
    with pytest.raises(UnsafeKey, match="refused"):
        _index({"ok.yaml": "e", key: "e"})


def test_a_key_that_is_also_a_folder_is_refused() -> None:
    with pytest.raises(UnsafeKey, match="'apps' is also a folder of other keys"):
        _index({"apps": "e", "apps/a.yaml": "e"})


def test_an_ignored_unsafe_key_is_still_refused() -> None:
    # The check comes first: an ignore rule never hides a hostile key.
    with pytest.raises(UnsafeKey):
        _index({"../x.md": "e"}, ignore="*.md\n")
