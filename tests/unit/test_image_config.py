"""The image times Flux v1 ordered glob and regexp tags by: index entry, created, labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.image.imageconfig import (
    LABEL_BUILD_DATE,
    LABEL_CREATED,
    ImageConfig,
    parse_image_config,
    parse_timestamp,
    platform_manifest,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.5-07:30", datetime(2024, 5, 1, 17, 30, 0, 500000, tzinfo=UTC)),
        # What Go's RFC 3339 parser refuses is no time at all, as fluxd's zero time.
        ("2024-05-01 10:00:00Z", None),
        ("2024-05-01T10:00Z", None),
        ("2024-05-01T10:00:00", None),
        ("2024-13-01T10:00:00Z", None),
        ("", None),
        (1714557600, None),
        (None, None),
    ],
)
def test_timestamps_are_read_as_go_reads_rfc3339(value: object, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


def _entry(digest: str, os_name: str, arch: str) -> dict[str, object]:
    return {"digest": digest, "platform": {"os": os_name, "architecture": arch}}


@pytest.mark.parametrize(
    ("manifests", "chosen"),
    [
        ([_entry("sha256:a", "linux", "arm64"), _entry("sha256:b", "linux", "amd64")], "sha256:b"),
        ([_entry("sha256:a", "linux", "amd64"), _entry("sha256:b", "linux", "amd64")], "sha256:a"),
        ([_entry("sha256:a", "windows", "amd64"), _entry("sha256:b", "linux", "arm")], ""),
        ([{"digest": "sha256:a"}], ""),
        ([], ""),
    ],
)
def test_an_index_gives_its_linux_amd64_manifest_as_fluxd_chose(
    manifests: list[dict[str, object]], chosen: str
) -> None:
    assert platform_manifest({"manifests": manifests}) == chosen


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {
                "created": "2024-01-01T00:00:00Z",
                "container_config": {"Labels": {LABEL_CREATED: "2024-02-01T00:00:00Z",
                                                 LABEL_BUILD_DATE: "2024-03-01T00:00:00Z"}},
            },
            ImageConfig(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC),
                        datetime(2024, 3, 1, tzinfo=UTC)),
        ),
        # Labels are read from container_config, as fluxd; Go matches JSON keys ignoring case.
        ({"Created": "2024-01-01T00:00:00Z", "config": {"Labels": {LABEL_CREATED: "2024"}}},
         ImageConfig(datetime(2024, 1, 1, tzinfo=UTC))),
        ({"container_config": {"labels": {LABEL_CREATED: "not a time"}}}, ImageConfig()),
        ({}, ImageConfig()),
    ],
)  # fmt: skip
def test_an_image_config_tells_its_times(config: dict[str, object], expected: ImageConfig) -> None:
    assert parse_image_config(json.dumps(config).encode()) == expected


@pytest.mark.parametrize("content", [b"", b"[]", b"{", b'"x"'])
def test_a_config_that_is_not_an_object_tells_no_time(content: bytes) -> None:
    assert parse_image_config(content) == ImageConfig()
