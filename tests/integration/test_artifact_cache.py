"""The machine's cache of fetched artifacts keeps the trees in use and drops the unused ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.artifacts import fetch_artifact
from shared.artifactserver import ArtifactServer, serve_artifacts
from shared.tarball import KEEP_ALL, build_tarball

KEPT = 64  # trees the cache holds (shared.artifacts._collect)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ArtifactServer]:
    server = serve_artifacts(tmp_path / "served", host="127.0.0.1", port=0)
    yield server
    server.close()


def _publish(server: ArtifactServer, tmp_path: Path, count: int) -> list[tuple[str, str]]:
    """``count`` distinct artifacts on the server: (url, digest) each."""
    found = []
    for i in range(count):
        tree = tmp_path / "trees" / str(i)
        tree.mkdir(parents=True)
        (tree / "app.yaml").write_text(f"revision: {i}\n")
        tarball = build_tarball(tree, tmp_path / "served" / f"{i}.tar.gz", matcher=KEEP_ALL)
        found.append((f"{server.url}/{i}.tar.gz", tarball.digest))
    return found


def test_a_tree_used_again_is_not_the_one_dropped(server: ArtifactServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    artifacts = _publish(server, tmp_path, KEPT + 1)
    trees = [fetch_artifact(url, digest, cache_dir=cache) for url, digest in artifacts[:KEPT]]
    for age, tree in enumerate(trees):  # extracted in this order, the first one oldest
        os.utime(tree, (1_000_000 + age, 1_000_000 + age))

    hot = fetch_artifact(*artifacts[0], cache_dir=cache)  # in use again, by another consumer
    fetch_artifact(*artifacts[KEPT], cache_dir=cache)

    assert (hot / "app.yaml").read_text() == "revision: 0\n"
    assert not trees[1].exists()  # the least recently used one went instead
