"""When a build's toolkit objects may be stored: every target applied exactly that build."""

from __future__ import annotations

import pytest

from shared.fleet.commit import all_applied
from shared.fleet.state import Desired

DESIRED = Desired("main@sha1:2", "cluster-objects", ("a", "b"), 1, store_key="toolkit")
TOKEN = "cluster-objects/toolkit"


@pytest.mark.parametrize(
    ("applied", "expected"),
    [
        ({"a": TOKEN, "b": TOKEN}, True),
        ({"a": TOKEN, "b": TOKEN, "gone": "old/old"}, True),  # a cluster no longer targeted
        ({"a": TOKEN}, False),  # b has not applied it (refused, unreachable, still running)
        ({"a": TOKEN, "b": "cluster-objects/older-toolkit"}, False),  # b applied another build
        ({}, False),
    ],
)
def test_the_toolkit_objects_wait_for_every_target(applied: dict[str, str], expected: bool) -> None:
    assert all_applied(DESIRED, applied) is expected


def test_a_build_without_targets_has_nothing_to_wait_for() -> None:
    assert all_applied(Desired("main@sha1:2", "k", (), 1, store_key="t"), {})


def test_the_token_names_both_halves_of_the_build_and_survives_json() -> None:
    assert DESIRED.token == TOKEN
    assert Desired.from_json(DESIRED.to_json()) == DESIRED
    # A record written before store_key existed reads back with none: nothing to commit.
    old = '{"revision": "r", "build_key": "k", "targets": ["a"], "generation": 1}'
    assert Desired.from_json(old).store_key == ""
