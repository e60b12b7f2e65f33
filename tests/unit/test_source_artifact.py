"""Artifacts: deterministic tarballs, revision strings, the store's layout and safe extraction."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from services.source.git.revision import artifact_filename, git_revision, revision_commit
from services.source.storage import Storage, StorageError
from shared.archive import MAX_ENTRIES, UnsafeArchiveError, extract_tarball
from shared.tarball import build_tarball, file_digest

SHA = "1f2e3d4c5b6a79880716253443526170a9b8c7d6"


def make_tree(root: Path) -> Path:
    files = {
        "kustomization.yaml": "resources: [deploy]\n",
        "deploy/app.yaml": "kind: Deployment\n",
        "deploy/run.sh": "#!/bin/sh\n",
        "docs/logo.png": "png",
        ".git/config": "[core]\n",
        "apps/notes.txt": "notes\n",
        "apps/app.yaml": "kind: Service\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "deploy/run.sh").chmod(0o755)
    return root


def members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


@pytest.mark.parametrize(
    ("ref_name", "absolute", "revision"),
    [
        ("refs/heads/main", False, f"main@sha1:{SHA}"),
        ("refs/heads/feature/x", False, f"feature/x@sha1:{SHA}"),
        ("refs/tags/v1.2.3", False, f"v1.2.3@sha1:{SHA}"),
        ("refs/pull/1/head", True, f"refs/pull/1/head@sha1:{SHA}"),
        ("", False, f"sha1:{SHA}"),
    ],
)
def test_revisions_use_flux_format(ref_name: str, absolute: bool, revision: str) -> None:
    assert git_revision(ref_name, SHA, absolute=absolute) == revision


@pytest.mark.parametrize(
    ("revision", "commit"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"refs/pull/1/head@sha1:{SHA}", SHA),
        (f"sha1:{SHA}", SHA),
        (f"main/{SHA}", SHA),
        (SHA, SHA),
        ("6.0.3", ""),
        ("", ""),
    ],
)
def test_the_commit_is_read_back_from_current_and_legacy_revisions(
    revision: str, commit: str
) -> None:
    assert revision_commit(revision) == commit


def test_the_same_tree_gives_the_same_digest_whatever_its_mtimes_and_modes(
    tmp_path: Path,
) -> None:
    tree = make_tree(tmp_path / "tree")
    first = build_tarball(tree, tmp_path / "one.tar.gz")
    os.utime(tree / "deploy/app.yaml", (time.time() + 3600,) * 2)
    (tree / "kustomization.yaml").chmod(0o666)
    second = build_tarball(tree, tmp_path / "two.tar.gz")
    assert first.digest == second.digest
    assert first.digest == "sha256:" + hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.digest == file_digest(first.path)
    assert first.size == first.path.stat().st_size
    assert first.path.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime


def test_content_and_ignore_rules_change_the_digest(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    base = build_tarball(tree, tmp_path / "a.tar.gz").digest
    assert build_tarball(tree, tmp_path / "b.tar.gz", ignore="docs/").digest != base
    (tree / "deploy/app.yaml").write_text("kind: StatefulSet\n")
    assert build_tarball(tree, tmp_path / "c.tar.gz").digest != base


def test_entries_are_sorted_and_normalized_and_ignored_files_left_out(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    tarball = build_tarball(tree, tmp_path / "a.tar.gz")
    entries = members(tarball.path)
    assert list(entries) == [
        "apps",
        "apps/app.yaml",
        "apps/notes.txt",
        "deploy",
        "deploy/app.yaml",
        "deploy/run.sh",
        "docs",
        "kustomization.yaml",
    ]
    assert tarball.entries == len(entries)
    assert {m.mode for m in entries.values() if m.isdir()} == {0o750}
    assert entries["deploy/app.yaml"].mode == 0o600
    assert entries["deploy/run.sh"].mode == 0o700
    for member in entries.values():
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0, 0, 0, "", "",
        )  # fmt: skip


def test_spec_ignore_replaces_the_defaults(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    entries = members(build_tarball(tree, tmp_path / "a.tar.gz", ignore="deploy/\n").path)
    assert "docs/logo.png" in entries
    assert "deploy/app.yaml" not in entries
    assert not any(name.startswith(".git") for name in entries)


def test_sourceignore_files_in_subdirectories_are_honoured(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "apps/.sourceignore").write_text("*.txt\n")
    entries = members(build_tarball(tree, tmp_path / "a.tar.gz").path)
    assert "apps/notes.txt" not in entries
    assert "apps/app.yaml" in entries
    assert "apps/.sourceignore" in entries
    # As in source-controller, patterns from any .sourceignore replace the defaults.
    assert "docs/logo.png" in entries
    assert not any(name.startswith(".git") for name in entries)


def test_symlinks_inside_the_tree_are_kept_and_escaping_ones_skipped(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tmp_path / "outside.txt").write_text("secret outside the tree\n")
    (tree / "deploy/alias.yaml").symlink_to("app.yaml")
    (tree / "up").symlink_to("../outside.txt")
    (tree / "abs").symlink_to(tmp_path / "outside.txt")
    (tree / "deploy/root").symlink_to("..")
    # Lexically inside ("deploy"), but deploy/root/.. resolves above the tree.
    (tree / "chain").symlink_to("deploy/root/..")
    tarball = build_tarball(tree, tmp_path / "a.tar.gz")
    entries = members(tarball.path)
    assert entries["deploy/alias.yaml"].issym()
    assert entries["deploy/alias.yaml"].linkname == "app.yaml"
    assert entries["deploy/root"].issym()
    assert sorted(tarball.skipped_links) == ["abs", "chain", "up"]
    assert b"secret outside" not in gzip_payload(tarball.path)


def gzip_payload(path: Path) -> bytes:
    import gzip

    return gzip.decompress(path.read_bytes())


def test_the_store_lays_out_flux_paths_and_refuses_traversal(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "store")
    rel = storage.artifact_path(
        kind="GitRepository", namespace="flux-system", name="podinfo",
        filename=artifact_filename(SHA),
    )  # fmt: skip
    assert rel == f"gitrepository/flux-system/podinfo/{SHA}.tar.gz"
    assert storage.local_path(rel) == tmp_path / "store" / rel
    bad = [
        {"namespace": "..", "name": "x", "filename": "a.tar.gz"},
        {"namespace": "ns", "name": "a/b", "filename": "a.tar.gz"},
        {"namespace": "ns", "name": "x", "filename": "../a.tar.gz"},
        {"namespace": "ns", "name": "x", "filename": ".hidden"},
    ]
    for parts in bad:
        with pytest.raises(StorageError):
            storage.artifact_path(kind="GitRepository", **parts)
    for path in ("gitrepository/ns/x/../../y.tar.gz", "/etc/passwd", "gitrepository/ns/x"):
        with pytest.raises(StorageError):
            storage.local_path(path)


def test_store_is_atomic_and_collect_keeps_the_newest_and_the_current(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "store", retention=2)
    names = [f"{n}{SHA[1:]}.tar.gz" for n in "abcd"]
    for age, name in enumerate(reversed(names)):
        source = tmp_path / name
        source.write_bytes(name.encode())
        stored = storage.store(
            source, kind="GitRepository", namespace="ns", name="repo", filename=name
        )
        os.utime(stored.local_path, (1000.0 + age, 1000.0 + age))
        assert stored.digest == "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        assert not source.exists()
    directory = tmp_path / "store/gitrepository/ns/repo"
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]
    removed = storage.collect(kind="GitRepository", namespace="ns", name="repo", keep=[names[3]])
    # names[0] is the newest; names[3], the oldest, is the one the object still points at.
    assert sorted(p.name for p in directory.iterdir()) == sorted([names[0], names[3]])
    assert len(removed) == 2
    assert storage.exists(f"gitrepository/ns/repo/{names[0]}")
    assert storage.verify(f"gitrepository/ns/repo/{names[0]}", file_digest(directory / names[0]))


def test_extract_round_trips_an_artifact(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "deploy/alias.yaml").symlink_to("app.yaml")
    tarball = build_tarball(tree, tmp_path / "a.tar.gz")
    out = tmp_path / "out"
    assert extract_tarball(tarball.path, out) == tarball.entries
    assert (out / "deploy/app.yaml").read_text() == "kind: Deployment\n"
    assert os.readlink(out / "deploy/alias.yaml") == "app.yaml"
    assert os.access(out / "deploy/run.sh", os.X_OK)
    assert not (out / "docs/logo.png").exists()


def tarball_of(path: Path, *entries: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in entries:
            data = b"x" * info.size if info.isreg() else None
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def entry(
    name: str, kind: bytes = tarfile.REGTYPE, *, link: str = "", size: int = 1
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = size if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "entries",
    [
        [entry("../evil")],
        [entry("/etc/evil")],
        [entry("a/../../evil")],
        [entry("link", tarfile.SYMTYPE, link="/etc/passwd")],
        [entry("a/link", tarfile.SYMTYPE, link="../../x")],
        [entry("d/up", tarfile.SYMTYPE, link=".."), entry("esc", tarfile.SYMTYPE, link="d/up/..")],
        [entry("sub", tarfile.DIRTYPE), entry("l", tarfile.SYMTYPE, link="sub"), entry("l/f")],
        [entry("hard", tarfile.LNKTYPE, link="../outside")],
        [entry("hard", tarfile.LNKTYPE, link="never-extracted")],
        [entry("dev", tarfile.CHRTYPE)],
        [entry("fifo", tarfile.FIFOTYPE)],
    ],
    ids=[
        "dotdot", "absolute", "inner-dotdot", "abs-symlink", "symlink-up", "symlink-chain",
        "through-symlink", "hardlink-out", "hardlink-unknown", "device", "fifo",
    ],
)  # fmt: skip
def test_extract_refuses_entries_that_leave_the_destination(
    tmp_path: Path, entries: list[tarfile.TarInfo]
) -> None:
    archive = tarball_of(tmp_path / "evil.tar.gz", entry("ok.yaml"), *entries)
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError):
        extract_tarball(archive, out)
    assert list(out.iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_extract_limits_content_size_and_needs_an_empty_destination(tmp_path: Path) -> None:
    archive = tarball_of(tmp_path / "big.tar.gz", entry("big", size=4096))
    with pytest.raises(UnsafeArchiveError, match="exceeds"):
        extract_tarball(archive, tmp_path / "out", max_bytes=1024)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/file").write_text("x")
    with pytest.raises(UnsafeArchiveError, match="not empty"):
        extract_tarball(archive, tmp_path / "busy")


def test_hard_links_to_extracted_files_are_copied(tmp_path: Path) -> None:
    archive = tarball_of(
        tmp_path / "a.tar.gz",
        entry("a.yaml", size=3),
        entry("b.yaml", tarfile.LNKTYPE, link="a.yaml"),
    )
    extract_tarball(archive, tmp_path / "out")
    assert (tmp_path / "out/b.yaml").read_bytes() == b"xxx"
    assert not (tmp_path / "out/b.yaml").samefile(tmp_path / "out/a.yaml")


def _many_entries(path: Path, count: int) -> Path:
    """A tarball of ``count`` empty files (a few bytes each once compressed)."""
    with tarfile.open(path, mode="w:gz") as tar:
        for index in range(count):
            tar.addfile(tarfile.TarInfo(f"f{index}"))
    return path


def test_extract_refuses_more_entries_than_the_limit_before_holding_them_all(
    tmp_path: Path,
) -> None:
    # ~6 bytes per empty entry compressed but ~420 bytes of memory each read:
    # a 1 GiB layer of them would take ~70 GiB, so the count is capped.
    archive = _many_entries(tmp_path / "many.tgz", MAX_ENTRIES + 1)
    with pytest.raises(UnsafeArchiveError, match=f"more than {MAX_ENTRIES} entries"):
        extract_tarball(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
