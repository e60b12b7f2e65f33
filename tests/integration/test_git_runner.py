"""shared/git's runner against a real repository: git runs under the tool caps of shared/toolrun."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.source.git.mirror import fetch
from services.source.git.refs import GitRef
from shared.git import GitOperationFailed
from shared.toolrun import ToolLimits
from tests.servers.git import BareRepo

BIG = 60 * 2**20


@pytest.fixture
def big_repo(git_repo: BareRepo) -> BareRepo:
    # Random bytes do not compress: git must really hold them while it fetches.
    git_repo.commit({"big.bin": os.urandom(BIG)})
    return git_repo


def test_a_fetch_over_the_memory_cap_is_stopped_with_a_clear_message(
    big_repo: BareRepo, tmp_path: Path
) -> None:
    small = ToolLimits(memory_bytes=32 * 2**20, cpu_seconds=60, timeout=60)
    with pytest.raises(GitOperationFailed, match=r"exceeded its memory cap \(32 MiB\)"):
        fetch(big_repo.url, GitRef(branch="main"), cache_dir=tmp_path / "c", limits=small)


def test_the_default_caps_leave_room_for_the_same_fetch(big_repo: BareRepo, tmp_path: Path) -> None:
    result = fetch(big_repo.url, GitRef(branch="main"), cache_dir=tmp_path / "c")
    assert result.fetched
    assert len(result.commit) == 40
