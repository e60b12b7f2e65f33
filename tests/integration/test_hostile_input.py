"""Hostile or broken input through the running loop: a clear error or it works, never half of it.

Each case checks that nothing crashed (every worker still runs), that a refused
revision applied nothing, and, for the escapes, that content from outside the
repository (a file holding a marker string) reached no cluster object, no stored
object or event, no artifact, no cache and no log. Archive entries with ``../``
are also covered at unit level (tests/unit/test_source_artifact.py); here a
hand-made artifact is served to a real kustomize worker.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s

from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from shared.settings import Settings
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data, owned_objects
from tests.leaks import file_bytes, redis_bytes
from tests.servers.git import BareRepo

BIG_FILE_BYTES = 100 * 2**20
MANY_OBJECTS = 5_000


@pytest.fixture
def gitops_settings(gitops_settings: Settings) -> Settings:
    """Room for one apply of 5,000 objects in one task."""
    return gitops_settings.with_overrides(visibility_timeout=400, task_time_limit=300)


def _start(gitops: GitOps, repo: BareRepo, cluster: ClusterInfo, name: str, **extra: str) -> None:
    gitops.register_cluster(cluster, "default")
    gitops.apply(
        source_yaml("app", repo.url, interval="2s")
        + kustomization_yaml(name, source="app", path=extra.get("path", "./app"))
    )


def _failed(gitops: GitOps, name: str, reason: str) -> dict[str, str] | None:
    """The Kustomization's Ready condition once it is False for ``reason``."""
    cond = gitops.ready("Kustomization", name)
    return cond if cond and cond["status"] == "False" and cond["reason"] == reason else None


def _workers_alive(gitops: GitOps) -> None:
    for worker in gitops.workers.started:
        assert worker.process.poll() is None, f"{worker.name} died:\n{worker.output()[-3000:]}"


def _assert_marker_nowhere(gitops: GitOps, cluster: ClusterInfo, marker: str) -> None:
    api = k8s.CoreV1Api(api_client(cluster.kubeconfig))
    try:
        configmaps = api.list_config_map_for_all_namespaces()
    finally:
        api.api_client.close()
    assert marker not in str(configmaps.to_dict())
    needle = marker.encode()
    assert needle not in redis_bytes(gitops.store_client)
    assert needle not in file_bytes(gitops.settings.artifact_dir)
    assert needle not in file_bytes(gitops.settings.cache_dir)
    assert needle not in file_bytes(gitops.log_dir)


def _outside_file(tmp_path: Path, marker: str) -> Path:
    """A valid ConfigMap manifest outside the repository, holding ``marker``."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / "leak.yaml"
    path.write_text(configmap_yaml("leak", "default", marker=marker))
    return path


def test_invalid_yaml_is_build_failed_naming_the_file_and_the_last_good_revision_stays(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns, name = unique("badyaml"), unique("ks-badyaml")
    good = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("cm", ns, v="1")}
    )
    _start(gitops, git_repo, sandbox_cluster, name)
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{good}")
    git_repo.commit(
        {
            "app/cm.yaml": configmap_yaml("cm", ns, v="2"),
            "app/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n  data: [\n",
        }
    )

    cond = eventually(lambda: _failed(gitops, name, "BuildFailed"), timeout=30)
    assert "app/broken.yaml" in cond["message"], cond["message"]
    status = gitops.get("Kustomization", name)["status"]
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert configmap_data(sandbox_cluster.kubeconfig, "cm", ns) == {"v": "1"}
    _workers_alive(gitops)


def test_a_first_revision_with_one_object_the_api_server_refuses_applies_nothing(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    name = unique("ks-refused")
    bad = configmap_yaml("bad", namespace, **{"not a key!": "x"})  # keys are [-._a-zA-Z0-9]+
    git_repo.commit(
        {
            "app/a.yaml": configmap_yaml("good-a", namespace, v="1"),
            "app/b.yaml": bad,
            "app/c.yaml": configmap_yaml("good-c", namespace, v="1"),
        }
    )
    _start(gitops, git_repo, sandbox_cluster, name)

    cond = eventually(lambda: _failed(gitops, name, "ReconciliationFailed"), timeout=30)
    assert f"ConfigMap/{namespace}/bad dry-run failed (Invalid)" in cond["message"], cond
    assert "not a key!" in cond["message"]
    assert owned_objects(sandbox_cluster.kubeconfig, name) == set()
    assert "lastAppliedRevision" not in gitops.get("Kustomization", name)["status"]
    _workers_alive(gitops)


def test_kustomization_resources_escaping_the_repository_are_refused_and_never_read(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    marker = f"SLUICE-MARKER-{uuid.uuid4().hex}"
    leak = _outside_file(tmp_path, marker)
    climb = "../" * 40  # more than any checkout is deep: reaches / wherever the build runs
    name, etc = unique("ks-escape"), unique("ks-etc")
    git_repo.commit(
        {
            "app/kustomization.yaml": f"resources:\n- {climb}{str(leak).lstrip('/')}\n",
            "etc/kustomization.yaml": "resources:\n- ../../../etc\n",
        }
    )
    _start(gitops, git_repo, sandbox_cluster, name)
    gitops.apply(kustomization_yaml(etc, source="app", path="./etc"))

    for ks, entry in ((name, f"{climb}{str(leak).lstrip('/')}"), (etc, "../../../etc")):
        cond = eventually(lambda ks=ks: _failed(gitops, ks, "BuildFailed"), timeout=30)
        assert f"resources entry {entry!r} resolves outside the artifact root" in cond["message"]
        assert owned_objects(sandbox_cluster.kubeconfig, ks) == set()
    _assert_marker_nowhere(gitops, sandbox_cluster, marker)
    _workers_alive(gitops)


def test_symlinks_to_files_outside_the_repository_are_left_out_and_never_read(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    marker = f"SLUICE-MARKER-{uuid.uuid4().hex}"
    leak = _outside_file(tmp_path, marker)
    ns, name = unique("links"), unique("ks-links")
    head = git_repo.commit(
        {
            "app/ns.yaml": namespace_yaml(ns),
            "app/cm.yaml": configmap_yaml("cm", ns, v="1"),
            "shared/other.yaml": configmap_yaml("other", ns, v="1"),
        },
        links={
            "app/absolute.yaml": str(leak),
            "app/relative.yaml": "../" * 40 + str(leak).lstrip("/"),
            "app/dir": str(leak.parent),
            "app/inside.yaml": "../shared/other.yaml",  # inside the repository: kept
        },
    )
    _start(gitops, git_repo, sandbox_cluster, name)

    # The escaping links are left out of the artifact, so the rest builds and applies.
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{head}")
    assert owned_objects(sandbox_cluster.kubeconfig, name) == {
        f"Namespace/{ns}",
        f"ConfigMap/{ns}/cm",
        f"ConfigMap/{ns}/other",
    }
    _assert_marker_nowhere(gitops, sandbox_cluster, marker)
    _workers_alive(gitops)


def _tarball(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in entries.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_an_artifact_with_an_entry_climbing_out_is_refused_whole(
    gitops: GitOps, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    """A hand-made artifact, as a compromised source server could serve it, digest and all."""
    ns, name = unique("climb"), unique("ks-climb")
    escape = f"escaped-{uuid.uuid4().hex}.yaml"
    blob = _tarball(
        {
            "app/cm.yaml": configmap_yaml("cm", ns, v="1").encode(),
            f"app/../../../../{escape}": configmap_yaml("escaped", ns).encode(),
        }
    )
    relative = "gitrepository/flux-system/evil/evil.tar.gz"
    path = gitops.settings.artifact_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(source_yaml("evil", "https://example.invalid/evil.git", extra="  suspend: true\n"))
    digest = f"sha256:{hashlib.sha256(blob).hexdigest()}"
    gitops.store.update_status(
        ObjectKey("GitRepository", "flux-system", "evil"),
        {
            "artifact": {
                "revision": "main@sha1:" + "e" * 40,
                "path": relative,
                "url": f"{gitops.settings.artifact_url}/{relative}",
                "digest": digest,
                "size": len(blob),
            }
        },
    )
    gitops.apply(kustomization_yaml(name, source="evil", path="./app"))

    cond = eventually(lambda: _failed(gitops, name, "ArtifactFailed"), timeout=30)
    assert "leaves the destination" in cond["message"], cond["message"]
    assert owned_objects(sandbox_cluster.kubeconfig, name) == set()
    assert not list(tmp_path.rglob(escape)), "an entry was written outside the destination"
    assert not list(Path("/tmp").glob(escape))
    _workers_alive(gitops)


def test_a_100_mb_file_in_the_repository_is_archived_and_applies_nothing(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns, name = unique("big"), unique("ks-big")
    big = os.urandom(BIG_FILE_BYTES)
    started = time.monotonic()
    head = git_repo.commit(
        {
            "app/ns.yaml": namespace_yaml(ns),
            "app/cm.yaml": configmap_yaml("cm", ns, v="1"),
            "app/big.bin": big,
        }
    )
    committed = time.monotonic()
    _start(gitops, git_repo, sandbox_cluster, name)

    source = gitops.wait_ready("GitRepository", "app", revision=f"main@sha1:{head}", timeout=120)
    archived = time.monotonic()
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{head}", timeout=120)
    applied = time.monotonic()
    artifact = source["status"]["artifact"]
    stored = gitops.settings.artifact_dir / artifact["path"]
    assert artifact["digest"] == f"sha256:{hashlib.sha256(stored.read_bytes()).hexdigest()}"
    assert artifact["size"] == stored.stat().st_size
    with tarfile.open(stored) as tar:
        member = tar.getmember("app/big.bin")
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == big
    assert owned_objects(sandbox_cluster.kubeconfig, name) == {
        f"Namespace/{ns}",
        f"ConfigMap/{ns}/cm",
    }
    _workers_alive(gitops)
    print(
        f"\n100 MB file: commit {committed - started:.1f}s, artifact ready "
        f"{archived - committed:.1f}s later ({artifact['size'] / 2**20:.0f} MiB), "
        f"applied {applied - archived:.1f}s after that"
    )


def test_5000_objects_in_one_revision_apply_and_become_ready(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    """Into a namespace the same revision creates, as an app's first commit does."""
    name, namespace = unique("ks-many"), unique("many")
    files: dict[str, str | bytes | None] = {"app/namespace.yaml": namespace_yaml(namespace)}
    per_file = 500
    for f in range(MANY_OBJECTS // per_file):
        files[f"app/cms-{f:02d}.yaml"] = "---\n".join(
            configmap_yaml(f"cm-{i:05d}", namespace, n=str(i))
            for i in range(f * per_file, (f + 1) * per_file)
        )
    head = git_repo.commit(files)
    started = time.monotonic()
    _start(gitops, git_repo, sandbox_cluster, name)

    doc = gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{head}", timeout=280)
    took = time.monotonic() - started
    assert len(doc["status"]["inventory"]["entries"]) == MANY_OBJECTS + 1
    api = k8s.CoreV1Api(api_client(sandbox_cluster.kubeconfig))
    try:
        names = {c.metadata.name for c in api.list_namespaced_config_map(namespace).items}
    finally:
        api.api_client.close()
    assert names - {"kube-root-ca.crt"} == {f"cm-{i:05d}" for i in range(MANY_OBJECTS)}
    _workers_alive(gitops)
    print(f"\n{MANY_OBJECTS} ConfigMaps: Ready {took:.1f}s after the Kustomization was applied")


def test_a_toolkit_object_over_1_mib_in_a_revision_is_build_failed_naming_it_and_stores_nothing(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    """The store's 1 MiB object limit holds for objects a build yields, not only for apply."""
    name, huge = unique("ks-huge"), unique("huge")
    blob = "x" * (2**20 + 100)
    git_repo.commit(
        {
            "app/huge.yaml": kustomization_yaml(
                huge,
                source="app",
                path="./other",
                extra=f"  postBuild:\n    substitute:\n      blob: {blob}\n",
            )
        }
    )
    _start(gitops, git_repo, sandbox_cluster, name)

    cond = eventually(lambda: _failed(gitops, name, "BuildFailed"), timeout=60)
    assert f"Kustomization/flux-system/{huge}" in cond["message"], cond["message"][:2000]
    assert "an object may be at most 1 MiB (1,048,576 bytes)" in cond["message"]
    assert gitops.store.get(ObjectKey("Kustomization", "flux-system", huge)) is None
    _workers_alive(gitops)
