"""Owner-only files for credentials, and masking what tools echo back."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from shared.private import mask, private_dir, sweep_private, write_private


def test_a_private_file_is_owner_only_in_an_owner_only_folder_gone_after_the_block() -> None:
    with private_dir("sluice-test-") as folder:
        path = write_private(folder / "kubeconfig", b"token: s3cret\n")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes() == b"token: s3cret\n"
    assert not folder.exists()


def test_a_private_file_is_never_written_through_a_path_already_there(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for taken in ("elsewhere", "link"):
        with pytest.raises(FileExistsError):
            write_private(tmp_path / taken, b"secret")
    assert (tmp_path / "elsewhere").read_text() == "keep"


@pytest.mark.parametrize(
    ("text", "secrets", "limit", "shown"),
    [
        ("401 for user bot:s3cret ", ["s3cret"], 2000, "401 for user bot:***"),
        ("a s3cret and s3cret", ["s3cret", ""], 2000, "a *** and ***"),
        ("nothing to hide", [], 2000, "nothing to hide"),
        ("x" * 10, [], 4, "xxxx…"),
    ],
)
def test_mask_hides_every_secret_and_bounds_the_message(
    text: str, secrets: list[str], limit: int, shown: str
) -> None:
    assert mask(text, secrets, limit=limit) == shown


def test_sweep_removes_only_old_private_homes_of_the_prefix(tmp_path: Path) -> None:
    old = tmp_path / "sluice-helm-old"
    fresh = tmp_path / "sluice-helm-fresh"
    other = tmp_path / "other-old"
    for path in (old, fresh, other):
        path.mkdir()
        (path / "kubeconfig").write_text("token: x")
    hour_ago = time.time() - 3600
    for path in (old, other):
        os.utime(path, (hour_ago, hour_ago))
    assert sweep_private(tmp_path, "sluice-helm-", older_than=600) == [old]
    assert not old.exists() and fresh.exists() and other.exists()
