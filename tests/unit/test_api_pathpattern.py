"""pathPattern captures: the directories a pattern matches, as Go's regexp (RE2) reads them."""

from __future__ import annotations

import time

import pytest

from shared.api.pathpattern import parse_path_pattern


@pytest.mark.parametrize(
    ("pattern", "directory", "captured"),
    [
        ("@repo/apps/{app}", "apps/frontend", {"app": "frontend"}),
        ("@repo/apps/{app}", "apps/frontend/base", None),
        ("@repo/apps/{app}", "apps", None),
        ("@repo/apps/{app}/envs/{env}", "apps/api/envs/prod", {"app": "api", "env": "prod"}),
        ("@repo/{team}-{app}", "payments-api-v2", {"team": "payments-api", "app": "v2"}),
        ("@repo/{a}{b}", "xyz", {"a": "xy", "b": "z"}),
        ("@repo/{a}.{b}.yaml", "x.y.z.yaml", {"a": "x.y", "b": "z"}),
        ("@repo/{a}/{b}", "x/y/z", None),
        ("@repo/apps.v1/{app}", "appsXv1/web", None),
    ],
)
def test_captures_are_the_ones_go_regexp_finds(
    pattern: str, directory: str, captured: dict[str, str] | None
) -> None:
    assert parse_path_pattern(pattern).captures(directory) == captured


def test_a_hostile_pattern_cannot_hang_the_worker() -> None:
    # Many captures in one segment: a backtracking regex tries every split of the
    # name (years of CPU for a 60-character directory); Go's RE2 is linear.
    pattern = parse_path_pattern("@repo/" + "".join(f"{{c{i}}}" for i in range(14)) + "z")
    started = time.monotonic()
    assert pattern.captures("a" * 34) is None
    assert pattern.captures("a" * 34 + "z") is not None
    assert time.monotonic() - started < 2.0
