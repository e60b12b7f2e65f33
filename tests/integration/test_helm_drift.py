"""HelmRelease drift detection and correction against a real Helm 4 release on a sandbox cluster.

A chart is installed with the pinned ``helm``; objects are then changed by
hand through the Kubernetes API, as ``kubectl scale`` / ``edit`` / ``delete``
would; ``services.helm.drift`` must see each change, leave out what the rules
exclude, put the release back with server-side apply, and leave it so that
the next real ``helm upgrade`` goes through without a field-manager conflict.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s

from services.helm.actionoptions import InstallOptions, UpgradeOptions
from services.helm.drift import HELM_FIELD_MANAGER, DriftError, correct, detect
from services.helm.driftreport import DriftReport
from services.helm.fieldchanges import FieldChange, Op
from services.helm.helm import Helm, ReleaseRef
from shared.api.kustomize import IgnoreRule, Selector
from shared.kube.client import KubeClient
from shared.kube.inventory import Action, ChangeSet
from shared.kube.owner import Owner
from shared.sandbox import ClusterInfo
from tests.helmcharts import ROLLOUT, HelmCli, make_chart

pytestmark = pytest.mark.cluster

# Every object carries the owner labels Flux's origin-labels post-renderer adds.
_ORIGIN = """\
    helm.toolkit.fluxcd.io/name: web
    helm.toolkit.fluxcd.io/namespace: {{ .Release.Namespace }}
"""

_TEMPLATES = {
    "deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels:
ORIGIN
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
""",
    "settings.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  labels:
ORIGIN
data:
  greeting: {{ .Values.greeting | quote }}
  {{- with .Values.extra }}
  extra: {{ . | quote }}
  {{- end }}
""",
    "extra.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
  labels:
ORIGIN
data:
  kept: "yes"
""",
    "secret.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-token
  labels:
ORIGIN
stringData:
  token: not-really-secret
""",
    "tuned.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-tuned
  labels:
ORIGIN
  annotations:
    helm.toolkit.fluxcd.io/driftDetection: disabled
data:
  level: "1"
""",
}


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """``helm package`` of "webapp" 0.1.0: a Deployment, a Secret, 3 ConfigMaps (1 opted out)."""
    files = {
        f"templates/{name}": text.replace("ORIGIN\n", _ORIGIN) for name, text in _TEMPLATES.items()
    }
    return make_chart(tmp_path, {"values.yaml": "greeting: hello\nreplicas: 1\n", **files})


def manifest(cluster: ClusterInfo, ref: ReleaseRef, home: Path) -> str:
    """``helm get manifest``: the text Helm stored for the release's newest revision."""
    return HelmCli(cluster.kubeconfig, home / "cli").manifest(ref)


def verdicts(report: DriftReport) -> dict[str, tuple[Action, tuple[FieldChange, ...]]]:
    return {o.ref.name: (o.action, o.changes) for o in report}


def replace(path: str) -> tuple[FieldChange, ...]:
    return (FieldChange(Op.REPLACE, path),)


def scale(api: k8s.ApiClient, ns: str, replicas: int) -> None:
    body = {"spec": {"replicas": replicas}}
    k8s.AppsV1Api(api).patch_namespaced_deployment_scale(
        "web-web", ns, body, field_manager="kubectl-scale"
    )


def edit(api: k8s.ApiClient, ns: str, name: str, data: dict[str, str]) -> None:
    k8s.CoreV1Api(api).patch_namespaced_config_map(
        name, ns, {"data": data}, field_manager="kubectl-edit"
    )


def replicas(api: k8s.ApiClient, ns: str) -> int:
    spec = k8s.AppsV1Api(api).read_namespaced_deployment("web-web", ns).spec
    assert spec is not None and spec.replicas is not None
    return spec.replicas


def data(api: k8s.ApiClient, ns: str, name: str) -> dict[str, str]:
    return dict(k8s.CoreV1Api(api).read_namespaced_config_map(name, ns).data or {})


def drift(
    kube: KubeClient,
    text: str,
    ns: str,
    *,
    ignore: list[IgnoreRule] | None = None,
) -> DriftReport:
    owner = Owner.helm_release("web", ns)
    return detect(kube, text, release="web", namespace=ns, owner=owner, ignore=ignore or [])


def put_right(
    kube: KubeClient,
    text: str,
    ns: str,
    *,
    report: DriftReport,
    field_manager: str = HELM_FIELD_MANAGER,
) -> ChangeSet:
    owner = Owner.helm_release("web", ns)
    return correct(
        kube,
        text,
        release="web",
        namespace=ns,
        owner=owner,
        report=report,
        field_manager=field_manager,
    )


IN_SYNC = {
    "web-settings": (Action.UNCHANGED, ()),
    "web-extra": (Action.UNCHANGED, ()),
    "web-token": (Action.UNCHANGED, ()),  # stringData is compared as the data it becomes
    "web-tuned": (Action.SKIPPED, ()),
    "web-web": (Action.UNCHANGED, ()),
}


def test_drift_is_detected_ignored_excluded_and_corrected_so_helm_upgrades_again(
    workload_helm: Helm,
    chart: Path,
    workload_cluster: ClusterInfo,
    workload_api: k8s.ApiClient,
    workload_kube: KubeClient,
    workload_ns: str,
    tmp_path: Path,
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)
    workload_helm.install(ref, chart=chart, values={}, options=InstallOptions(timeout=ROLLOUT))
    text = manifest(workload_cluster, ref, tmp_path)

    assert verdicts(drift(workload_kube, text, workload_ns)) == IN_SYNC  # right after the install
    someone_else = Owner.helm_release("other", workload_ns)
    with pytest.raises(DriftError, match=r"lack the labels helm\.toolkit\.fluxcd\.io/name=other,"):
        detect(workload_kube, text, release="web", namespace=workload_ns, owner=someone_else)

    # By hand, as kubectl would: scale, edit, delete; annotate (kubectl's own manager).
    scale(workload_api, workload_ns, 3)
    edit(workload_api, workload_ns, "web-settings", {"greeting": "edited by hand"})
    k8s.CoreV1Api(workload_api).delete_namespaced_config_map("web-extra", workload_ns)
    edit(workload_api, workload_ns, "web-tuned", {"by-hand": "yes"})
    note = {"metadata": {"annotations": {"example.com/note": "looked at it"}}}
    k8s.AppsV1Api(workload_api).patch_namespaced_deployment(
        "web-web", workload_ns, note, field_manager="kubectl"
    )

    report = drift(workload_kube, text, workload_ns)
    assert verdicts(report) == {
        "web-settings": (Action.CONFIGURED, replace("/data/greeting")),
        "web-extra": (Action.CREATED, ()),
        "web-token": (Action.UNCHANGED, ()),
        "web-tuned": (Action.SKIPPED, ()),  # annotated driftDetection: disabled in the chart
        "web-web": (Action.CONFIGURED, replace("/spec/replicas")),
    }
    assert report.drifted
    assert sorted(report.summary().splitlines()) == [
        f"ConfigMap/{workload_ns}/web-extra removed",
        f"ConfigMap/{workload_ns}/web-settings changed (0 additions, 1 changes, 0 removals)",
        f"ConfigMap/{workload_ns}/web-tuned excluded",
        f"Deployment/{workload_ns}/web-web changed (0 additions, 1 changes, 0 removals)",
    ]

    # An ignore rule on the replicas hides the scale (the annotation was never drift).
    rule = IgnoreRule(paths=["/spec/replicas"], target=Selector(kind="Deployment"))
    ignoring = drift(workload_kube, text, workload_ns, ignore=[rule])
    assert verdicts(ignoring)["web-web"] == (Action.UNCHANGED, ())
    assert verdicts(ignoring)["web-settings"] == (Action.CONFIGURED, replace("/data/greeting"))

    # The opt-out annotation put on the live object excludes it as well.
    optout = {"metadata": {"annotations": {"helm.toolkit.fluxcd.io/driftDetection": "disabled"}}}
    k8s.CoreV1Api(workload_api).patch_namespaced_config_map("web-settings", workload_ns, optout)
    assert verdicts(drift(workload_kube, text, workload_ns))["web-settings"] == (Action.SKIPPED, ())
    optin = {"metadata": {"annotations": {"helm.toolkit.fluxcd.io/driftDetection": None}}}
    k8s.CoreV1Api(workload_api).patch_namespaced_config_map("web-settings", workload_ns, optin)

    corrected = put_right(workload_kube, text, workload_ns, report=report)

    assert sorted(str(c) for c in corrected) == [
        f"ConfigMap/{workload_ns}/web-extra created",
        f"ConfigMap/{workload_ns}/web-settings configured",
        f"Deployment/{workload_ns}/web-web configured",
    ]
    assert verdicts(drift(workload_kube, text, workload_ns)) == IN_SYNC
    assert replicas(workload_api, workload_ns) == 1
    assert data(workload_api, workload_ns, "web-settings") == {"greeting": "hello"}
    assert data(workload_api, workload_ns, "web-extra") == {"kept": "yes"}
    for name in ("web-extra", "web-settings"):  # still Helm's, as helm ls and uninstall expect
        meta = k8s.CoreV1Api(workload_api).read_namespaced_config_map(name, workload_ns).metadata
        assert meta is not None and meta.labels and meta.annotations
        assert meta.labels["app.kubernetes.io/managed-by"] == "Helm"
        assert meta.annotations["meta.helm.sh/release-name"] == "web"
        assert meta.annotations["meta.helm.sh/release-namespace"] == workload_ns
    assert data(workload_api, workload_ns, "web-tuned") == {
        "level": "1",
        "by-hand": "yes",
    }  # excluded: left as is

    # Helm changes the corrected fields again without a conflict.
    values = {"greeting": "bonjour", "replicas": 2}
    upgraded = workload_helm.upgrade(
        ref, chart=chart, values=values, options=UpgradeOptions(timeout=ROLLOUT)
    )
    assert upgraded.version == 2
    assert replicas(workload_api, workload_ns) == 2
    assert data(workload_api, workload_ns, "web-settings") == {"greeting": "bonjour"}
    text = manifest(workload_cluster, ref, tmp_path)
    assert verdicts(drift(workload_kube, text, workload_ns)) == IN_SYNC


@pytest.mark.parametrize(
    ("field_manager", "left"), [(HELM_FIELD_MANAGER, {}), ("helm-controller", {"extra": "on"})]
)
def test_a_value_the_chart_drops_after_a_correction_is_gone_only_if_helms_manager_corrected(
    workload_helm: Helm,
    chart: Path,
    workload_cluster: ClusterInfo,
    workload_api: k8s.ApiClient,
    workload_kube: KubeClient,
    workload_ns: str,
    tmp_path: Path,
    field_manager: str,
    left: dict[str, str],
) -> None:
    # Helm 4's CLI applies as "helm", not as Flux's "helm-controller": a correction under
    # another manager co-owns every field it applied, and Helm can no longer remove them.
    ref = ReleaseRef(name="web", namespace=workload_ns)
    workload_helm.install(
        ref, chart=chart, values={"extra": "on"}, options=InstallOptions(timeout=ROLLOUT)
    )
    text = manifest(workload_cluster, ref, tmp_path)
    edit(workload_api, workload_ns, "web-settings", {"greeting": "edited by hand"})
    report = drift(workload_kube, text, workload_ns)
    assert [o.ref.name for o in report.changed] == ["web-settings"]

    put_right(workload_kube, text, workload_ns, report=report, field_manager=field_manager)
    assert data(workload_api, workload_ns, "web-settings") == {"greeting": "hello", "extra": "on"}

    workload_helm.upgrade(ref, chart=chart, values={}, options=UpgradeOptions(timeout=ROLLOUT))
    assert data(workload_api, workload_ns, "web-settings") == {"greeting": "hello", **left}
