"""Deeply nested YAML through every way in: a clear error naming the file, never a traceback.

A document nested 10,000 levels deep used to end in a RecursionError (and a
megabyte of ``[`` in a segmentation fault of libyaml's composer). The loader
unit tests (tests/unit/test_yaml.py) hold the table of rules; here the real
entry points are driven: the ``sluice apply -f`` command as a user runs it,
a Git build, both through a plain directory (sluice reads the files) and
through a kustomization (sluice reads kustomize's output), and the running
GitOps loop, whose kustomize worker a megabyte of ``[`` used to kill.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.kustomize.build import BuildOptions, build, find_kustomize
from services.kustomize.manifests import BuildFailed
from shared.redisserver import RedisServer
from shared.sandbox import ClusterInfo
from shared.yaml import MAX_DEPTH
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data
from tests.servers.git import BareRepo

TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels)"


def nested_object(levels: int, *, kind: str = "ConfigMap", name: str = "deep") -> str:
    """An object whose ``spec`` holds ``levels`` nested mappings."""
    # Flow style keeps 10,000 levels at 40 kB, under the size limit of one apply.
    head = f"apiVersion: example.com/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec: "
    return head + "{a: " * levels + "1" + "}" * levels + "\n"


def test_sluice_apply_of_a_10000_level_file_exits_1_naming_the_file(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text(nested_object(10_000))
    sluice = str(Path(sys.executable).with_name("sluice"))
    env = {
        "SLUICE_REDIS_URL": redis_server.url,
        "SLUICE_SECRET_KEY_FILE": str(tmp_path / "key"),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sluice, "apply", "-f", str(deep)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert f"{deep}: document 1: {TOO_DEEP}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "RecursionError" not in result.stderr
    assert result.stdout == ""  # nothing stored


@pytest.fixture
def options(tmp_path: Path) -> BuildOptions:
    kustomize = find_kustomize()
    if kustomize is None:
        pytest.skip("kustomize not found: run `make tools` to build it into the tool cache")
    work = tmp_path / "work"
    work.mkdir()
    return BuildOptions(kustomize=kustomize, work_dir=work)


def test_a_git_build_of_a_plain_directory_names_the_deep_file(
    tmp_path: Path, options: BuildOptions
) -> None:
    root = tmp_path / "artifact"
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "fine.yaml").write_text(nested_object(MAX_DEPTH - 5, name="fine"))
    (root / "apps" / "deep.yaml").write_text(nested_object(10_000))
    with pytest.raises(BuildFailed) as caught:
        build(root, "./apps", options=options)
    assert "apps/deep.yaml: document 1: " + TOO_DEEP in str(caught.value)
    assert caught.value.file == "apps/deep.yaml"


def test_a_git_build_of_a_plain_directory_refuses_an_alias_bomb_before_kustomize_runs(
    tmp_path: Path, options: BuildOptions
) -> None:
    # 500 bytes that expand to 9**9 strings (kustomize alone would grow to its memory cap).
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:"]
    lines.append('  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    lines += [f"  a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    root = tmp_path / "artifact"
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(BuildFailed) as caught:
        build(root, "./apps", options=options)
    assert "apps/bomb.yaml: document 1: aliases expand the document by more than" in str(
        caught.value
    )


def test_a_git_build_refuses_kustomize_output_nested_too_deeply(
    tmp_path: Path, options: BuildOptions
) -> None:
    # kustomize itself stops at 10,000 levels; below that its output reaches sluice.
    root = tmp_path / "artifact"
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "kustomization.yaml").write_text("resources: [deep.yaml]\n")
    (root / "apps" / "deep.yaml").write_text(nested_object(MAX_DEPTH + 50, kind="Thing"))
    with pytest.raises(BuildFailed) as caught:
        build(root, "./apps", options=options)
    assert f"kustomize build of 'apps': document 1: {TOO_DEEP}" in str(caught.value)


def test_a_megabyte_of_brackets_in_git_fails_the_build_and_the_worker_lives_on(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns, name = unique("deepyaml"), unique("ks-deepyaml")
    good = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("cm", ns, v="1")}
    )
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("app", git_repo.url, interval="2s")
        + kustomization_yaml(name, source="app", path="./app")
    )
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{good}")
    git_repo.commit({"app/deep.yaml": "[" * 1_000_000 + "]" * 1_000_000})

    def failed() -> dict[str, str] | None:
        cond = gitops.ready("Kustomization", name)
        return cond if cond and cond["reason"] == "BuildFailed" else None

    cond = eventually(failed, timeout=60)
    assert f"app/deep.yaml: document 1: {TOO_DEEP}" in cond["message"], cond["message"]
    status = gitops.get("Kustomization", name)["status"]
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert configmap_data(sandbox_cluster.kubeconfig, "cm", ns) == {"v": "1"}
    for worker in gitops.workers.started:
        assert worker.process.poll() is None, f"{worker.name} died:\n{worker.output()[-3000:]}"
