"""A HelmRelease's action options and CRD policies, run with the real Helm 4 on a sandbox cluster.

Each test builds the options from a parsed HelmRelease (``services.helm.options``),
runs them through ``services.helm.helm.Helm``, and checks what a user would see on
the cluster: the namespace created, the test hooks run, the objects an orphaning
uninstall leaves, objects adopted or not, the apply method stored, and which
``crds`` policy changed a CRD's schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from services.helm import options
from services.helm.crds import apply_chart_crds
from services.helm.helm import Helm, HelmError, ReleaseRef
from services.helm.release_state import HookPhase, TestHook
from services.helm.remediation import ReleaseAction
from shared.api.helmrelease import HelmRelease, parse_helmrelease
from shared.kube.client import KubeClient
from shared.kube.kubeconfig import client_from_kubeconfig
from shared.kube.owner import Owner
from shared.sandbox import ClusterInfo
from shared.toolrun import ToolLimits
from shared.tools import require_tool
from tests.fixtures.cluster import api_client, create_namespace, delete_namespace

pytestmark = pytest.mark.cluster

# Generous: two shared cores, and the controllers' informers start lazily.
ROLLOUT = 120.0

_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | default "hello" | quote }}
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
"""


def _test_hook(name: str) -> str:
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{{{ .Release.Name }}}}-{name}
  annotations:
    helm.sh/hook: test
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: {name}
          image: busybox:1.36
"""


def _crd(group: str, *, kind: str = "Widget", with_color: bool = False) -> str:
    color = "\n                color: {type: string}" if with_color else ""
    plural = f"{kind.lower()}s"
    return f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}, singular: {kind.lower()}, listKind: {kind}List}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {{type: integer}}{color}
"""


def _widget(group: str) -> str:
    return f"""\
{{{{- if .Values.widget }}}}
apiVersion: {group}/v1
kind: Widget
metadata:
  name: {{{{ .Release.Name }}}}-widget
spec:
  size: 3
{{{{- end }}}}
"""


def package(tmp_path: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """``helm package`` of a chart made of ``files`` (paths under the chart directory)."""
    source = tmp_path / "src" / f"{name}-{version}" / name
    source.mkdir(parents=True)
    (source / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    for path, text in files.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(text)
    done = subprocess.run(
        [str(require_tool("helm")), "package", str(source), "-d", str(tmp_path)],
        env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tmp_path / f"{name}-{version}.tgz"


def hr(namespace: str, **spec: Any) -> HelmRelease:
    return parse_helmrelease(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "interval": "10m",
                "timeout": f"{ROLLOUT:g}s",
                "chart": {
                    "spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "r"}}
                },
                **spec,
            },
        }
    )


def apply_method(cluster: ClusterInfo, ref: ReleaseRef, home: Path) -> str:
    """The stored revision's ``applyMethod`` as ``helm get metadata`` reports it."""
    done = subprocess.run(
        [
            str(require_tool("helm")),
            "get",
            "metadata",
            ref.name,
            "--namespace",
            ref.namespace,
            "-o",
            "json",
            f"--kubeconfig={cluster.kubeconfig}",
        ],
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout).get("applyMethod", ""))


@pytest.fixture
def api(workload_cluster: ClusterInfo) -> Iterator[k8s.ApiClient]:
    with api_client(workload_cluster.kubeconfig) as client:
        yield client


@pytest.fixture
def kube(workload_cluster: ClusterInfo) -> Iterator[KubeClient]:
    client = client_from_kubeconfig(workload_cluster.kubeconfig.read_text())
    yield client
    client.close()


@pytest.fixture
def ns(api: k8s.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    name = create_namespace(api, request.node.name)
    yield name
    delete_namespace(api, name)


@pytest.fixture
def helm(workload_cluster: ClusterInfo, tmp_path: Path) -> Helm:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limits = ToolLimits(memory_bytes=2 << 30, cpu_seconds=300, timeout=ROLLOUT + 60)
    return Helm(workload_cluster.kubeconfig.read_bytes(), limits=limits, scratch=scratch)


def test_create_namespace_installs_into_a_namespace_that_did_not_exist(
    helm: Helm, api: k8s.ApiClient, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/cm.yaml": _CONFIGMAP})
    target = f"created-{uuid.uuid4().hex[:8]}"
    ref = ReleaseRef(name="web", namespace=target)
    try:
        without = hr("apps", targetNamespace=target)
        with pytest.raises(HelmError, match="not found"):
            helm.install(ref, chart=chart, values={}, options=options.install_options(without))

        wanted = hr("apps", targetNamespace=target, install={"createNamespace": True})
        helm.install(ref, chart=chart, values={}, options=options.install_options(wanted))

        made = k8s.CoreV1Api(api).read_namespaced_config_map("web-settings", target)
        assert made.data == {"greeting": "hello"}
    finally:
        delete_namespace(api, target)


def test_test_filters_run_only_the_named_hooks(helm: Helm, ns: str, tmp_path: Path) -> None:
    chart = package(
        tmp_path,
        "web",
        "0.1.0",
        {
            "templates/cm.yaml": _CONFIGMAP,
            "templates/smoke.yaml": _test_hook("smoke"),
            "templates/deep.yaml": _test_hook("deep"),
        },
    )
    ref = ReleaseRef(name="web", namespace=ns)
    helm.install(ref, chart=chart, values={}, options=options.install_options(hr(ns)))

    only = hr(ns, test={"enable": True, "filters": [{"name": "web-smoke"}]})
    tested = helm.test(ref, options=options.test_options(only))
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),)

    # Excluding one runs the others; the hook run before keeps its phase.
    but = hr(ns, test={"enable": True, "filters": [{"name": "web-smoke", "exclude": True}]})
    tested = helm.test(ref, options=options.test_options(but))
    assert set(tested.test_hooks or ()) == {
        TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),
        TestHook(name="web-deep", phase=HookPhase.SUCCEEDED),
    }


def test_orphaning_uninstall_leaves_the_dependents(
    helm: Helm, api: k8s.ApiClient, ns: str, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/deploy.yaml": _DEPLOYMENT})
    ref = ReleaseRef(name="web", namespace=ns)
    helm.install(ref, chart=chart, values={}, options=options.install_options(hr(ns)))
    apps = k8s.AppsV1Api(api)
    (replicaset,) = apps.list_namespaced_replica_set(ns).items  # --wait: rolled out

    orphan = hr(ns, uninstall={"deletionPropagation": "orphan"})
    helm.uninstall(ref, options=options.uninstall_options(orphan))

    assert apps.list_namespaced_deployment(ns).items == []
    left = apps.read_namespaced_replica_set(replicaset.metadata.name, ns)
    assert left.metadata.uid == replicaset.metadata.uid
    assert not left.metadata.owner_references  # orphaned, not deleted


def test_existing_objects_are_adopted_unless_take_ownership_is_disabled(
    helm: Helm, api: k8s.ApiClient, ns: str, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/cm.yaml": _CONFIGMAP})
    core = k8s.CoreV1Api(api)
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="web-settings"), data={"greeting": "x"})
    core.create_namespaced_config_map(ns, body)
    ref = ReleaseRef(name="web", namespace=ns)

    refusing = hr(ns, install={"disableTakeOwnership": True})
    with pytest.raises(HelmError, match="web-settings"):
        helm.install(ref, chart=chart, values={}, options=options.install_options(refusing))
    assert core.read_namespaced_config_map("web-settings", ns).data == {"greeting": "x"}

    helm.uninstall(ref, options=options.uninstall_options(hr(ns)))  # the failed revision
    helm.install(ref, chart=chart, values={}, options=options.install_options(hr(ns)))
    adopted = core.read_namespaced_config_map("web-settings", ns)
    assert adopted.data == {"greeting": "hello"}
    assert adopted.metadata.annotations["meta.helm.sh/release-name"] == "web"


def test_client_side_apply_is_kept_by_auto_and_force_replaces(
    helm: Helm, workload_cluster: ClusterInfo, ns: str, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/cm.yaml": _CONFIGMAP})
    ref = ReleaseRef(name="web", namespace=ns)
    csa = hr(ns, install={"serverSideApply": False}, upgrade={"force": True})
    helm.install(ref, chart=chart, values={}, options=options.install_options(csa))
    assert apply_method(workload_cluster, ref, tmp_path) == "csa"

    # auto: the last revision was client-side, so force replaces (Helm refuses it under SSA).
    upgrade = options.upgrade_options(csa, apply_method="csa")
    assert "--force-replace" in upgrade.flags()
    helm.upgrade(ref, chart=chart, values={"greeting": "hi"}, options=upgrade)
    assert apply_method(workload_cluster, ref, tmp_path) == "csa"

    # enabled: server-side from now on, forcing conflicts as Flux does.
    ssa = hr(ns, upgrade={"serverSideApply": "enabled", "force": True})
    helm.upgrade(
        ref, chart=chart, values={}, options=options.upgrade_options(ssa, apply_method="csa")
    )
    assert apply_method(workload_cluster, ref, tmp_path) == "ssa"

    # Rolling back to revision 1 follows its method: client-side again.
    back = options.rollback_options(hr(ns, rollback={"force": True}), apply_method="csa")
    helm.rollback(ref, to=1, options=back)
    assert apply_method(workload_cluster, ref, tmp_path) == "csa"


def _schema_properties(api: k8s.ApiClient, name: str) -> set[str]:
    crd = k8s.ApiextensionsV1Api(api).read_custom_resource_definition(name)
    spec = crd.spec.versions[0].schema.open_apiv3_schema.properties["spec"]
    return set(spec.properties)


def test_crds_policies_create_skip_and_replace_the_chart_s_crds(
    helm: Helm, kube: KubeClient, api: k8s.ApiClient, ns: str, tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.sluice.test"
    widgets, gadgets = f"widgets.{group}", f"gadgets.{group}"
    templates = {"templates/cm.yaml": _CONFIGMAP, "templates/widget.yaml": _widget(group)}
    v1 = package(tmp_path, "web", "0.1.0", {**templates, "crds/widget.yaml": _crd(group)})
    # The new version changes the Widget schema (spec.color) and brings a Gadget CRD.
    v2 = package(
        tmp_path,
        "web",
        "0.2.0",
        {
            **templates,
            "crds/widget.yaml": _crd(group, with_color=True),
            "crds/gadget.yaml": _crd(group, kind="Gadget"),
        },
    )
    ref = ReleaseRef(name="web", namespace=ns)
    owner = Owner.helm_release("web", ns)
    extensions = k8s.ApiextensionsV1Api(api)

    def present() -> set[str]:
        names = {c.metadata.name for c in extensions.list_custom_resource_definition().items}
        return names & {widgets, gadgets}

    try:
        # Skip on install: helm runs with --skip-crds and nothing else creates them.
        assert apply_chart_crds(kube, v1, policy="Skip", owner=owner) == []
        skipping = hr(ns, install={"crds": "Skip"})
        helm.install(ref, chart=v1, values={}, options=options.install_options(skipping))
        assert present() == set()
        helm.uninstall(ref, options=options.uninstall_options(hr(ns)))

        # Create (the default): created, Established, labelled; the release's Widget applies.
        release = hr(ns, values={"widget": True})
        policy = options.crds_policy(release, ReleaseAction.INSTALL)
        assert apply_chart_crds(kube, v1, policy=policy, owner=owner) == [widgets]
        install = options.install_options(release)
        helm.install(ref, chart=v1, values={"widget": True}, options=install)
        crd = extensions.read_custom_resource_definition(widgets)
        assert crd.metadata.labels["helm.toolkit.fluxcd.io/name"] == "web"
        assert crd.metadata.labels["helm.toolkit.fluxcd.io/namespace"] == ns
        widget = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            group, "v1", ns, "widgets", "web-widget"
        )
        assert widget["spec"] == {"size": 3}

        # Upgrades to v2: Create adds the new CRD only; CreateReplace updates the present one.
        for crds, changed, gone, properties in [
            ("Skip", [], {gadgets}, {"size"}),
            ("Create", [gadgets], set(), {"size"}),
            ("CreateReplace", [widgets], set(), {"size", "color"}),
            ("CreateReplace", [], set(), {"size", "color"}),  # in place already
        ]:
            upgrading = hr(ns, upgrade={"crds": crds})
            policy = options.crds_policy(upgrading, ReleaseAction.UPGRADE)
            assert apply_chart_crds(kube, v2, policy=policy, owner=owner) == changed, crds
            upgrade = options.upgrade_options(upgrading, apply_method="ssa")
            helm.upgrade(ref, chart=v2, values={"widget": True}, options=upgrade)
            assert present() == {widgets, gadgets} - gone, crds
            assert _schema_properties(api, widgets) == properties, crds
    finally:
        for name in present():
            extensions.delete_custom_resource_definition(name)


def test_preserve_values_keeps_the_last_values_under_the_new_and_the_new_chart_defaults(
    helm: Helm, api: k8s.ApiClient, ns: str, tmp_path: Path
) -> None:
    template = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  name: {{ .Values.name | quote }}
  {{- with .Values.added }}
  added: {{ . | quote }}
  {{- end }}
"""
    v1 = package(
        tmp_path,
        "web",
        "0.1.0",
        {"templates/cm.yaml": template, "values.yaml": "greeting: hello\nname: one\n"},
    )
    v2 = package(
        tmp_path,
        "web",
        "0.2.0",
        {"templates/cm.yaml": template, "values.yaml": "greeting: hello\nname: one\nadded: new\n"},
    )
    ref = ReleaseRef(name="web", namespace=ns)
    helm.install(ref, chart=v1, values={"greeting": "hi"}, options=options.install_options(hr(ns)))

    keeping = options.upgrade_options(hr(ns, upgrade={"preserveValues": True}), apply_method="ssa")
    helm.upgrade(ref, chart=v2, values={"name": "two"}, options=keeping)

    data = k8s.CoreV1Api(api).read_namespaced_config_map("web-settings", ns).data
    # The last user values stay under the new ones; the new chart's defaults count.
    assert data == {"greeting": "hi", "name": "two", "added": "new"}
    assert helm.values(ref) == {"greeting": "hi", "name": "two"}

    resetting = options.upgrade_options(hr(ns), apply_method="ssa")
    helm.upgrade(ref, chart=v2, values={"name": "three"}, options=resetting)
    data = k8s.CoreV1Api(api).read_namespaced_config_map("web-settings", ns).data
    assert data == {"greeting": "hello", "name": "three", "added": "new"}
