"""A HelmRelease's action options and CRD policies, run with the real Helm 4 on a sandbox cluster.

Each test builds the options from a parsed HelmRelease (``services.helm.options``),
runs them through ``services.helm.helm.Helm``, and checks what a user would see on
the cluster: the namespace created, the test hooks run, the objects an orphaning
uninstall leaves, objects adopted or not, the apply method stored, and which
``crds`` policy changed a CRD's schema.
"""

from __future__ import annotations

import uuid
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
from shared.kube.owner import Owner
from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import delete_namespace
from tests.helmcharts import (
    CONFIGMAP,
    DEPLOYMENT,
    ROLLOUT,
    HelmCli,
    chart_yaml,
    crd_yaml,
    hook_job,
    make_chart,
)

pytestmark = pytest.mark.cluster


# The Widget schema of the chart's next version: a spec.color beside the size.
COLORED = {"size": "integer", "color": "string"}


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
    return make_chart(tmp_path, {"Chart.yaml": chart_yaml(name, version), **files})


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
    return str(HelmCli(cluster.kubeconfig, home / "cli").metadata(ref).get("applyMethod", ""))


def test_create_namespace_installs_into_a_namespace_that_did_not_exist(
    workload_helm: Helm, workload_api: k8s.ApiClient, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/cm.yaml": CONFIGMAP})
    target = f"created-{uuid.uuid4().hex[:8]}"
    ref = ReleaseRef(name="web", namespace=target)
    try:
        without = hr("apps", targetNamespace=target)
        with pytest.raises(HelmError, match="not found"):
            workload_helm.install(
                ref, chart=chart, values={}, options=options.install_options(without)
            )

        wanted = hr("apps", targetNamespace=target, install={"createNamespace": True})
        workload_helm.install(ref, chart=chart, values={}, options=options.install_options(wanted))

        made = k8s.CoreV1Api(workload_api).read_namespaced_config_map("web-settings", target)
        assert made.data == {"greeting": "hello"}
    finally:
        delete_namespace(workload_api, target)


def test_test_filters_run_only_the_named_hooks(
    workload_helm: Helm, workload_ns: str, tmp_path: Path
) -> None:
    chart = package(
        tmp_path,
        "web",
        "0.1.0",
        {
            "templates/cm.yaml": CONFIGMAP,
            "templates/smoke.yaml": hook_job("smoke"),
            "templates/deep.yaml": hook_job("deep"),
        },
    )
    ref = ReleaseRef(name="web", namespace=workload_ns)
    workload_helm.install(
        ref, chart=chart, values={}, options=options.install_options(hr(workload_ns))
    )

    only = hr(workload_ns, test={"enable": True, "filters": [{"name": "web-smoke"}]})
    tested = workload_helm.test(ref, options=options.test_options(only))
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),)

    # Excluding one runs the others; the hook run before keeps its phase.
    but = hr(
        workload_ns, test={"enable": True, "filters": [{"name": "web-smoke", "exclude": True}]}
    )
    tested = workload_helm.test(ref, options=options.test_options(but))
    assert set(tested.test_hooks or ()) == {
        TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),
        TestHook(name="web-deep", phase=HookPhase.SUCCEEDED),
    }


def test_orphaning_uninstall_leaves_the_dependents(
    workload_helm: Helm, workload_api: k8s.ApiClient, workload_ns: str, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/deploy.yaml": DEPLOYMENT})
    ref = ReleaseRef(name="web", namespace=workload_ns)
    workload_helm.install(
        ref, chart=chart, values={}, options=options.install_options(hr(workload_ns))
    )
    apps = k8s.AppsV1Api(workload_api)
    (replicaset,) = apps.list_namespaced_replica_set(workload_ns).items  # --wait: rolled out

    orphan = hr(workload_ns, uninstall={"deletionPropagation": "orphan"})
    workload_helm.uninstall(ref, options=options.uninstall_options(orphan))

    assert apps.list_namespaced_deployment(workload_ns).items == []
    left = apps.read_namespaced_replica_set(replicaset.metadata.name, workload_ns)
    assert left.metadata.uid == replicaset.metadata.uid
    assert not left.metadata.owner_references  # orphaned, not deleted


def test_existing_objects_are_adopted_unless_take_ownership_is_disabled(
    workload_helm: Helm, workload_api: k8s.ApiClient, workload_ns: str, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/cm.yaml": CONFIGMAP})
    core = k8s.CoreV1Api(workload_api)
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="web-settings"), data={"greeting": "x"})
    core.create_namespaced_config_map(workload_ns, body)
    ref = ReleaseRef(name="web", namespace=workload_ns)

    refusing = hr(workload_ns, install={"disableTakeOwnership": True})
    with pytest.raises(HelmError, match="web-settings"):
        workload_helm.install(
            ref, chart=chart, values={}, options=options.install_options(refusing)
        )
    assert core.read_namespaced_config_map("web-settings", workload_ns).data == {"greeting": "x"}

    workload_helm.uninstall(
        ref, options=options.uninstall_options(hr(workload_ns))
    )  # the failed revision
    workload_helm.install(
        ref, chart=chart, values={}, options=options.install_options(hr(workload_ns))
    )
    adopted = core.read_namespaced_config_map("web-settings", workload_ns)
    assert adopted.data == {"greeting": "hello"}
    assert adopted.metadata.annotations["meta.helm.sh/release-name"] == "web"


def test_client_side_apply_is_kept_by_auto_and_force_replaces(
    workload_helm: Helm, workload_cluster: ClusterInfo, workload_ns: str, tmp_path: Path
) -> None:
    chart = package(tmp_path, "web", "0.1.0", {"templates/cm.yaml": CONFIGMAP})
    ref = ReleaseRef(name="web", namespace=workload_ns)
    csa = hr(workload_ns, install={"serverSideApply": False}, upgrade={"force": True})
    workload_helm.install(ref, chart=chart, values={}, options=options.install_options(csa))
    assert apply_method(workload_cluster, ref, tmp_path) == "csa"

    # auto: the last revision was client-side, so force replaces (Helm refuses it under SSA).
    upgrade = options.upgrade_options(csa, apply_method="csa")
    assert "--force-replace" in upgrade.flags()
    workload_helm.upgrade(ref, chart=chart, values={"greeting": "hi"}, options=upgrade)
    assert apply_method(workload_cluster, ref, tmp_path) == "csa"

    # enabled: server-side from now on, forcing conflicts as Flux does.
    ssa = hr(workload_ns, upgrade={"serverSideApply": "enabled", "force": True})
    workload_helm.upgrade(
        ref, chart=chart, values={}, options=options.upgrade_options(ssa, apply_method="csa")
    )
    assert apply_method(workload_cluster, ref, tmp_path) == "ssa"

    # Rolling back to revision 1 follows its method: client-side again.
    back = options.rollback_options(hr(workload_ns, rollback={"force": True}), apply_method="csa")
    workload_helm.rollback(ref, to=1, options=back)
    assert apply_method(workload_cluster, ref, tmp_path) == "csa"


def _schema_properties(api: k8s.ApiClient, name: str) -> set[str]:
    crd = k8s.ApiextensionsV1Api(api).read_custom_resource_definition(name)
    spec = crd.spec.versions[0].schema.open_apiv3_schema.properties["spec"]
    return set(spec.properties)


def test_crds_policies_create_skip_and_replace_the_chart_s_crds(
    workload_helm: Helm,
    workload_kube: KubeClient,
    workload_api: k8s.ApiClient,
    workload_ns: str,
    tmp_path: Path,
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.sluice.test"
    widgets, gadgets = f"widgets.{group}", f"gadgets.{group}"
    templates = {"templates/cm.yaml": CONFIGMAP, "templates/widget.yaml": _widget(group)}
    v1 = package(
        tmp_path, "web", "0.1.0", {**templates, "crds/widget.yaml": crd_yaml("Widget", group)}
    )
    # The new version changes the Widget schema (spec.color) and brings a Gadget CRD.
    v2 = package(
        tmp_path,
        "web",
        "0.2.0",
        {
            **templates,
            "crds/widget.yaml": crd_yaml("Widget", group, properties=COLORED),
            "crds/gadget.yaml": crd_yaml("Gadget", group),
        },
    )
    ref = ReleaseRef(name="web", namespace=workload_ns)
    owner = Owner.helm_release("web", workload_ns)
    extensions = k8s.ApiextensionsV1Api(workload_api)

    def present() -> set[str]:
        names = {c.metadata.name for c in extensions.list_custom_resource_definition().items}
        return names & {widgets, gadgets}

    try:
        # Skip on install: helm runs with --skip-crds and nothing else creates them.
        assert apply_chart_crds(workload_kube, v1, policy="Skip", owner=owner) == []
        skipping = hr(workload_ns, install={"crds": "Skip"})
        workload_helm.install(ref, chart=v1, values={}, options=options.install_options(skipping))
        assert present() == set()
        workload_helm.uninstall(ref, options=options.uninstall_options(hr(workload_ns)))

        # Create (the default): created, Established, labelled; the release's Widget applies.
        release = hr(workload_ns, values={"widget": True})
        policy = options.crds_policy(release, ReleaseAction.INSTALL)
        assert apply_chart_crds(workload_kube, v1, policy=policy, owner=owner) == [widgets]
        install = options.install_options(release)
        workload_helm.install(ref, chart=v1, values={"widget": True}, options=install)
        crd = extensions.read_custom_resource_definition(widgets)
        assert crd.metadata.labels["helm.toolkit.fluxcd.io/name"] == "web"
        assert crd.metadata.labels["helm.toolkit.fluxcd.io/namespace"] == workload_ns
        widget = k8s.CustomObjectsApi(workload_api).get_namespaced_custom_object(
            group, "v1", workload_ns, "widgets", "web-widget"
        )
        assert widget["spec"] == {"size": 3}

        # Upgrades to v2: Create adds the new CRD only; CreateReplace updates the present one.
        for crds, changed, gone, properties in [
            ("Skip", [], {gadgets}, {"size"}),
            ("Create", [gadgets], set(), {"size"}),
            ("CreateReplace", [widgets], set(), {"size", "color"}),
            ("CreateReplace", [], set(), {"size", "color"}),  # in place already
        ]:
            upgrading = hr(workload_ns, upgrade={"crds": crds})
            policy = options.crds_policy(upgrading, ReleaseAction.UPGRADE)
            assert apply_chart_crds(workload_kube, v2, policy=policy, owner=owner) == changed, crds
            upgrade = options.upgrade_options(upgrading, apply_method="ssa")
            workload_helm.upgrade(ref, chart=v2, values={"widget": True}, options=upgrade)
            assert present() == {widgets, gadgets} - gone, crds
            assert _schema_properties(workload_api, widgets) == properties, crds
    finally:
        for name in present():
            extensions.delete_custom_resource_definition(name)


def test_preserve_values_keeps_the_last_values_under_the_new_and_the_new_chart_defaults(
    workload_helm: Helm,
    workload_cluster: ClusterInfo,
    workload_api: k8s.ApiClient,
    workload_ns: str,
    tmp_path: Path,
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
    ref = ReleaseRef(name="web", namespace=workload_ns)
    workload_helm.install(
        ref, chart=v1, values={"greeting": "hi"}, options=options.install_options(hr(workload_ns))
    )

    keeping = options.upgrade_options(
        hr(workload_ns, upgrade={"preserveValues": True}), apply_method="ssa"
    )
    workload_helm.upgrade(ref, chart=v2, values={"name": "two"}, options=keeping)

    data = k8s.CoreV1Api(workload_api).read_namespaced_config_map("web-settings", workload_ns).data
    # The last user values stay under the new ones; the new chart's defaults count.
    assert data == {"greeting": "hi", "name": "two", "added": "new"}
    # The user values Helm stored, as ``helm get values`` reports them.
    assert HelmCli(workload_cluster.kubeconfig, tmp_path / "cli").values(ref) == {
        "greeting": "hi",
        "name": "two",
    }

    resetting = options.upgrade_options(hr(workload_ns), apply_method="ssa")
    workload_helm.upgrade(ref, chart=v2, values={"name": "three"}, options=resetting)
    data = k8s.CoreV1Api(workload_api).read_namespaced_config_map("web-settings", workload_ns).data
    assert data == {"greeting": "hello", "name": "three", "added": "new"}
