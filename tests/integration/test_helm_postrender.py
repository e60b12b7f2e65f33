"""HelmRelease postRenderers and commonMetadata, run by the pinned Helm 4 through sluice's plugin.

A chart packaged here (a ConfigMap, a Deployment, a pre-install hook and a
test hook) is rendered with ``helm template`` (no cluster needed) and
installed and upgraded on a sandbox cluster that runs workloads, through
``services.helm.helm.Helm`` with a :class:`~services.helm.postrender.PostRender`
built from a HelmRelease document as the helm service builds it. What the
post-renderers did is checked on the cluster and in ``helm get manifest``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from services.helm.actionoptions import InstallOptions, UpgradeOptions
from services.helm.helm import Helm, HelmError, ReleaseRef
from services.helm.postrender import PostRender
from services.helm.postrender_main import RenderSpec
from services.helm.release_state import HelmStatus
from shared.api.helmrelease import parse_helmrelease
from shared.sandbox import ClusterInfo
from shared.yaml import load_all
from tests.helmcharts import (
    LIMITS,
    ROLLOUT,
    WEBAPP,
    HelmCli,
    make_chart,
)

_PRE_INSTALL = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-pre
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
data: {}
"""

REPLICAS_AND_LABEL = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-web
  labels:
    patched-by: strategic-merge
spec:
  replicas: {replicas}
"""

ADD_GREETING = '[{"op": "add", "path": "/data/farewell", "value": "bye"}]'


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """``helm package`` of a chart "webapp" 0.1.0: a ConfigMap, a Deployment and two hooks."""
    return make_chart(tmp_path, {**WEBAPP, "templates/pre-install.yaml": _PRE_INSTALL})


def post_render(namespace: str, **spec: Any) -> PostRender:
    """The PostRender of a HelmRelease "webapp" in ``namespace`` with ``spec``."""
    release = parse_helmrelease(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "webapp", "namespace": namespace},
            "spec": {
                "interval": "5m",
                "chart": {
                    "spec": {
                        "chart": "webapp",
                        "sourceRef": {"kind": "HelmRepository", "name": "r"},
                    }
                },
                **spec,
            },
        }
    )
    return PostRender.of(release)


def everything(replicas: int) -> dict[str, Any]:
    """A spec with a strategic-merge patch, a JSON 6902 patch, an image and commonMetadata."""
    return {
        "postRenderers": [
            {
                "kustomize": {
                    "patches": [
                        {"patch": REPLICAS_AND_LABEL.format(replicas=replicas)},
                        {
                            "patch": ADD_GREETING,
                            "target": {"kind": "ConfigMap", "name": "web-settings"},
                        },
                    ],
                    "images": [
                        {"name": "nginx", "newName": "mirror.example/nginx", "newTag": "1.28"}
                    ],
                }
            }
        ],
        "commonMetadata": {"labels": {"team": "payments"}, "annotations": {"owner": "ops@example"}},
    }


def by_name(manifest: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in load_all(manifest, source="manifest") if doc}


def template(chart: Path, post: PostRender, home: Path) -> dict[str, dict[str, Any]]:
    """``helm template`` of ``chart`` with ``post`` installed into the helm home ``home``."""
    plugin = post.install(home, limits=LIMITS)
    return by_name(
        HelmCli(None, home, timeout=120).output("template", "web", str(chart), *plugin.flags)
    )


# -- helm template: what Helm 4 hands the post-renderer --------------------------------


def test_hooks_and_test_hooks_are_post_rendered_with_the_templates(
    chart: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)

    rendered = template(chart, post_render("apps", **everything(replicas=3)), home)

    assert set(rendered) == {"web-settings", "web-web", "web-pre", "web-smoke"}
    for doc in rendered.values():
        labels = doc["metadata"]["labels"]
        assert labels["team"] == "payments"
        assert labels["helm.toolkit.fluxcd.io/name"] == "webapp"
        assert labels["helm.toolkit.fluxcd.io/namespace"] == "apps"
        assert doc["metadata"]["annotations"]["owner"] == "ops@example"
        # Helm's bookkeeping annotation went through kustomize and was taken off again.
        assert "postrenderer.helm.sh/postrender-filename" not in doc["metadata"]["annotations"]
    assert (
        rendered["web-pre"]["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    )
    assert rendered["web-smoke"]["metadata"]["annotations"]["helm.sh/hook"] == "test"
    # Only the objects' own metadata: selectors and pod templates keep their labels.
    deployment = rendered["web-web"]
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web-web"}}
    assert deployment["spec"]["template"]["metadata"] == {"labels": {"app": "web-web"}}


def test_renderers_run_in_order_each_on_what_the_one_before_made(
    chart: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    relabel = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n  labels: {stage: one}\n"
    )
    # The second renderer selects by the label the first one set.
    post = post_render(
        "apps",
        postRenderers=[
            {"kustomize": {"patches": [{"patch": relabel}]}},
            {
                "kustomize": {
                    "patches": [{"patch": ADD_GREETING, "target": {"labelSelector": "stage=one"}}]
                }
            },
        ],
    )

    rendered = template(chart, post, home)

    assert rendered["web-settings"]["data"] == {"greeting": "hello", "farewell": "bye"}
    assert "farewell" not in (rendered["web-pre"].get("data") or {})


def test_a_chart_that_renders_nothing_is_not_an_error(tmp_path: Path) -> None:
    empty = make_chart(
        tmp_path, {"templates/nothing.yaml": "{{- if .Values.never }}\nkind: X\n{{- end }}\n"}
    )
    home = tmp_path / "home"
    home.mkdir(mode=0o700)

    rendered = template(empty, post_render("apps"), home)

    assert rendered == {}


def test_the_plugin_command_reports_a_failure_on_stderr_and_beside_its_spec(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    plugin = post_render("apps").install(home, limits=LIMITS)
    assert plugin.directory is not None
    spec_file = plugin.directory / "spec.json"
    spec = RenderSpec.from_json(spec_file.read_bytes())
    spec_file.write_bytes(replace(spec, kustomize=str(tmp_path / "no-kustomize")).to_json())

    # As Helm runs it: the interpreter, the launcher, the spec; the manifest on stdin.
    done = subprocess.run(
        [sys.executable, "-I", str(plugin.directory / "run.py"), str(spec_file)],
        input=b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)},
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert (done.returncode, done.stdout) == (1, b"")
    assert b"cannot run kustomize" in done.stderr
    assert plugin.failure() == done.stderr.decode().strip()


# -- install and upgrade on a cluster --------------------------------------------------


def stored_manifest(cluster: ClusterInfo, ref: ReleaseRef, home: Path) -> dict[str, dict[str, Any]]:
    """``helm get manifest``, as a user would read it."""
    return by_name(HelmCli(cluster.kubeconfig, home, timeout=120).manifest(ref))


@pytest.mark.cluster
def test_install_and_upgrade_apply_the_post_rendered_objects_and_store_them(
    workload_helm: Helm,
    chart: Path,
    workload_cluster: ClusterInfo,
    workload_api: k8s.ApiClient,
    workload_ns: str,
    helm_scratch: Path,
    tmp_path: Path,
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)
    options = InstallOptions(timeout=ROLLOUT)

    installed = workload_helm.install(
        ref,
        chart=chart,
        values={},
        options=options,
        post_renderer=post_render(workload_ns, **everything(3)),
    )

    assert list(helm_scratch.iterdir()) == []  # the plugin and its spec went with the helm home
    assert (installed.version, installed.status) == (1, HelmStatus.DEPLOYED)
    apps, core = k8s.AppsV1Api(workload_api), k8s.CoreV1Api(workload_api)
    deployment = apps.read_namespaced_deployment("web-web", workload_ns)
    assert deployment.spec.replicas == 3
    assert deployment.status.ready_replicas == 3  # helm waited for the patched rollout
    assert deployment.metadata.labels["patched-by"] == "strategic-merge"
    assert [c.image for c in deployment.spec.template.spec.containers] == [
        "mirror.example/nginx:1.28"
    ]
    settings = core.read_namespaced_config_map("web-settings", workload_ns)
    assert settings.data == {"greeting": "hello", "farewell": "bye"}
    hook = core.read_namespaced_config_map("web-pre", workload_ns)
    for meta in (deployment.metadata, settings.metadata, hook.metadata):
        assert meta.labels["team"] == "payments"
        assert meta.labels["helm.toolkit.fluxcd.io/name"] == "webapp"
        assert meta.labels["helm.toolkit.fluxcd.io/namespace"] == workload_ns
        assert meta.annotations["owner"] == "ops@example"
    home = tmp_path / "reader"
    home.mkdir()
    stored = stored_manifest(workload_cluster, ref, home)
    assert set(stored) == {"web-settings", "web-web"}  # hooks are kept apart by Helm
    assert stored["web-web"]["spec"]["replicas"] == 3
    assert stored["web-web"]["metadata"]["labels"]["team"] == "payments"
    assert stored["web-settings"]["data"]["farewell"] == "bye"

    upgraded = workload_helm.upgrade(
        ref,
        chart=chart,
        values={},
        options=UpgradeOptions(timeout=ROLLOUT),
        post_renderer=post_render(workload_ns, **everything(2)),
    )

    assert list(helm_scratch.iterdir()) == []
    assert (upgraded.version, upgraded.status) == (2, HelmStatus.DEPLOYED)
    assert apps.read_namespaced_deployment("web-web", workload_ns).spec.replicas == 2
    assert stored_manifest(workload_cluster, ref, home)["web-web"]["spec"]["replicas"] == 2

    plain = workload_helm.upgrade(
        ref, chart=chart, values={}, options=UpgradeOptions(timeout=ROLLOUT)
    )

    # Without post-renderers the chart's own objects come back.
    assert plain.version == 3
    deployment = apps.read_namespaced_deployment("web-web", workload_ns)
    assert deployment.spec.replicas == 1
    assert [c.image for c in deployment.spec.template.spec.containers] == ["nginx:1.27"]
    assert "team" not in (deployment.metadata.labels or {})


@pytest.mark.cluster
def test_a_patch_that_matches_nothing_fails_the_install_and_says_why(
    workload_helm: Helm, chart: Path, workload_ns: str, helm_scratch: Path
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)
    absent = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nowhere\nspec:\n  replicas: 2\n"
    )
    post = post_render(workload_ns, postRenderers=[{"kustomize": {"patches": [{"patch": absent}]}}])

    with pytest.raises(HelmError) as failed:
        workload_helm.install(
            ref, chart=chart, values={}, options=InstallOptions(timeout=ROLLOUT), post_renderer=post
        )

    message = str(failed.value)
    assert "post render" in message  # Helm's own words
    absent_id = "Deployment.v1.apps/nowhere.[noNs]"
    assert message.endswith(
        f'kustomize post-renderer: no resource matches strategic merge patch "{absent_id}": '
        f"no matches for Id {absent_id}; failed to find unique target for patch {absent_id}"
    )
    assert str(helm_scratch) not in message
    assert list(helm_scratch.iterdir()) == []
    # Helm post-renders before it stores anything: there is no failed revision.
    assert workload_helm.read(ref) is None


@pytest.mark.cluster
def test_a_patch_that_is_not_yaml_fails_the_upgrade_and_keeps_the_release(
    workload_helm: Helm, chart: Path, workload_ns: str, workload_api: k8s.ApiClient
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)
    workload_helm.install(ref, chart=chart, values={}, options=InstallOptions(timeout=ROLLOUT))
    broken = post_render(
        workload_ns, postRenderers=[{"kustomize": {"patches": [{"patch": "kind: [Deployment"}]}}]
    )

    with pytest.raises(HelmError) as failed:
        workload_helm.upgrade(
            ref,
            chart=chart,
            values={},
            options=UpgradeOptions(timeout=ROLLOUT),
            post_renderer=broken,
        )

    assert "unable to parse SM or JSON patch" in str(failed.value)
    release = workload_helm.read(ref)
    assert release is not None
    assert (release.version, release.status) == (1, HelmStatus.DEPLOYED)
    assert (
        k8s.AppsV1Api(workload_api).read_namespaced_deployment("web-web", workload_ns).spec.replicas
        == 1
    )
