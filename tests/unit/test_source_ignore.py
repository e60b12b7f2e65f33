"""Ignore rules for artifacts: Flux defaults, spec.ignore, .sourceignore files, gitignore syntax."""

from __future__ import annotations

import time

import pytest

from shared.sourceignore import build_matcher

NONE: dict[str, str] = {}


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        (".git", True, True),
        (".git/config", False, True),
        ("sub/.gitignore", False, True),
        (".gitmodules", False, True),
        ("img/logo.png", False, True),
        ("photo.JPG", False, False),
        ("release.tar.gz", False, True),
        ("bundle.zip", False, True),
        (".github/workflows/ci.yaml", False, True),
        (".circleci", True, True),
        (".gitlab-ci.yml", False, True),
        ("apps/.sops.yaml", False, True),
        (".goreleaser.yml", False, True),
        ("clusters/prod/.flux.yaml", False, True),
        ("deploy/app.yaml", False, False),
        ("kustomization.yaml", False, False),
        (".sourceignore", False, False),
    ],
)
def test_default_exclusions_apply_without_any_rules(path: str, is_dir: bool, ignored: bool) -> None:
    assert build_matcher().ignored(path, is_dir=is_dir) is ignored


@pytest.mark.parametrize(
    ("spec", "path", "is_dir", "ignored"),
    [
        # spec.ignore replaces the defaults but never the VCS exclusions.
        ("*.yaml", "logo.png", False, False),
        ("*.yaml", "a.yaml", False, True),
        ("*.yaml", ".git/config", False, True),
        # Flux keeps the defaults when spec.ignore yields no pattern at all.
        ("", "logo.png", False, True),
        ("# just a comment\n\n", "logo.png", False, True),
        # negation: the last matching pattern wins, even below an excluded directory
        ("*.yaml\n!keep.yaml", "keep.yaml", False, False),
        ("*.yaml\n!keep.yaml", "drop.yaml", False, True),
        ("deploy/\n!deploy/keep.yaml", "deploy/keep.yaml", False, False),
        ("deploy/\n!deploy/keep.yaml", "deploy/other.yaml", False, True),
        ("!keep.yaml\n*.yaml", "keep.yaml", False, True),
        # directory patterns
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("build/", "src/build/out.o", False, True),
        ("build", "src/build", False, True),
        # anchored patterns
        ("/config.yaml", "config.yaml", False, True),
        ("/config.yaml", "sub/config.yaml", False, False),
        ("config.yaml", "sub/config.yaml", False, True),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/deep/a.md", False, False),
        ("docs/*.md", "x/docs/a.md", False, False),
        ("apps/base", "apps/base/deploy.yaml", False, True),
        # double stars
        ("**/secret.yaml", "a/b/secret.yaml", False, True),
        ("**/secret.yaml", "secret.yaml", False, True),
        ("a/**/z.yaml", "a/b/c/z.yaml", False, True),
        ("a/**/z.yaml", "a/z.yaml", False, True),
        ("a/**", "a/x/y", False, True),
        ("a/**", "a", False, False),
        ("**/a/b", "x/a/c/a/b", False, True),
        # glob syntax
        ("file?.txt", "file1.txt", False, True),
        ("file[0-9].txt", "file7.txt", False, True),
        ("file[!0-9].txt", "file7.txt", False, False),
        ("file[^0-9].txt", "filex.txt", False, True),
        ("*.Yaml", "a.yaml", False, False),
        ("\\#notes", "#notes", False, True),
        ("\\!bang", "!bang", False, True),
        ("trailing   ", "trailing", False, True),
        ("[unclosed", "[unclosed", False, False),
    ],
)
def test_spec_ignore_rules(spec: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert build_matcher(spec_ignore=spec).ignored(path, is_dir=is_dir) is ignored


@pytest.mark.parametrize(
    ("files", "spec", "path", "ignored"),
    [
        ({"": "*.txt"}, None, "notes.txt", True),
        # Any .sourceignore pattern replaces the defaults, as in source-controller.
        ({"": "*.txt"}, None, "logo.png", False),
        ({"": "# only a comment\n"}, None, "logo.png", True),
        ({"apps": "*.txt"}, None, "apps/notes.txt", True),
        ({"apps": "*.txt"}, None, "apps/deep/notes.txt", True),
        ({"apps": "*.txt"}, None, "notes.txt", False),
        ({"apps": "/local.yaml"}, None, "apps/local.yaml", True),
        ({"apps": "/local.yaml"}, None, "apps/x/local.yaml", False),
        ({"apps/prod": "secret/"}, None, "apps/prod/secret/a.yaml", True),
        ({"apps/prod": "secret/"}, None, "apps/secret/a.yaml", False),
        ({"apps/prod": "secret/"}, None, "apps/prod/x/secret/a.yaml", True),
        # Deeper files come later and win over the root file.
        ({"": "*.yaml", "apps": "!keep.yaml"}, None, "apps/keep.yaml", False),
        ({"": "*.yaml", "apps": "!keep.yaml"}, None, "keep.yaml", True),
        # spec.ignore comes last and overrules every .sourceignore.
        ({"": "!*.yaml"}, "*.yaml", "a.yaml", True),
        ({"": "*.yaml"}, "!a.yaml", "a.yaml", False),
    ],
)
def test_sourceignore_files_are_scoped_to_their_directory(
    files: dict[str, str], spec: str | None, path: str, ignored: bool
) -> None:
    assert build_matcher(spec_ignore=spec, sourceignores=files).ignored(path) is ignored


def test_comments_blank_lines_and_carriage_returns_give_no_pattern() -> None:
    files = {"apps": "# comment\r\n\r\n*.yaml\r\n  \n!keep.yaml\n"}
    matcher = build_matcher(sourceignores=files)
    assert matcher.ignored("apps/a.yaml")
    assert not matcher.ignored("apps/keep.yaml")
    assert not matcher.ignored("a.yaml")  # scoped to apps/
    assert not matcher.ignored("# comment")
    # Patterns were found, so the default exclusions no longer apply.
    assert not matcher.ignored("logo.png")


def test_a_negated_anchored_directory_pattern_re_includes_only_that_directory() -> None:
    matcher = build_matcher(spec_ignore="deploy/\n!/deploy/")
    assert not matcher.ignored("deploy", is_dir=True)
    assert matcher.ignored("apps/deploy", is_dir=True)
    assert not matcher.ignored("deploy", is_dir=False)


def test_inclusions_are_reported_so_walkers_keep_descending() -> None:
    assert not build_matcher(spec_ignore="build/").has_inclusions
    assert build_matcher(spec_ignore="build/\n!build/keep").has_inclusions


def test_a_hostile_pattern_cannot_hang_the_worker() -> None:
    # A .sourceignore comes with the source (a repository, a bucket): a line of
    # stars and letters made Python's backtracking regex run for hours on one
    # long path. Matched by RE2 (as Flux's Go matcher, linear), it is instant.
    rules = build_matcher(sourceignores={"": "*a" * 8 + "b\n"})
    started = time.monotonic()
    assert not rules.ignored("a" * 60)
    assert rules.ignored("a" * 60 + "b")
    assert time.monotonic() - started < 2.0
