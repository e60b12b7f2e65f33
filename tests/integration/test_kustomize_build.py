"""The build layer against the real kustomize binary (``make tools`` builds it)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from services.kustomize.build import (
    ArtifactPathError,
    BuildCache,
    BuildLimitExceeded,
    BuildOptions,
    build,
    build_cached,
    build_key,
    find_kustomize,
    kustomize_runs,
    render,
)
from services.kustomize.decrypt import Decryption
from services.kustomize.generate import BuildSpec, Image, Patch, PatchSelector
from services.kustomize.manifests import BuildFailed, classify
from services.kustomize.substitute import PostBuild, SubstitutionError
from shared.secrets import SecretCipher
from shared.toolrun import ToolLimits
from shared.tools import ToolMissingError

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: '{value}'\n"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.0
        envFrom:
        - configMapRef: {name: settings}
"""
DIGEST = "sha256:" + "ab" * 32
CIPHER = SecretCipher(SecretCipher.generate_key())


@pytest.fixture
def kustomize() -> Path:
    path = find_kustomize()
    if path is None:
        pytest.skip("kustomize not found: run `make tools` to build it into the tool cache")
    return path


@pytest.fixture
def options(kustomize: Path, tmp_path: Path) -> BuildOptions:
    work = tmp_path / "work"
    work.mkdir()
    return BuildOptions(kustomize=kustomize, work_dir=work)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` with a hash of its content, links as their targets."""
    seen: dict[str, str] = {}
    for current, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(current) / name
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                seen[key] = "-> " + os.readlink(path)
            elif path.is_file():
                seen[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[key] = "dir"
    return seen


def names(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)


def test_plain_yaml_dir_without_kustomization_builds(tmp_path: Path, options: BuildOptions) -> None:
    root = tmp_path / "artifact"
    write(root / "apps" / "cm.yaml", CONFIGMAP.format(name="one", value="1"))
    write(root / "apps" / "nested" / "two.yml", CONFIGMAP.format(name="two", value="2"))
    write(root / "apps" / "base" / "kustomization.yaml", "resources: [three.yaml]\n")
    write(root / "apps" / "base" / "three.yaml", CONFIGMAP.format(name="three", value="3"))
    write(root / "apps" / "notes.txt", "ignored")
    before = snapshot(root)
    objects = build(root, "./apps", options=options)
    assert names(objects) == ["ConfigMap/one", "ConfigMap/three", "ConfigMap/two"]
    # The artifact is shared by every build of its revision: never written.
    assert snapshot(root) == before
    assert list((tmp_path / "work").iterdir()) == []


def test_overlay_with_config_map_generator_gets_a_hash_suffix(
    tmp_path: Path, options: BuildOptions
) -> None:
    root = tmp_path / "artifact"
    write(root / "base" / "deploy.yaml", DEPLOYMENT)
    write(root / "base" / "kustomization.yaml", "resources: [deploy.yaml]\n")
    write(
        root / "overlays" / "prod" / "kustomization.yaml",
        "resources: [../../base]\nconfigMapGenerator:\n- name: settings\n  literals: [mode=prod]\n",
    )
    objects = build(root, "overlays/prod", options=options)
    [generated] = [o for o in objects if o["kind"] == "ConfigMap"]
    [deploy] = [o for o in objects if o["kind"] == "Deployment"]
    name = generated["metadata"]["name"]
    assert name.startswith("settings-") and len(name) > len("settings-")
    assert generated["data"] == {"mode": "prod"}
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": name}}]


def test_spec_overlay_is_applied(tmp_path: Path, options: BuildOptions) -> None:
    root = tmp_path / "artifact"
    write(root / "app" / "deploy.yaml", DEPLOYMENT)
    write(root / "app" / "cm.yaml", CONFIGMAP.format(name="settings", value="x"))
    write(
        root / "app" / "kustomization.yaml",
        "resources: [deploy.yaml, cm.yaml]\n"
        "images:\n- name: nginx\n  newName: mirror.local/nginx\n  newTag: '1.1'\n",
    )
    spec = BuildSpec(
        target_namespace="team-a",
        name_prefix="pre-",
        name_suffix="-suf",
        patches=(
            Patch(
                patch='[{"op": "add", "path": "/spec/replicas", "value": 3}]',
                target=PatchSelector(kind="Deployment", name="web"),
            ),
        ),
        images=(Image(name="nginx", new_tag="2.0"),),
        common_labels={"team": "a", "app": "overridden"},
        common_annotations={"owner": "sre"},
    )
    objects = render(root, "app", spec=spec, options=options)
    assert names(objects) == ["ConfigMap/pre-settings-suf", "Deployment/pre-web-suf"]
    for item in objects:
        assert item["metadata"]["namespace"] == "team-a"
        assert item["metadata"]["labels"]["team"] == "a"
        assert item["metadata"]["labels"]["app"] == "overridden"
        assert item["metadata"]["annotations"] == {"owner": "sre"}
    [deploy] = [o for o in objects if o["kind"] == "Deployment"]
    assert deploy["spec"]["replicas"] == 3
    # commonMetadata touches only the object's own metadata, never its selector.
    assert deploy["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "mirror.local/nginx:2.0"
    assert container["envFrom"] == [{"configMapRef": {"name": "pre-settings-suf"}}]


def test_resources_escaping_the_root_fail_clearly(tmp_path: Path, options: BuildOptions) -> None:
    root = tmp_path / "artifact"
    write(root / "apps" / "kustomization.yaml", "resources:\n- ../../etc\n")
    with pytest.raises(BuildFailed) as caught:
        build(root, "apps", options=options)
    assert "apps/kustomization.yaml: resources entry '../../etc' resolves outside" in str(
        caught.value
    )
    assert caught.value.file == "apps/kustomization.yaml"


def test_kustomize_load_restrictor_is_on(tmp_path: Path, options: BuildOptions) -> None:
    root = tmp_path / "artifact"
    write(root / "shared" / "patch.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    write(root / "apps" / "cm.yaml", CONFIGMAP.format(name="a", value="1"))
    kustomization = "resources: [cm.yaml]\npatches:\n- path: ../shared/patch.yaml\n"
    write(root / "apps" / "kustomization.yaml", kustomization)
    with pytest.raises(BuildFailed, match=r"is not in or below"):
        build(root, "apps", options=options)
    relaxed = BuildOptions(kustomize=options.kustomize, load_restrictor="LoadRestrictionsNone")
    assert names(build(root, "apps", options=relaxed)) == ["ConfigMap/a"]


def test_a_path_escaping_through_a_symlink_is_refused(
    tmp_path: Path, options: BuildOptions
) -> None:
    outside = tmp_path / "outside"
    write(outside / "cm.yaml", CONFIGMAP.format(name="leak", value="1"))
    root = tmp_path / "artifact"
    root.mkdir()
    os.symlink(outside, root / "apps")
    with pytest.raises(ArtifactPathError, match=r"spec.path 'apps' resolves outside the artifact"):
        build(root, "apps", options=options)
    with pytest.raises(ArtifactPathError, match=r"spec.path '../outside' resolves outside"):
        build(root, "../outside", options=options)
    with pytest.raises(ArtifactPathError, match=r"spec.path 'nope' not found"):
        build(root, "nope", options=options)


def test_a_resource_symlinked_outside_the_root_is_refused(
    tmp_path: Path, options: BuildOptions
) -> None:
    outside = write(tmp_path / "secret.yaml", CONFIGMAP.format(name="leak", value="1"))
    root = tmp_path / "artifact"
    write(root / "apps" / "kustomization.yaml", "resources: [leak.yaml]\n")
    os.symlink(outside, root / "apps" / "leak.yaml")
    with pytest.raises(BuildFailed, match=r"resources entry 'leak.yaml' resolves outside"):
        build(root, "apps", options=options)


def test_invalid_yaml_names_the_file(tmp_path: Path, options: BuildOptions) -> None:
    root = tmp_path / "artifact"
    write(root / "plain" / "bad.yaml", "apiVersion: v1\nkind: ConfigMap\n data: [\n")
    with pytest.raises(BuildFailed, match=r"failed to decode Kubernetes YAML from plain/bad.yaml"):
        build(root, "plain", options=options)
    write(root / "kust" / "kustomization.yaml", "resources: [bad.yaml]\n")
    write(root / "kust" / "bad.yaml", "apiVersion: v1\nkind: ConfigMap\n data: [\n")
    with pytest.raises(
        BuildFailed, match=r"kustomize build of 'kust' failed: .*bad.yaml"
    ) as caught:
        build(root, "kust", options=options)
    assert caught.value.file == "kust/bad.yaml"
    assert str(options.work_dir) not in str(caught.value)


def test_an_object_without_a_name_is_rejected(tmp_path: Path, options: BuildOptions) -> None:
    root = tmp_path / "artifact"
    write(root / "apps" / "x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    with pytest.raises(BuildFailed, match=r"missing metadata.name"):
        build(root, "apps", options=options)


def test_an_empty_dir_builds_nothing_without_running_kustomize(
    tmp_path: Path, options: BuildOptions
) -> None:
    (tmp_path / "artifact" / "empty").mkdir(parents=True)
    runs = kustomize_runs.value
    assert build(tmp_path / "artifact", "empty", options=options) == []
    assert kustomize_runs.value == runs


def test_a_build_over_its_timeout_fails(tmp_path: Path, kustomize: Path) -> None:
    write(tmp_path / "cm.yaml", CONFIGMAP.format(name="a", value="1"))
    limits = ToolLimits(memory_bytes=1 << 30, cpu_seconds=60, timeout=1e-4)
    with pytest.raises(BuildLimitExceeded, match=r"exceeded its time limit"):
        build(tmp_path, options=BuildOptions(kustomize=kustomize, limits=limits))


def test_an_alias_bomb_is_stopped_at_the_memory_cap(tmp_path: Path, kustomize: Path) -> None:
    # 500 bytes of YAML that expand to 9**9 strings: kustomize grows without bound.
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:"]
    lines.append('  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    lines += [f"  a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    write(tmp_path / "cm.yaml", "\n".join(lines) + "\n")
    # Listed in a kustomization, the file is read by kustomize alone (in a plain
    # directory sluice's loader refuses it first: test_hostile_yaml.py).
    write(tmp_path / "kustomization.yaml", "resources: [cm.yaml]\n")
    limits = ToolLimits(memory_bytes=256 << 20, cpu_seconds=120, timeout=120)
    with pytest.raises(BuildLimitExceeded, match=r"exceeded its memory cap \(256 MiB\)"):
        build(tmp_path, options=BuildOptions(kustomize=kustomize, limits=limits))


def test_an_honest_large_build_passes_the_default_caps(tmp_path: Path, kustomize: Path) -> None:
    text = "".join("---\n" + CONFIGMAP.format(name=f"cm-{i}", value="v" * 200) for i in range(2000))
    write(tmp_path / "cms.yaml", text)
    objects = build(tmp_path, options=BuildOptions(kustomize=kustomize))
    assert len(objects) == 2000


def test_a_missing_kustomize_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "cm.yaml", CONFIGMAP.format(name="a", value="1"))
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "none"))
    monkeypatch.setenv("SLUICE_TOOLS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    with pytest.raises(ToolMissingError, match=r"make tools"):
        build(tmp_path)


def test_same_inputs_build_once(tmp_path: Path, options: BuildOptions) -> None:
    root = tmp_path / "artifact"
    write(root / "apps" / "cm.yaml", CONFIGMAP.format(name="a", value="${greeting}"))
    cache = BuildCache(tmp_path / "cache", CIPHER)
    post = PostBuild(substitute={"greeting": "hello"})
    runs = kustomize_runs.value
    same = {"digest": DIGEST, "post_build": post, "options": options}
    first, hit1 = build_cached(cache, root, path="./apps", **same)
    second, hit2 = build_cached(cache, root, path="apps/", **same)
    assert (hit1, hit2) == (False, True)
    assert first == second
    assert first[0]["data"] == {"v": "hello"}
    assert kustomize_runs.value == runs + 1
    changed = PostBuild(substitute={"greeting": "bye"})
    third, hit3 = build_cached(cache, root, path="apps", **{**same, "post_build": changed})
    assert (hit3, third[0]["data"]) == (False, {"v": "bye"})
    assert kustomize_runs.value == runs + 2


def test_cached_builds_keep_secret_values_sealed_on_disk(
    tmp_path: Path, options: BuildOptions
) -> None:
    root = tmp_path / "artifact"
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n"
        "stringData:\n  password: ${password}\n"
    )
    write(root / "secret.yaml", secret)
    cache = BuildCache(tmp_path / "cache", CIPHER)
    post = PostBuild(substitute={"password": "s3cr3t-from-a-secret"})
    built, hit = build_cached(cache, root, digest=DIGEST, post_build=post, options=options)
    assert (hit, built[0]["stringData"]) == (False, {"password": "s3cr3t-from-a-secret"})
    on_disk = b"".join(f.read_bytes() for f in (tmp_path / "cache").glob("??/*.json"))
    assert on_disk and b"s3cr3t-from-a-secret" not in on_disk
    again, hit = build_cached(cache, root, digest=DIGEST, post_build=post, options=options)
    assert (hit, again) == (True, built)
    other_key = BuildCache(tmp_path / "cache", SecretCipher(SecretCipher.generate_key()))
    assert build_cached(other_key, root, digest=DIGEST, post_build=post, options=options) == (
        built,
        False,  # sealed with a retired key: built again, not an error
    )


def test_concurrent_builders_of_one_revision_run_kustomize_once(
    tmp_path: Path, options: BuildOptions
) -> None:
    root = tmp_path / "artifact"
    write(root / "cm.yaml", CONFIGMAP.format(name="a", value="1"))
    cache = BuildCache(tmp_path / "cache", CIPHER)
    runs = kustomize_runs.value
    results: list[tuple[list[dict[str, Any]], bool]] = []
    barrier = threading.Barrier(4)

    def one() -> None:
        barrier.wait()
        results.append(build_cached(cache, root, digest=DIGEST, options=options))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kustomize_runs.value == runs + 1
    assert sorted(hit for _, hit in results) == [False, True, True, True]
    assert len({str(objects) for objects, _ in results}) == 1


def test_a_failed_build_is_not_cached(tmp_path: Path, options: BuildOptions) -> None:
    write(tmp_path / "cm.yaml", CONFIGMAP.format(name="a", value="${missing}"))
    cache = BuildCache(tmp_path / "cache", CIPHER)
    post = PostBuild(substitute={"other": "1"})
    for _ in range(2):
        with pytest.raises(SubstitutionError, match=r'ConfigMap/a: variable not set .*"missing"'):
            build_cached(cache, tmp_path, digest=DIGEST, post_build=post, options=options)
    assert list((tmp_path / "cache").glob("??/*.json")) == []


def test_toolkit_objects_in_a_build_are_routed_to_the_store(
    tmp_path: Path, options: BuildOptions
) -> None:
    ks = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: apps, namespace: flux-system}\nspec: {path: ./apps, prune: true}\n"
    )
    write(tmp_path / "ks.yaml", ks)
    write(tmp_path / "cm.yaml", CONFIGMAP.format(name="a", value="1"))
    routed = classify(build(tmp_path, options=options))
    assert [o["kind"] for o in routed.store] == ["Kustomization"]
    assert [o["kind"] for o in routed.clusters] == ["ConfigMap"]


@pytest.mark.parametrize(
    "change",
    [
        {"digest": "sha256:" + "cd" * 32},
        {"path": "other"},
        {"spec": BuildSpec(target_namespace="x")},
        {"post_build": PostBuild(substitute={"a": "2"})},
        {"tool": "v5.9.0"},
        {"decryption": Decryption(("AGE-SECRET-KEY-1EXAMPLE",))},
    ],
)
def test_build_key_changes_with_every_input(change: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "digest": DIGEST,
        "path": "./apps",
        "spec": BuildSpec(),
        "post_build": PostBuild(substitute={"a": "1"}),
        "tool": "v5.8.2",
    }
    key = build_key(**base)
    assert len(key) == 64
    assert build_key(**{**base, "path": "apps/"}) == key
    assert build_key(**{**base, **change}) != key


def test_cache_entries_round_trip_and_damaged_ones_are_misses(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache", CIPHER, max_entries=2)
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3)]
    assert cache.get(keys[0]) is None
    cache.put(keys[0], [{"kind": "A"}])
    assert cache.get(keys[0]) == [{"kind": "A"}]
    file = tmp_path / "cache" / keys[0][:2] / f"{keys[0]}.json"
    file.write_text("{not json")
    assert cache.get(keys[0]) is None
    with pytest.raises(ValueError, match="not a sha256"):
        cache.get("../../etc/passwd")
    for key in keys:
        cache.put(key, [{"kind": key}])
    assert len(list((tmp_path / "cache").glob("??/*.json"))) == 2
