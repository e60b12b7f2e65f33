"""ArtifactGenerator copy operations planned as source-watcher carries them out (cp-like)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from services.source.generator.copying import merge_values
from services.source.generator.copyplan import (
    CopyError,
    CopyFile,
    Extract,
    MakeDir,
    SourceTree,
    Step,
    excluded,
    plan_copy,
)
from services.source.generator.globs import GlobError, glob_match
from shared.api.artifactgenerator import CopyOperation

TREE = SourceTree.of(
    [
        "README.md",
        "config.yaml",
        "deploy/frontend/app.yaml",
        "deploy/frontend/docs.md",
        "deploy/frontend/overlays/prod.yaml",
        "deploy/backend/app.yaml",
        "configs/a.yaml",
        "configs/b.json",
        "configs/subdir/c.yaml",
        "configs/testdata/t.yaml",
        "charts/podinfo-6.7.0.tgz",
        "releases/v1/app.tar.gz",
        "releases/v2/nested/db.tgz",
        "releases/notes.txt",
    ]
)


def _op(src: str, dest: str, *, exclude: list[str] | None = None, strategy: str = "") -> Any:
    doc: dict[str, Any] = {"from": src, "to": dest, "exclude": exclude or []}
    if strategy:
        doc["strategy"] = strategy
    return CopyOperation.model_validate(doc)


def _files(steps: list[Step]) -> dict[str, str]:
    return {s.dest: s.source for s in steps if isinstance(s, CopyFile)}


@pytest.mark.parametrize(
    ("src", "dest", "exclude", "expected"),
    [
        # A file to a path, or into a directory (trailing slash).
        ("@s/config.yaml", "@artifact/apps/app.yaml", [], {"apps/app.yaml": "config.yaml"}),
        ("@s/config.yaml", "@artifact/apps/", [], {"apps/config.yaml": "config.yaml"}),
        ("@s/config.yaml", "@artifact/", [], {"config.yaml": "config.yaml"}),
        # A glob keeps the matched path; `*` stops at "/".
        (
            "@s/configs/*.yaml",
            "@artifact/apps/",
            [],
            {"apps/configs/a.yaml": "configs/a.yaml"},
        ),
        # dir/** strips the prefix and copies matched directories whole.
        (
            "@s/deploy/frontend/**",
            "@artifact/",
            [],
            {
                "app.yaml": "deploy/frontend/app.yaml",
                "docs.md": "deploy/frontend/docs.md",
                "overlays/prod.yaml": "deploy/frontend/overlays/prod.yaml",
            },
        ),
        # A directory without a glob is copied as a subdirectory.
        (
            "@s/deploy/backend",
            "@artifact/apps/",
            [],
            {"apps/backend/app.yaml": "deploy/backend/app.yaml"},
        ),
        # The alias root copies the whole source.
        ("@s/", "@artifact/", ["**"], {}),
        # Excludes: by name at any depth, by a doublestar path, relative to the from prefix.
        (
            "@s/configs/**",
            "@artifact/apps/",
            ["*.json", "**/testdata/**", "subdir/**"],
            {"apps/a.yaml": "configs/a.yaml"},
        ),
        (
            "@s/deploy/frontend/**",
            "@artifact/",
            ["*.md", "overlays"],
            {"app.yaml": "deploy/frontend/app.yaml"},
        ),
        # An excluded single file is skipped, not an error.
        ("@s/README.md", "@artifact/", ["*.md"], {}),
    ],
)
def test_copy_destinations_follow_cp(
    src: str, dest: str, exclude: list[str], expected: dict[str, str]
) -> None:
    steps = plan_copy(_op(src, dest, exclude=exclude), TREE, staged_dir=lambda _: False)
    assert _files(steps) == expected


def test_a_file_copied_onto_a_staged_directory_goes_inside_it() -> None:
    op = _op("@s/config.yaml", "@artifact/apps")
    steps = plan_copy(op, TREE, staged_dir=lambda p: p == "apps")
    assert _files(steps) == {"apps/config.yaml": "config.yaml"}


def test_a_directory_copy_creates_its_directories() -> None:
    steps = plan_copy(_op("@s/deploy/frontend", "@artifact/"), TREE, staged_dir=lambda _: False)
    assert [s.dest for s in steps if isinstance(s, MakeDir)] == ["frontend", "frontend/overlays"]


@pytest.mark.parametrize(
    ("src", "dest", "expected"),
    [
        ("@s/charts/podinfo-6.7.0.tgz", "@artifact/", [Extract("charts/podinfo-6.7.0.tgz", ".")]),
        # Extract globs are doublestar's: ** spans directories; other files are skipped.
        (
            "@s/releases/**/*.t*",
            "@artifact/out/",
            [
                Extract("releases/v1/app.tar.gz", "out"),
                Extract("releases/v2/nested/db.tgz", "out"),
            ],
        ),
    ],
)
def test_extract_unpacks_tarballs_only(src: str, dest: str, expected: list[Step]) -> None:
    op = _op(src, dest, strategy="Extract")
    assert plan_copy(op, TREE, staged_dir=lambda _: False) == expected


def test_merge_is_asked_for_single_files_only() -> None:
    op = _op("@s/config.yaml", "@artifact/values.yaml", strategy="Merge")
    assert plan_copy(op, TREE, staged_dir=lambda _: False) == [
        CopyFile("config.yaml", "values.yaml", merge=True)
    ]


@pytest.mark.parametrize(
    ("src", "strategy", "says"),
    [
        ("@s/nothing/*.yaml", "", "no files match pattern 'nothing/*.yaml' in source 's'"),
        ("@s/missing.yaml", "", "source 'missing.yaml' does not exist in 's'"),
        ("@s/config.yaml", "Extract", "extract strategy requires tarball file"),
        ("@s/configs", "Extract", "extract strategy is not supported for directories"),
        ("@s/configs/[a.yaml", "", "unclosed '['"),
    ],
)
def test_impossible_copies_say_why(src: str, strategy: str, says: str) -> None:
    with pytest.raises(CopyError, match=re.escape(says)):
        plan_copy(_op(src, "@artifact/", strategy=strategy), TREE, staged_dir=lambda _: False)


def test_a_glob_whose_matches_are_all_excluded_is_an_error() -> None:
    op = _op("@s/configs/*.yaml", "@artifact/", exclude=["a.yaml"])
    with pytest.raises(CopyError, match="were excluded"):
        plan_copy(op, TREE, staged_dir=lambda _: False)


@pytest.mark.parametrize(
    ("pattern", "doublestar", "path", "matches"),
    [
        ("deploy/**", False, "deploy/frontend", True),
        ("deploy/**", False, "deploy/frontend/app.yaml", False),  # Go's fs.Glob: ** is *
        ("deploy/**", True, "deploy/frontend/app.yaml", True),
        ("deploy/**", True, "deploy", True),
        ("**/*.tgz", True, "a.tgz", True),
        ("**/*.tgz", True, "a/b/c.tgz", True),
        ("a/**/b", True, "a/b", True),
        ("a/**/b", True, "a/x/y/b", True),
        ("*.{yaml,yml}", True, "x.yml", True),
        ("*.{yaml,yml}", False, "x.yml", False),
        ("file?.yaml", False, "file1.yaml", True),
        ("[^a]*.yaml", False, "b.yaml", True),
        ("[^a]*.yaml", False, "a.yaml", False),
        ("*", False, "a/b", False),
        ("[!a]*.yaml", True, "a.yaml", False),
        ("[a-c]?.yaml", False, "bx.yaml", True),
        (r"\*.yaml", False, "x.yaml", False),
        (r"\*.yaml", False, "*.yaml", True),
        ("{a,{b,c}}/*.yaml", True, "c/x.yaml", True),
        ("{a/b,c}/x", True, "a/b/x", True),
    ],
)
def test_globs(pattern: str, doublestar: bool, path: str, matches: bool) -> None:
    assert glob_match(pattern, path, doublestar=doublestar) is matches


@pytest.mark.parametrize(
    ("path", "base", "patterns", "dropped"),
    [
        ("configs/docs/x.md", "configs", ["*.md"], True),
        ("configs/subdir/c.yaml", "configs", ["subdir/**"], True),
        ("configs/subdir/c.yaml", ".", ["subdir/**"], False),
        ("configs/testdata/t.yaml", ".", ["**/testdata/**"], True),
        ("configs/a.yaml", "configs", [], False),
    ],
)
def test_excludes(path: str, base: str, patterns: list[str], dropped: bool) -> None:
    assert excluded(path, base=base, patterns=patterns) is dropped


@pytest.mark.parametrize(
    ("base", "overlay", "merged"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1, "y": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # lists replaced, as Helm does
        ({"a": {"x": 1}}, {"a": "flat"}, {"a": "flat"}),
        ({"a": 1}, {"a": None}, {"a": None}),
    ],
)
def test_merge_is_helms_values_merge(
    base: dict[str, Any], overlay: dict[str, Any], merged: dict[str, Any]
) -> None:
    assert merge_values(base, overlay) == merged


def test_a_hostile_glob_costs_its_length_not_an_exponential_backtrack() -> None:
    name = "a" * 200
    assert not glob_match("*a" * 40 + "b", name, doublestar=True)
    deep = "/".join(["d"] * 60)
    assert not glob_match("/".join(["**"] * 30) + "/x", deep, doublestar=True)


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("[abc", "unclosed '['"),
        ("{a,b", "unclosed '{'"),
        ("{a,b}" * 9, "more than 256 alternatives"),
    ],
)
def test_unreadable_globs_are_errors(pattern: str, says: str) -> None:
    with pytest.raises(GlobError, match=re.escape(says)):
        glob_match(pattern, "x", doublestar=True)


def test_an_unreadable_exclude_fails_the_copy() -> None:
    op = _op("@s/configs/*.yaml", "@artifact/", exclude=["{a,b"])
    with pytest.raises(CopyError, match="invalid exclude pattern"):
        plan_copy(op, TREE, staged_dir=lambda _: False)


def test_excluding_many_files_of_a_big_tree_takes_linear_time() -> None:
    # A monorepo of 40,000 files whose docs are excluded: listing every excluded
    # path and scanning that list for each path took minutes.
    files = [f"apps/app{i % 200}/file{i}.{ext}" for i in range(20_000) for ext in ("md", "yaml")]
    tree = SourceTree.of(files)
    started = time.monotonic()
    steps = plan_copy(
        _op("@repo/apps", "@artifact/", exclude=["*.md"]), tree, staged_dir=lambda _: False
    )
    assert time.monotonic() - started < 10.0  # about 1 s; the quadratic scan took 80
    copied = [s for s in steps if isinstance(s, CopyFile)]
    assert len(copied) == 20_000
    assert all(step.dest.endswith(".yaml") for step in copied)


def test_copying_each_of_a_thousand_directories_does_not_rescan_the_tree() -> None:
    files = [f"apps/app{i % 1000}/file{i}.yaml" for i in range(50_000)]
    tree = SourceTree.of(files)
    started = time.monotonic()
    steps = plan_copy(_op("@repo/apps/*", "@artifact/"), tree, staged_dir=lambda _: False)
    assert time.monotonic() - started < 10.0  # about 1 s; a scan per directory took 15
    assert _files(steps)["apps/app7/file7.yaml"] == "apps/app7/file7.yaml"
    assert len(_files(steps)) == 50_000
