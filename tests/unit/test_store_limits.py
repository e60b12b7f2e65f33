"""The store's size limits, as a table: what one object and one apply may hold."""

from __future__ import annotations

import pytest

from shared.store.limits import (
    MAX_APPLY_BYTES,
    MAX_APPLY_OBJECTS,
    MAX_FILE_BYTES,
    MAX_OBJECT_BYTES,
    apply_too_big,
    file_too_big,
    object_size,
    object_too_big,
)


def _configmap(name: str, size: int) -> dict[str, object]:
    doc: dict[str, object] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    doc["data"] = {"k": "x" * (size - object_size({**doc, "data": {"k": ""}}))}
    return doc


def test_the_limits_are_kubernetes_one_mib_per_object() -> None:
    assert MAX_OBJECT_BYTES == 1_048_576
    assert (MAX_APPLY_OBJECTS, MAX_APPLY_BYTES, MAX_FILE_BYTES) == (1000, 8 * 2**20, 8 * 2**20)


def test_object_size_counts_utf8_bytes_of_compact_json() -> None:
    assert object_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert object_size(_configmap("x", 5000)) == 5000


@pytest.mark.parametrize(
    ("size", "says"),
    [
        (MAX_OBJECT_BYTES, None),
        (MAX_OBJECT_BYTES + 1, "1.0 MiB (1,048,577 bytes)"),
        (20_000_000, "an object may be at most 1 MiB (1,048,576 bytes)"),
    ],
)
def test_one_object_over_one_mib_is_refused(size: int, says: str | None) -> None:
    problem = object_too_big(size)
    assert problem is None if says is None else says in (problem or "")


@pytest.mark.parametrize(
    ("count", "each", "says"),
    [
        (MAX_APPLY_OBJECTS, 100, None),
        (MAX_APPLY_OBJECTS + 1, 100, "1,001 objects in one apply; at most 1,000"),
        (9, MAX_OBJECT_BYTES, "9.0 MiB (9,437,184 bytes) of objects in one apply"),
        (8, MAX_OBJECT_BYTES, None),
    ],
)
def test_one_apply_is_bounded_in_objects_and_bytes(count: int, each: int, says: str | None) -> None:
    problem = apply_too_big([_configmap(f"cm{i}", each) for i in range(count)])
    assert problem is None if says is None else says in (problem or "")
    if says:
        assert "split them over several files" in (problem or "")


def test_files_over_8_mib_are_not_read() -> None:
    assert file_too_big(MAX_FILE_BYTES) is None
    assert "the file is 20.0 MiB" in (file_too_big(20 * 2**20) or "")
