"""HelmRelease post-renderers as helm-controller builds them, and the Helm 4 plugin sluice writes.

Pure parts only: which renderers a HelmRelease yields and in what order, the
kustomize spelling of its patches and images, the layered kustomizations, and
the plugin files in a helm home. Running them through Helm and kustomize is
tests/integration/test_helm_postrender.py.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from services.helm.postrender import (
    PLUGIN_NAME,
    PostRender,
    PostRenderPlugin,
    PostRenderSetupError,
    origin_labels,
)
from services.helm.postrender_main import RenderSpec, explain, kustomization_layout
from shared.api.helmrelease import HelmRelease, PostRendererKustomize, parse_helmrelease
from shared.api.kustomize import CommonMetadata, Image, Patch, Selector
from shared.toolrun import ToolLimits

LIMITS = ToolLimits(memory_bytes=1 << 30, cpu_seconds=60, timeout=30.0)
DEPLOYMENT_PATCH = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
)


def helmrelease(**spec: Any) -> HelmRelease:
    return parse_helmrelease(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {
                "interval": "5m",
                "chart": {
                    "spec": {
                        "chart": "podinfo",
                        "sourceRef": {"kind": "HelmRepository", "name": "p"},
                    }
                },
                **spec,
            },
        }
    )


def test_a_helmrelease_yields_its_kustomize_blocks_in_order_then_metadata_then_origin() -> None:
    release = helmrelease(
        postRenderers=[
            {"kustomize": {"patches": [{"patch": DEPLOYMENT_PATCH}]}},
            {},  # no kustomize: nothing to run, as in Flux
            {"kustomize": {"images": [{"name": "nginx", "newTag": "1.28"}]}},
        ],
        commonMetadata={
            "labels": {"team": "a", "helm.toolkit.fluxcd.io/name": "mine"},
            "annotations": {"owner": "ops"},
        },
    )

    post = PostRender.of(release)

    assert [len(b.patches) for b in post.kustomize] == [1, 0]
    assert post.kustomize[1].images[0].new_tag == "1.28"
    # The origin labels are set last: they win a collision with commonMetadata.
    assert post.labels == {
        "team": "a",
        "helm.toolkit.fluxcd.io/name": "podinfo",
        "helm.toolkit.fluxcd.io/namespace": "apps",
    }
    assert post.annotations == {"owner": "ops"}


def test_a_helmrelease_without_post_renderers_still_sets_the_origin_labels() -> None:
    post = PostRender.of(helmrelease())

    assert post.kustomize == ()
    assert post.labels == origin_labels(name="podinfo", namespace="apps")
    assert post.annotations == {}
    assert not post.empty


def test_nothing_to_do_writes_no_plugin_and_passes_no_flag(tmp_path: Path) -> None:
    plugin = PostRender().install(tmp_path, limits=LIMITS)

    assert PostRender().empty
    assert plugin == PostRenderPlugin(directory=None)
    assert plugin.flags == []
    assert plugin.failure() is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("patch", "want"),
    [
        (Patch(patch="p"), {"patch": "p"}),
        # An empty target is still a target (Flux's pointer), and matches everything.
        (Patch(patch="p", target=Selector()), {"patch": "p", "target": {}}),
        (
            Patch(
                patch="p",
                target=Selector(
                    kind="Deployment", label_selector="app=web", annotation_selector="a"
                ),
            ),
            {
                "patch": "p",
                "target": {
                    "kind": "Deployment",
                    "labelSelector": "app=web",
                    "annotationSelector": "a",
                },
            },
        ),
    ],
)
def test_patches_are_written_in_kustomizes_spelling(patch: Patch, want: dict[str, Any]) -> None:
    post = PostRender(kustomize=(PostRendererKustomize(patches=[patch]),))

    spec = post.spec(kustomize="/bin/kustomize", limits=LIMITS)

    assert spec.layers == ({"patches": [want], "images": []},)


@pytest.mark.parametrize(
    ("image", "want"),
    [
        (Image(name="nginx", new_tag="1.28"), {"name": "nginx", "newTag": "1.28"}),
        (
            Image(name="nginx", new_name="reg.example/nginx", digest="sha256:abc"),
            {"name": "nginx", "newName": "reg.example/nginx", "digest": "sha256:abc"},
        ),
    ],
)
def test_images_are_written_in_kustomizes_spelling(image: Image, want: dict[str, str]) -> None:
    post = PostRender(kustomize=(PostRendererKustomize(images=[image]),))

    assert post.spec(kustomize="k", limits=LIMITS).layers == ({"patches": [], "images": [want]},)


def kustomization(files: dict[str, bytes], directory: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(files[f"{directory}/kustomization.yaml"])
    return loaded


def test_each_renderer_is_a_layer_over_the_one_before_and_metadata_comes_last() -> None:
    spec = RenderSpec(
        kustomize="k",
        limits=LIMITS,
        layers=({"patches": [{"patch": "a"}]}, {"images": [{"name": "n", "newTag": "t"}]}),
        labels={"team": "a"},
        annotations={"owner": "ops"},
    )

    top, files = kustomization_layout(spec)

    assert top == "metadata"
    assert sorted(files) == [
        "0/kustomization.yaml",
        "1/kustomization.yaml",
        "metadata/annotations.yaml",
        "metadata/kustomization.yaml",
        "metadata/labels.yaml",
    ]
    first, second, last = (kustomization(files, d) for d in ("0", "1", "metadata"))
    assert first["resources"] == ["helm-output.yaml"]
    assert first["patches"] == [{"patch": "a"}]
    assert "images" not in first
    assert second["resources"] == ["../0"]
    assert second["images"] == [{"name": "n", "newTag": "t"}]
    assert last["resources"] == ["../1"]
    assert last["transformers"] == ["labels.yaml", "annotations.yaml"]
    # Flux's kustomizer keeps the input order; only the top kustomization's counts.
    assert last["sortOptions"] == {"order": "fifo"}
    assert "sortOptions" not in first and "sortOptions" not in second


def test_labels_and_annotations_touch_only_the_objects_own_metadata() -> None:
    spec = RenderSpec(kustomize="k", limits=LIMITS, labels={"team": "a"}, annotations={"o": "p"})

    _, files = kustomization_layout(spec)

    labels = json.loads(files["metadata/labels.yaml"])
    annotations = json.loads(files["metadata/annotations.yaml"])
    assert (labels["kind"], labels["labels"]) == ("LabelTransformer", {"team": "a"})
    assert labels["fieldSpecs"] == [{"path": "metadata/labels", "create": True}]
    assert (annotations["kind"], annotations["annotations"]) == (
        "AnnotationsTransformer",
        {"o": "p"},
    )
    assert annotations["fieldSpecs"] == [{"path": "metadata/annotations", "create": True}]
    # No kustomize renderer: layer 0 only lists the manifest.
    assert kustomization(files, "0") == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["helm-output.yaml"],
    }


def test_only_annotations_make_no_label_transformer() -> None:
    spec = RenderSpec(kustomize="k", limits=LIMITS, annotations={"o": "p"})

    _, files = kustomization_layout(spec)

    assert "metadata/labels.yaml" not in files
    assert kustomization(files, "metadata")["transformers"] == ["annotations.yaml"]


def test_kustomize_only_builds_the_last_renderer() -> None:
    spec = RenderSpec(kustomize="k", limits=LIMITS, layers=({"patches": [{"patch": "a"}]},))

    top, files = kustomization_layout(spec)

    assert top == "0"
    assert sorted(files) == ["0/kustomization.yaml"]
    assert kustomization(files, "0")["sortOptions"] == {"order": "fifo"}


def test_the_spec_file_reads_back_as_written() -> None:
    spec = RenderSpec(
        kustomize="/tools/kustomize",
        limits=LIMITS,
        layers=({"patches": [{"patch": "a", "target": {"kind": "Service"}}], "images": []},),
        labels={"a": "b"},
        annotations={"c": "d"},
    )

    assert RenderSpec.from_json(spec.to_json()) == spec


def test_the_plugin_is_written_owner_only_into_helms_data_home(tmp_path: Path) -> None:
    post = PostRender(common_metadata=CommonMetadata(labels={"team": "a"}))

    plugin = post.install(tmp_path, limits=LIMITS)

    assert plugin.directory == tmp_path / "data" / "plugins" / PLUGIN_NAME
    assert plugin.flags == ["--post-renderer", PLUGIN_NAME]
    assert stat.S_IMODE(plugin.directory.stat().st_mode) == 0o700
    files = sorted(p.name for p in plugin.directory.iterdir())
    assert files == ["plugin.yaml", "run.py", "spec.json"]
    for name in files:
        assert stat.S_IMODE((plugin.directory / name).stat().st_mode) == 0o600
    meta = json.loads((plugin.directory / "plugin.yaml").read_text())
    assert (meta["apiVersion"], meta["name"], meta["type"], meta["runtime"]) == (
        "v1",
        PLUGIN_NAME,
        "postrenderer/v1",
        "subprocess",
    )
    command = meta["runtimeConfig"]["platformCommand"][0]
    assert command["args"] == ["-I", "${HELM_PLUGIN_DIR}/run.py", "${HELM_PLUGIN_DIR}/spec.json"]
    spec = RenderSpec.from_json((plugin.directory / "spec.json").read_bytes())
    assert (spec.labels, spec.limits) == ({"team": "a"}, LIMITS)
    assert plugin.failure() is None
    (plugin.directory / "failure").write_text("kustomize post-renderer: no matches\n")
    assert plugin.failure() == "kustomize post-renderer: no matches"


NO_MATCH = (
    'no resource matches strategic merge patch "Deployment.v1.apps/nowhere.[noNs]": '
    "no matches for Id Deployment.v1.apps/nowhere.[noNs]"
)


def nested(layer: str, text: str) -> str:
    """How kustomize 5.8 reports ``text`` met in the kustomization ``../<layer>``."""
    return (
        "accumulating resources: accumulation err='accumulating resources from "
        f"'../{layer}': '{layer}' must resolve to a file': recursed accumulation of path "
        f"'{layer}': {text}"
    )


@pytest.mark.parametrize(
    ("stderr", "top", "renderers", "want"),
    [
        (f"Error: {NO_MATCH}\n", "0", 1, f"kustomize post-renderer: {NO_MATCH}"),
        (
            f"Error: {nested('0', NO_MATCH)}\n",
            "metadata",
            1,
            f"kustomize post-renderer: {NO_MATCH}",
        ),
        (
            f"Error: {nested('1', nested('0', NO_MATCH))}",
            "metadata",
            2,
            f"kustomize post-renderer 1 of 2: {NO_MATCH}",
        ),
        (
            f"Error: {nested('1', NO_MATCH)}",
            "metadata",
            2,
            f"kustomize post-renderer 2 of 2: {NO_MATCH}",
        ),
        (f"Error: {NO_MATCH}", "1", 2, f"kustomize post-renderer 2 of 2: {NO_MATCH}"),
        ("Error: boom", "metadata", 0, "commonMetadata post-renderer: boom"),
        (f"Error: {nested('0', 'bad manifest')}", "metadata", 0, "post-renderer: bad manifest"),
    ],
)
def test_a_kustomize_error_names_the_renderer_without_the_layering(
    stderr: str, top: str, renderers: int, want: str
) -> None:
    assert explain(stderr, top=top, renderers=renderers) == want


def test_a_long_kustomize_error_is_cut() -> None:
    message = explain("Error: " + "x" * 5000, top="0", renderers=1)

    assert len(message) < 1600
    assert message.endswith("…")


def test_an_interpreter_path_helm_would_split_is_refused_before_helm_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.executable", "/opt/my tools/python3")
    post = PostRender(common_metadata=CommonMetadata(labels={"team": "a"}))

    with pytest.raises(PostRenderSetupError, match="without spaces"):
        post.install(tmp_path, limits=LIMITS)
