"""The bucket mirror never serves an object's new bytes under its old etag.

A sync that fails part-way (one download refused, or the worker killed) has
already replaced some files; the manifest must not keep saying those files
hold the etag they held before, or a bucket reverted to that etag would be
archived with the newer bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.source.bucket.bucketindex import EtagIndex
from services.source.bucket.bucketmirror import BucketMirror, Download
from services.source.bucket.s3 import BucketError

BODIES = {"e1": b"version one\n", "e2": b"version two\n"}


def _server(bucket: dict[str, str]) -> Download:
    """A GET against ``bucket`` (key -> etag): writes that etag's body, or is refused."""

    def download(key: str, dest: Path) -> str:
        etag = bucket[key]
        if etag not in BODIES:
            raise BucketError(f"failed to get '{key}' object: refused")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(BODIES[etag])
        return etag

    return download


def _sync(mirror: BucketMirror, bucket: dict[str, str]) -> EtagIndex:
    return mirror.sync(EtagIndex(dict(bucket)), listed=set(bucket), download=_server(bucket)).index


def _staged(mirror: BucketMirror, index: EtagIndex, dest: Path) -> dict[str, bytes]:
    dest.mkdir()
    mirror.stage(index, dest)
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def test_a_failed_sync_does_not_leave_new_bytes_under_the_old_etag(tmp_path: Path) -> None:
    mirror = BucketMirror(tmp_path / "mirror")
    _sync(mirror, {"app.yaml": "e1"})

    # app.yaml changes while a new object's download is refused: the sync fails.
    with pytest.raises(BucketError):
        _sync(mirror, {"app.yaml": "e2", "0-broken.yaml": "refused"})

    # The bucket is reverted: app.yaml is at e1 again, and so must its bytes be.
    index = _sync(mirror, {"app.yaml": "e1"})
    assert _staged(mirror, index, tmp_path / "out") == {"app.yaml": BODIES["e1"]}
