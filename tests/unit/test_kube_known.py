"""Applied payloads are known unchanged only while the object keeps the version they left."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kube.known import KnownApplied, payload_digest


def at(version: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "resourceVersion": version}}


@pytest.mark.parametrize(
    ("remembered", "live", "unchanged"),
    [
        (at("7"), at("7"), True),
        (at("7"), at("8"), False),  # written to since
        (at("7"), None, False),  # deleted since
        (None, at("7"), False),  # never applied here
        ({"metadata": {}}, {"metadata": {}}, False),  # no version: nothing is known
    ],
)
def test_unchanged_only_at_the_remembered_version(
    remembered: dict[str, Any] | None, live: dict[str, Any] | None, unchanged: bool
) -> None:
    known = KnownApplied()
    if remembered is not None:
        known.remember("d", remembered)
    assert known.unchanged("d", live) is unchanged


def test_a_forgotten_or_evicted_payload_is_unknown() -> None:
    known = KnownApplied(limit=2)
    for digest in ("a", "b", "c"):
        known.remember(digest, at("1"))
    assert not known.has("a") and known.has("b") and known.has("c")
    known.forget("b")
    assert not known.unchanged("b", at("1"))


def test_the_digest_covers_the_payload_and_the_options_that_judge_it() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}
    same = {"data": {"a": "1"}, "kind": "ConfigMap", "apiVersion": "v1"}
    assert payload_digest(obj, shaping="s") == payload_digest(same, shaping="s")
    assert payload_digest(obj, shaping="s") != payload_digest(obj, shaping="other rules")
    assert payload_digest(obj, shaping="s") != payload_digest({**obj, "data": {}}, shaping="s")
