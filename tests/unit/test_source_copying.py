"""Copy steps on real files: reads stay in the source, writes in the artifact, names as Flux's."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from services.source.generator.copying import apply_steps, content_hash, scan_tree
from services.source.generator.copyplan import CopyError, CopyFile, Extract, MakeDir


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_file_name_is_source_watchers_dirhash(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {"a.yaml": "a: 1\n", "sub/b.yaml": "kind: ConfigMap\n"})
    # Computed by Go: golang.org/x/mod/sumdb/dirhash.HashDir(tree, "frontend", source-watcher's
    # Adler-32 hash) over these two files.
    assert content_hash(tree, prefix="frontend") == "3585085773"


def test_a_symlink_out_of_the_source_is_refused(tmp_path: Path) -> None:
    secret = _tree(tmp_path / "outside", {"secret": "s3cr3t"}) / "secret"
    source = _tree(tmp_path / "src", {"ok.yaml": "x: 1\n"})
    os.symlink(secret, source / "leak.yaml")
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(CopyError, match="links outside its tree"):
        apply_steps([CopyFile("leak.yaml", "leak.yaml")], source_root=source, staging=staging)
    assert not (staging / "leak.yaml").exists()


def test_a_staged_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    source = _tree(tmp_path / "src", {"new.yaml": "new\n"})
    staging = _tree(tmp_path / "staging", {"target.yaml": "kept\n"})
    os.symlink("target.yaml", staging / "link.yaml")
    apply_steps([CopyFile("new.yaml", "link.yaml")], source_root=source, staging=staging)
    assert (staging / "target.yaml").read_text() == "kept\n"
    assert not (staging / "link.yaml").is_symlink()
    assert (staging / "link.yaml").read_text() == "new\n"


def test_merge_deep_merges_yaml_into_the_staged_file(tmp_path: Path) -> None:
    source = _tree(tmp_path / "src", {"prod.yaml": "image: {tag: '2'}\nreplicas: 3\n"})
    staging = _tree(tmp_path / "staging", {"values.yaml": "image: {tag: '1', pull: Always}\n"})
    apply_steps(
        [CopyFile("prod.yaml", "values.yaml", merge=True)], source_root=source, staging=staging
    )
    assert (staging / "values.yaml").read_text() == (
        "image:\n  pull: Always\n  tag: '2'\nreplicas: 3\n"
    )


def test_merging_a_non_mapping_document_says_so(tmp_path: Path) -> None:
    source = _tree(tmp_path / "src", {"list.yaml": "- a\n- b\n"})
    staging = _tree(tmp_path / "staging", {"values.yaml": "a: 1\n"})
    with pytest.raises(CopyError, match="a YAML document is not a mapping"):
        apply_steps(
            [CopyFile("list.yaml", "values.yaml", merge=True)], source_root=source, staging=staging
        )


def test_a_scanned_tree_leaves_out_directory_symlinks(tmp_path: Path) -> None:
    source = _tree(tmp_path / "src", {"d/a.yaml": "a\n"})
    os.symlink("d", source / "loop")
    tree = scan_tree(source)
    assert tree.files == {"d/a.yaml"} and tree.dirs == {"d"}


def test_a_directory_cannot_replace_a_staged_file(tmp_path: Path) -> None:
    source = _tree(tmp_path / "src", {"x": ""})
    staging = _tree(tmp_path / "staging", {"apps": "a file\n"})
    with pytest.raises(CopyError, match="a file is there"):
        apply_steps([MakeDir("apps")], source_root=source, staging=staging)


def test_a_source_tree_that_vanished_is_an_error_not_an_empty_source(tmp_path: Path) -> None:
    # A cached tree evicted by another worker between its fetch and its scan must
    # not read as a source with no files: a pathPattern would then match nothing
    # and the generator would delete every ExternalArtifact it made.
    with pytest.raises(CopyError, match="cannot read source tree"):
        scan_tree(tmp_path / "evicted")


def _tarball(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_extracted_tarballs_together_may_not_exceed_the_artifact_limit(tmp_path: Path) -> None:
    # Each tarball alone is under the limit; a glob matching many of them (gzip
    # bombs, ~1000:1) must not fill the disk one limit at a time.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("a", "b", "c"):
        _tarball(source / f"{name}.tgz", {f"{name}/data": b"\0" * 600})
    staging = tmp_path / "staging"
    staging.mkdir()
    steps = [Extract(f"{name}.tgz", ".") for name in ("a", "b", "c")]
    with pytest.raises(CopyError, match="may hold 1000 bytes in all"):
        apply_steps(steps, source_root=source, staging=staging, max_extract_bytes=1000)
