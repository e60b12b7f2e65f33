from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.kustomize.generate import (
    BuildSpec,
    Image,
    Patch,
    PatchSelector,
    check_references,
    generate_kustomization,
    is_empty_kustomization,
    load_kustomization,
    overlay,
    prepare_kustomization,
    render_kustomization,
)
from services.kustomize.manifests import BuildFailed

HEADER = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (BuildSpec(target_namespace="apps"), {"namespace": "apps"}),
        (BuildSpec(name_prefix="p-", name_suffix="-s"), {"namePrefix": "p-", "nameSuffix": "-s"}),
        (BuildSpec(build_metadata=("managedByLabel",)), {"buildMetadata": ["managedByLabel"]}),
        (BuildSpec(components=("../tls",)), {"components": ["../base-comp", "../tls"]}),
    ],
)
def test_overlay_fields_land_in_the_kustomization(
    spec: BuildSpec, expected: dict[str, Any]
) -> None:
    doc = {"resources": ["a.yaml"], "namespace": "old", "components": ["../base-comp"]}
    result = overlay(doc, spec)
    assert result["resources"] == ["a.yaml"]
    for key, value in expected.items():
        assert result[key] == value
    assert (result["apiVersion"], result["kind"]) == (HEADER["apiVersion"], HEADER["kind"])


def test_overlay_leaves_the_input_and_unset_fields_alone() -> None:
    doc = {"namespace": "keep", "images": [{"name": "a", "newTag": "1"}]}
    result = overlay(doc, BuildSpec(images=(Image(name="a", new_tag="2"),)))
    assert result["namespace"] == "keep"
    assert doc["images"] == [{"name": "a", "newTag": "1"}]


def test_patches_are_appended_after_existing_ones_with_their_targets() -> None:
    existing = {"patch": "old", "target": {"kind": "Service"}}
    spec = BuildSpec(
        patches=(
            Patch(
                patch="- op: add\n  path: /spec/replicas\n  value: 2\n",
                target=PatchSelector(
                    group="apps", kind="Deployment", name="web.*", label_selector="app=web"
                ),
            ),
            Patch(patch="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"),
        )
    )
    result = overlay({"patches": [existing]}, spec)
    assert result["patches"] == [
        existing,
        {
            "patch": "- op: add\n  path: /spec/replicas\n  value: 2\n",
            "target": {
                "group": "apps",
                "kind": "Deployment",
                "name": "web.*",
                "labelSelector": "app=web",
            },
        },
        {"patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"},
    ]


@pytest.mark.parametrize(
    ("existing", "images", "expected"),
    [
        pytest.param(
            [],
            [Image(name="nginx", new_tag="1.2")],
            [{"name": "nginx", "newTag": "1.2"}],
            id="new-image-appended",
        ),
        pytest.param(
            [{"name": "nginx", "newName": "reg/nginx", "newTag": "1"}],
            [Image(name="nginx", new_tag="2")],
            [{"name": "nginx", "newName": "reg/nginx", "newTag": "2"}],
            id="tag-replaced-name-kept",
        ),
        pytest.param(
            [{"name": "nginx", "newTag": "1"}],
            [Image(name="nginx", new_name="mirror/nginx")],
            [{"name": "nginx", "newTag": "1", "newName": "mirror/nginx"}],
            id="name-replaced-tag-kept",
        ),
        pytest.param(
            [{"name": "nginx", "newTag": "1"}],
            [Image(name="nginx", digest="sha256:abc")],
            [{"name": "nginx", "digest": "sha256:abc"}],
            id="digest-replaces-tag",
        ),
        pytest.param(
            [{"name": "redis", "newTag": "7"}],
            [Image(name="nginx", new_tag="1")],
            [{"name": "redis", "newTag": "7"}, {"name": "nginx", "newTag": "1"}],
            id="other-images-untouched",
        ),
        pytest.param(
            [],
            [
                Image(name="podinfo", new_name="my-registry/podinfo", new_tag="v1"),
                Image(name="podinfo", new_tag="1.8.0"),
                Image(name="podinfo", new_name="my-podinfo"),
                Image(name="podinfo", digest="sha256:24a0c4b4"),
            ],
            [{"name": "podinfo", "newName": "my-podinfo", "digest": "sha256:24a0c4b4"}],
            id="flux-docs-sequence",
        ),
    ],
)
def test_images_merge_by_name(
    existing: list[dict[str, str]], images: list[Image], expected: list[dict[str, str]]
) -> None:
    result = overlay({"images": existing}, BuildSpec(images=tuple(images)))
    assert result["images"] == expected


@pytest.mark.parametrize("component", ["/abs/comp", "https://github.com/x/y", ""])
def test_components_must_be_local_relative_paths(component: str) -> None:
    with pytest.raises(BuildFailed, match=r"spec.components\[0\].*local path"):
        overlay({}, BuildSpec(components=(component,)))


def test_missing_component_fails_unless_ignored(tmp_path: Path) -> None:
    write(tmp_path / "tls" / "kustomization.yaml", "kind: Component\n")
    spec = BuildSpec(components=("tls", "nope"))
    with pytest.raises(BuildFailed, match=r"spec.components\[1\]: 'nope' not found"):
        overlay({}, spec, directory=tmp_path)
    ignoring = BuildSpec(components=("tls", "nope"), ignore_missing_components=True)
    assert overlay({}, ignoring, directory=tmp_path)["components"] == ["tls"]


def test_generation_lists_yaml_files_and_kustomization_dirs_in_walk_order(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", CONFIGMAP.format(name="b"))
    write(tmp_path / "a" / "z.yml", CONFIGMAP.format(name="z"))
    write(tmp_path / "a" / "deep" / "d.yaml", CONFIGMAP.format(name="d"))
    write(tmp_path / "base" / "kustomization.yaml", "resources: [x.yaml]\n")
    write(tmp_path / "base" / "x.yaml", "not: [valid")  # not descended, so never read
    write(tmp_path / "README.md", "# docs")
    write(tmp_path / "empty.yaml", "# only a comment\n")
    assert generate_kustomization(tmp_path, root=tmp_path) == {
        **HEADER,
        "resources": ["./a/deep/d.yaml", "./a/z.yml", "./b.yaml", "./base", "./empty.yaml"],
    }


def test_generation_of_an_empty_dir_is_an_empty_kustomization(tmp_path: Path) -> None:
    doc = generate_kustomization(tmp_path, root=tmp_path)
    assert doc == HEADER
    assert is_empty_kustomization(doc)
    assert not is_empty_kustomization({**doc, "namespace": "apps"})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n", "line 5"),
        ("- just\n- a list\n", "document 1 is a list"),
        (CONFIGMAP.format(name="a") + "---\nplain string\n", "document 2 is a str"),
    ],
)
def test_generation_names_a_file_that_is_not_kubernetes_yaml(
    tmp_path: Path, text: str, match: str
) -> None:
    write(tmp_path / "ok.yaml", CONFIGMAP.format(name="ok"))
    write(tmp_path / "apps" / "broken.yaml", text)
    with pytest.raises(BuildFailed, match=match) as caught:
        generate_kustomization(tmp_path / "apps", root=tmp_path)
    assert "failed to decode Kubernetes YAML from apps/broken.yaml" in str(caught.value)
    assert caught.value.file == "apps/broken.yaml"


def test_generation_refuses_a_yaml_symlink_leaving_the_root(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside.yaml", CONFIGMAP.format(name="secret"))
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "leak.yaml")
    with pytest.raises(BuildFailed, match=r"leak.yaml: symlink points outside the artifact root"):
        generate_kustomization(root, root=root)


def test_existing_kustomization_keeps_its_fields_and_file_name(tmp_path: Path) -> None:
    write(tmp_path / "Kustomization", "resources: [a.yaml]\ncommonLabels: {x: y}\n")
    name, doc = prepare_kustomization(tmp_path, tmp_path, BuildSpec(target_namespace="ns"))
    assert name == "Kustomization"
    assert doc == {**HEADER, "resources": ["a.yaml"], "commonLabels": {"x": "y"}, "namespace": "ns"}


def test_a_kustomization_file_symlinked_outside_the_root_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "kustomization.yaml", "resources: [/etc/passwd]\n")
    root = tmp_path / "root"
    (root / "apps").mkdir(parents=True)
    os.symlink(outside, root / "apps" / "kustomization.yaml")
    with pytest.raises(BuildFailed, match=r"apps/kustomization.yaml: symlink points outside"):
        prepare_kustomization(root, root / "apps", BuildSpec())


def test_an_empty_kustomization_file_loads_as_empty(tmp_path: Path) -> None:
    assert load_kustomization(write(tmp_path / "kustomization.yaml", ""), root=tmp_path) == HEADER


def test_a_kustomization_that_is_not_a_mapping_is_named(tmp_path: Path) -> None:
    file = write(tmp_path / "apps" / "kustomization.yaml", "- a\n")
    with pytest.raises(BuildFailed, match=r"apps/kustomization.yaml: expected one YAML mapping"):
        load_kustomization(file, root=tmp_path)


def test_rendered_kustomization_round_trips() -> None:
    doc = overlay({"resources": ["a.yaml"]}, BuildSpec(patches=(Patch(patch="a: 1\nb: 2\n"),)))
    assert yaml.safe_load(render_kustomization(doc)) == doc


@pytest.mark.parametrize(
    ("kustomization", "match"),
    [
        ("resources: [../../etc]\n", r"resources entry '../../etc' resolves outside"),
        ("patches:\n- path: ../../../x.yaml\n", r"patches\[0\].path entry .* resolves outside"),
        (
            "configMapGenerator:\n- name: c\n  files: [key=../../../etc/passwd]\n",
            r"configMapGenerator\[0\].files entry '../../../etc/passwd' resolves outside",
        ),
        ("resources: [leak/s.yaml]\n", r"resources entry 'leak/s.yaml' resolves outside"),
        ("resources: [https://github.com/a/b]\n", r"remote reference, which is not allowed"),
        ("resources: [file:///etc]\n", r"remote reference, which is never allowed"),
        ("resources: [nested]\n", r"apps/nested/kustomization.yaml: crds entry .* outside"),
        ("resources: [nothere.yaml]\n", r"resources entry 'nothere.yaml' not found"),
    ],
)
def test_references_leaving_the_root_are_refused(
    tmp_path: Path, kustomization: str, match: str
) -> None:
    outside = tmp_path / "outside"
    write(outside / "s.yaml", CONFIGMAP.format(name="s"))
    root = tmp_path / "root"
    apps = root / "apps"
    write(apps / "nested" / "kustomization.yaml", "crds: [../../../outside/s.yaml]\n")
    os.symlink(outside, apps / "leak")
    doc = load_kustomization(write(apps / "kustomization.yaml", kustomization), root=root)
    with pytest.raises(BuildFailed, match=match):
        check_references(root, apps, doc)


def test_references_inside_the_root_pass(tmp_path: Path) -> None:
    write(tmp_path / "base" / "kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path / "base" / "cm.yaml", CONFIGMAP.format(name="cm"))
    write(tmp_path / "apps" / "p.yaml", "kind: ConfigMap\n")
    doc = {
        "resources": ["../base"],
        "patches": [{"path": "p.yaml"}],
        "patchesStrategicMerge": ["apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"],
    }
    check_references(tmp_path, tmp_path / "apps", doc)
    check_references(tmp_path, tmp_path / "apps", {"resources": ["https://x/y"]}, allow_remote=True)


def test_spec_fields_are_read_from_a_flux_kustomization_spec() -> None:
    spec = BuildSpec.from_spec(
        {
            "path": "./apps",
            "targetNamespace": "apps",
            "namePrefix": "p-",
            "patches": [{"patch": "x", "target": {"kind": "Deployment", "labelSelector": "a=b"}}],
            "images": [{"name": "nginx", "newTag": "1", "digest": "sha256:x"}],
            "components": ["../c"],
            "ignoreMissingComponents": True,
            "commonMetadata": {"labels": {"team": "a"}, "annotations": {"note": "n"}},
        }
    )
    assert spec == BuildSpec(
        target_namespace="apps",
        name_prefix="p-",
        patches=(Patch(patch="x", target=PatchSelector(kind="Deployment", label_selector="a=b")),),
        images=(Image(name="nginx", new_tag="1", digest="sha256:x"),),
        components=("../c",),
        ignore_missing_components=True,
        common_labels={"team": "a"},
        common_annotations={"note": "n"},
    )
    assert BuildSpec.from_spec({}) == BuildSpec()
