"""HelmRelease across a fleet and its spec's features, with the real helm on sandbox clusters.

What a Flux user checks is checked: the HelmRelease's conditions and history
(per cluster in ``status.clusters[]`` when it targets several), ``helm list``
on each cluster, the chart's objects on the cluster, and the events sluice
emitted (``sluice events``). The clusters are API-only (objects stored, no
controllers): the charts hold ConfigMaps and CRDs, which helm's wait accepts at
once; a chart with a Deployment is released with ``disableWait``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from shared.api.conditions import get_condition
from shared.fleet.state import FleetState
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.sandbox import ClusterInfo, ControlPlane
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import NAMESPACE, GitOps, flux_yaml, sluice, unique
from tests.helmcharts import HelmCli, chart_yaml, crd_yaml, make_chart
from tests.helpers import eventually
from tests.servers.helmrepo import HelmRepoServer
from tests.servers.registry import OciRegistry
from tests.sources import push_chart

pytestmark = pytest.mark.cluster

ROLLOUT = 120.0
HR_V2 = "helm.toolkit.fluxcd.io/v2"


@pytest.fixture
def fleet_gitops(gitops: GitOps) -> GitOps:
    """``gitops`` with a helm worker (3 at once) and no cluster: each test registers its own."""
    gitops.start_worker("helm", concurrency=3)
    return gitops


def helm_list(cluster: ClusterInfo, namespace: str) -> list[tuple[str, str, str, str]]:
    """``helm list -n namespace`` on the cluster: (name, revision, status, chart) per release."""
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"helm-home-{os.getpid()}"
    listed = HelmCli(cluster.kubeconfig, home).releases(namespace)
    return [(r["name"], r["revision"], r["status"], r["chart"]) for r in listed]


@dataclass(frozen=True)
class Charts:
    """``hello_repository``, serving the charts a test packages in ``workdir`` too."""

    server: HelmRepoServer
    workdir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def add(self, name: str, version: str, files: dict[str, str]) -> None:
        """Package the chart ``name`` ``version`` of ``files`` and serve it."""
        chart = make_chart(self.workdir, {"Chart.yaml": chart_yaml(name, version), **files})
        self.server.add_package(chart)


@pytest.fixture
def charts(hello_repository: HelmRepoServer, tmp_path: Path) -> Charts:
    return Charts(hello_repository, tmp_path)


def repository_yaml(url: str) -> str:
    return flux_yaml("HelmRepository", "charts", f"  interval: 1h\n  url: {url}\n")


def helmrelease_yaml(
    name: str,
    namespace: str,
    *,
    chart: str = "hello",
    version: str = "*",
    install: str = "",
    extra: str = "",
    api_version: str = HR_V2,
) -> str:
    """A HelmRelease of ``chart`` from the HelmRepository "charts", its namespace created.

    ``install``: more lines of spec.install; ``extra``: more spec lines.
    """
    spec = f"""\
  interval: 1h
  targetNamespace: {namespace}
  releaseName: {name}
  install:
    createNamespace: true
{install}  chart:
    spec:
      chart: {chart}
      version: "{version}"
      sourceRef:
        kind: HelmRepository
        name: charts
{extra}"""
    return flux_yaml("HelmRelease", name, spec, api_version=api_version)


def status_of(gitops: GitOps, name: str) -> dict[str, Any]:
    return gitops.get("HelmRelease", name).get("status") or {}


def wait_status(
    gitops: GitOps, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = ROLLOUT
) -> dict[str, Any]:
    """Wait until ``check(status)``; fail with the status and the logs."""
    try:
        return eventually(
            lambda: (lambda s: s if check(s) else None)(status_of(gitops, name)),
            timeout=timeout,
            interval=0.3,
        )
    except AssertionError as exc:
        shown = json.dumps(status_of(gitops, name), indent=1)
        raise AssertionError(f"HelmRelease {name}: {shown}\n{gitops.logs()}") from exc


def released(version: int) -> Callable[[dict[str, Any]], bool]:
    """Ready=True with the newest history entry at Helm revision ``version`` (one target)."""

    def check(status: dict[str, Any]) -> bool:
        ready = get_condition(status, "Ready") or {}
        history = status.get("history") or []
        return ready.get("status") == "True" and bool(history) and history[0]["version"] == version

    return check


def clusters_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in status.get("clusters") or []}


def cluster_ready(entry: dict[str, Any] | None) -> dict[str, Any]:
    return next((c for c in (entry or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def configmap(cluster: ClusterInfo, name: str, namespace: str) -> dict[str, Any] | None:
    with api_client(cluster.kubeconfig) as api:
        try:
            found = k8s.CoreV1Api(api).read_namespaced_config_map(name, namespace)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {"data": found.data or {}, "labels": found.metadata.labels or {}}


def events(gitops: GitOps, name: str) -> str:
    listed = sluice(gitops, "events", "--for", f"HelmRelease/{NAMESPACE}/{name}")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def request(gitops: GitOps, name: str) -> None:
    """What ``flux reconcile helmrelease`` asks for: one more reconcile now."""
    key = ObjectKey("HelmRelease", NAMESPACE, name)
    request_reconcile(gitops.store_client, gitops.workers_app, key, task_name="helm.reconcile")


# -- 1. fan-out ---------------------------------------------------------------


def test_fan_out_to_three_clusters_one_stopped_then_relabelled_then_deleted(
    fleet_gitops: GitOps, charts: Charts, control_plane_3: ControlPlane
) -> None:
    gitops = fleet_gitops
    fleet = unique("fleet")
    clusters = dict(zip(("c1", "c2", "c3"), control_plane_3.cluster_info(), strict=True))
    for cluster_name, info in clusters.items():
        gitops.register_cluster(info, cluster_name, fleet=fleet)
    name = unique("hello")
    target = unique("hr")
    selector = f"  clusterSelector:\n    matchLabels:\n      fleet: {fleet}\n"

    control_plane_3.stop_cluster(2)
    try:
        gitops.apply(
            repository_yaml(charts.url) + "---\n" + helmrelease_yaml(name, target, extra=selector)
        )

        def two_of_three(status: dict[str, Any]) -> bool:
            entries = clusters_of(status)
            states = {n: cluster_ready(entries.get(n)).get("status") for n in clusters}
            ready = get_condition(status, "Ready") or {}
            return states == {"c1": "True", "c2": "False", "c3": "True"} and (
                ready.get("status") == "False" and "c2" in ready.get("message", "")
            )

        status = wait_status(gitops, name, two_of_three)
        for running in ("c1", "c3"):
            assert helm_list(clusters[running], target) == [(name, "1", "deployed", "hello-1.0.0")]
            assert configmap(clusters[running], name, target)["data"] == {"message": "hello"}  # type: ignore[index]
            entry = clusters_of(status)[running]
            assert entry["history"][0]["chartVersion"] == "1.0.0"
            assert entry["history"][0]["status"] == "deployed"
            released_cond = next(c for c in entry["conditions"] if c["type"] == "Released")
            assert released_cond["reason"] == "InstallSucceeded"
        stopped = cluster_ready(clusters_of(status)["c2"])["message"]
        assert "refused" in stopped.lower() or str(clusters["c2"].port) in stopped, stopped
        ready = get_condition(status, "Ready")
        assert ready is not None and "2/3" in ready["message"], ready
        # With several targets, per-cluster fields stay per cluster.
        assert "history" not in status
    finally:
        control_plane_3.start_cluster(2)

    wait_status(
        gitops,
        name,
        lambda s: (
            (get_condition(s, "Ready") or {}).get("status") == "True"
            and all(cluster_ready(e).get("status") == "True" for e in clusters_of(s).values())
            and len(clusters_of(s)) == 3
        ),
    )
    assert helm_list(clusters["c2"], target) == [(name, "1", "deployed", "hello-1.0.0")]

    # An outage of an installed cluster: its run fails and keeps its history, so once
    # back the release is found as made, not adopted by one more upgrade.
    control_plane_3.stop_cluster(2)
    try:
        request(gitops, name)
        status = wait_status(
            gitops, name, lambda s: cluster_ready(clusters_of(s).get("c2")).get("status") == "False"
        )
        assert clusters_of(status)["c2"]["history"][0]["version"] == 1
        # An outage is an expected failure, said plainly (no Python exception name).
        outage = cluster_ready(clusters_of(status)["c2"])["message"]
        assert outage.startswith("Helm release storage: ") and str(clusters["c2"].port) in outage
    finally:
        control_plane_3.start_cluster(2)
    request(gitops, name)
    wait_status(gitops, name, lambda s: (get_condition(s, "Ready") or {}).get("status") == "True")
    assert helm_list(clusters["c2"], target) == [(name, "1", "deployed", "hello-1.0.0")]

    # c3 leaves the selector: its release is uninstalled there, the others stay.
    gitops.register_cluster(clusters["c3"], "c3", fleet="elsewhere")
    status = wait_status(
        gitops,
        name,
        lambda s: (
            sorted(clusters_of(s)) == ["c1", "c2"]
            and (get_condition(s, "Ready") or {}).get("status") == "True"
        ),
    )
    eventually(lambda: helm_list(clusters["c3"], target) == [], timeout=ROLLOUT)
    assert configmap(clusters["c3"], name, target) is None
    assert helm_list(clusters["c1"], target) == [(name, "1", "deployed", "hello-1.0.0")]

    # Deleted while c2 is down: uninstalled on c1 at once, on c2 once it is back;
    # the HelmChart made from spec.chart is gone.
    chart_key = ObjectKey("HelmChart", NAMESPACE, f"{NAMESPACE}-{name}")
    assert gitops.store.get(chart_key) is not None
    control_plane_3.stop_cluster(2)
    try:
        done = sluice(gitops, "delete", "helmrelease", name, "-n", NAMESPACE)
        assert done.returncode == 0, done.stderr
        eventually(lambda: helm_list(clusters["c1"], target) == [], timeout=ROLLOUT)
        eventually(lambda: gitops.store.get(chart_key) is None, timeout=ROLLOUT)
        eventually(lambda: "UninstallFailed" in events(gitops, name), timeout=ROLLOUT)
    finally:
        control_plane_3.start_cluster(2)
    try:
        eventually(lambda: helm_list(clusters["c2"], target) == [], timeout=ROLLOUT)
    except AssertionError as exc:
        raise AssertionError(events(gitops, name) + gitops.logs()) from exc
    assert "UninstallSucceeded" in events(gitops, name)


# -- one cluster: the spec's features ----------------------------------------


@pytest.fixture
def one_cluster(fleet_gitops: GitOps, sandbox_cluster: ClusterInfo) -> GitOps:
    fleet_gitops.register_cluster(sandbox_cluster, "default")
    return fleet_gitops


TWO_KEYS = {
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  message: hello\n  other: kept\n"
    )
}


def tamper(cluster: ClusterInfo, name: str, namespace: str) -> None:
    """Someone edits the release's ConfigMap by hand (another field manager)."""
    with api_client(cluster.kubeconfig) as api:
        k8s.CoreV1Api(api).patch_namespaced_config_map(
            name, namespace, {"data": {"message": "tampered", "other": "tampered"}}
        )


def test_drift_corrected_warned_or_ignored_as_driftdetection_says(
    one_cluster: GitOps, charts: Charts, sandbox_cluster: ClusterInfo
) -> None:
    gitops = one_cluster
    charts.add("twokeys", "1.0.0", TWO_KEYS)
    target = unique("drift")
    enabled, warn, ignored = unique("enabled"), unique("warn"), unique("ignored")
    modes = {
        enabled: "  driftDetection:\n    mode: enabled\n",
        warn: "  driftDetection:\n    mode: warn\n",
        ignored: "  driftDetection:\n    mode: enabled\n    ignore:\n"
        "    - paths: [/data/message]\n      target:\n        kind: ConfigMap\n",
    }
    gitops.apply(
        repository_yaml(charts.url)
        + "".join(
            "---\n" + helmrelease_yaml(n, target, chart="twokeys", extra=extra)
            for n, extra in modes.items()
        )
    )
    for name in modes:
        wait_status(gitops, name, released(1))
        tamper(sandbox_cluster, name, target)
        request(gitops, name)

    # enabled: the cluster is put back, DriftCorrected said so; no new Helm revision.
    eventually(
        lambda: (
            configmap(sandbox_cluster, enabled, target)["data"]  # type: ignore[index]
            == {"message": "hello", "other": "kept"}
        ),
        timeout=ROLLOUT,
    )
    said = eventually(
        lambda: (lambda e: e if "DriftCorrected" in e else None)(events(gitops, enabled)), 30
    )
    assert f"ConfigMap/{target}/{enabled} configured" in said, said
    # An object of the release deleted by hand is created again.
    with api_client(sandbox_cluster.kubeconfig) as api:
        k8s.CoreV1Api(api).delete_namespaced_config_map(enabled, target)
    request(gitops, enabled)
    eventually(lambda: configmap(sandbox_cluster, enabled, target) is not None, timeout=ROLLOUT)
    assert f"ConfigMap/{target}/{enabled} created" in events(gitops, enabled)

    # warn: the change stays, Ready stays True, DriftDetected names what drifted.
    said = eventually(
        lambda: (lambda e: e if "DriftDetected" in e else None)(events(gitops, warn)), 60
    )
    assert f"ConfigMap/{target}/{warn}" in said, said
    assert configmap(sandbox_cluster, warn, target)["data"]["message"] == "tampered"  # type: ignore[index]
    assert (get_condition(status_of(gitops, warn), "Ready") or {}).get("status") == "True"

    # ignore: the ignored path keeps its change, the rest is corrected.
    eventually(
        lambda: (
            configmap(sandbox_cluster, ignored, target)["data"]  # type: ignore[index]
            == {"message": "tampered", "other": "kept"}
        ),
        timeout=ROLLOUT,
    )
    releases = {r[0]: r[1] for r in helm_list(sandbox_cluster, target)}
    assert releases == {enabled: "1", warn: "1", ignored: "1"}


def crd_files(group: str, kind: str, properties: tuple[str, ...]) -> dict[str, str]:
    """A chart whose crds/ holds one CRD of ``kind`` with ``properties``, and a ConfigMap."""
    crd = crd_yaml(kind, group, properties=dict.fromkeys(properties, "string"))
    return {"crds/crd.yaml": crd, **TWO_KEYS}


def crd_properties(cluster: ClusterInfo, name: str) -> list[str] | None:
    """The spec properties of CRD ``name`` on the cluster; None when there is no such CRD."""
    with api_client(cluster.kubeconfig) as api:
        try:
            crd = k8s.ApiextensionsV1Api(api).read_custom_resource_definition(name)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
    schema = crd.spec.versions[0].schema.open_apiv3_schema
    return sorted(schema.properties["spec"].properties)


def test_chart_crds_created_replaced_or_skipped_as_the_crds_policy_says(
    one_cluster: GitOps, charts: Charts, sandbox_cluster: ClusterInfo
) -> None:
    gitops = one_cluster
    group = f"{unique('g')}.example.com"
    kinds = {"crda": "Apple", "crdb": "Berry", "crdc": "Cherry"}
    for chart, kind in kinds.items():
        charts.add(chart, "1.0.0", crd_files(group, kind, ("size",)))
        charts.add(chart, "2.0.0", crd_files(group, kind, ("color", "size")))
    target = unique("crds")
    names = {chart: unique(chart) for chart in kinds}
    policies = {
        "crda": "",  # Create at install and upgrade: Flux's default
        "crdb": "  upgrade:\n    crds: CreateReplace\n",
        "crdc": "",
    }

    def apply(version: str) -> None:
        gitops.apply(
            repository_yaml(charts.url)
            + "".join(
                "---\n"
                + helmrelease_yaml(
                    names[chart],
                    target,
                    chart=chart,
                    version=version,
                    install="    crds: Skip\n" if chart == "crdc" else "",
                    extra=policies[chart],
                )
                for chart in kinds
            )
        )

    apply("1.0.0")
    for chart in kinds:
        wait_status(gitops, names[chart], released(1))
    assert crd_properties(sandbox_cluster, f"apples.{group}") == ["size"]
    assert crd_properties(sandbox_cluster, f"berrys.{group}") == ["size"]
    assert crd_properties(sandbox_cluster, f"cherrys.{group}") is None

    apply("2.0.0")
    for chart in ("crda", "crdb"):
        status = wait_status(gitops, names[chart], released(2))
        assert status["history"][0]["chartVersion"] == "2.0.0"
    assert crd_properties(sandbox_cluster, f"apples.{group}") == ["size"]  # Create: left as is
    assert crd_properties(sandbox_cluster, f"berrys.{group}") == ["color", "size"]


APP = {
    **TWO_KEYS,
    "templates/deploy.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.0
""",
}


def post_renderers(value: str, team: str = "blue") -> str:
    return f"""\
  commonMetadata:
    labels:
      team: {team}
  postRenderers:
  - kustomize:
      patches:
      - target:
          kind: ConfigMap
        patch: |
          - op: add
            path: /data/patched
            value: "{value}"
      images:
      - name: nginx
        newTag: "1.27"
"""


def test_post_renderers_patch_the_release_and_a_change_of_them_alone_upgrades(
    one_cluster: GitOps, charts: Charts, sandbox_cluster: ClusterInfo
) -> None:
    gitops = one_cluster
    charts.add("app", "1.0.0", APP)
    name, target = unique("app"), unique("post")
    # API-only cluster: nothing rolls the Deployment out, so no wait for it.
    no_wait = "  upgrade:\n    disableWait: true\n"

    def apply(value: str, team: str = "blue") -> None:
        gitops.apply(
            repository_yaml(charts.url)
            + "---\n"
            + helmrelease_yaml(
                name,
                target,
                chart="app",
                install="    disableWait: true\n",
                extra=no_wait + post_renderers(value, team),
            )
        )

    apply("one")
    wait_status(gitops, name, released(1))
    found = configmap(sandbox_cluster, name, target)
    assert found is not None
    assert found["data"] == {"message": "hello", "other": "kept", "patched": "one"}
    assert found["labels"]["team"] == "blue"
    assert found["labels"]["helm.toolkit.fluxcd.io/name"] == name
    with api_client(sandbox_cluster.kubeconfig) as api:
        deploy = k8s.AppsV1Api(api).read_namespaced_deployment(name, target)
    assert deploy.spec.template.spec.containers[0].image == "nginx:1.27"
    assert deploy.metadata.labels["team"] == "blue"

    apply("two")  # the chart and values unchanged: only the post-renderers
    status = wait_status(gitops, name, released(2))
    # One cluster: Ready says what Flux's says, the Released condition's words.
    assert get_condition(status, "Released")["reason"] == "UpgradeSucceeded"  # type: ignore[index]
    ready = get_condition(status, "Ready")
    assert ready is not None and ready["reason"] == "UpgradeSucceeded", ready
    assert ready["message"].startswith(f"Helm upgrade succeeded for release {target}/{name}.v2")
    assert configmap(sandbox_cluster, name, target)["data"]["patched"] == "two"  # type: ignore[index]
    assert helm_list(sandbox_cluster, target) == [(name, "2", "deployed", "app-1.0.0")]

    apply("two", team="red")  # only commonMetadata
    wait_status(gitops, name, released(3))
    assert configmap(sandbox_cluster, name, target)["labels"]["team"] == "red"  # type: ignore[index]


def test_v2beta1_and_v2beta2_helmreleases_are_released_like_v2(
    one_cluster: GitOps, charts: Charts, sandbox_cluster: ClusterInfo
) -> None:
    gitops = one_cluster
    files = {
        "values.yaml": "message: default\n",
        "values-prod.yaml": "message: prod\n",
        "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n",
    }
    charts.add("envs", "1.0.0", files)
    target = unique("beta")
    beta1, beta2 = unique("beta1"), unique("beta2")
    # v2beta1's own fields: chart.spec.valuesFile, a strategic-merge post-renderer patch.
    legacy_patch = f"""\
  postRenderers:
  - kustomize:
      patchesStrategicMerge:
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {beta1}
        data:
          legacy: "yes"
"""
    v2beta1 = helmrelease_yaml(
        beta1,
        target,
        chart="envs",
        api_version="helm.toolkit.fluxcd.io/v2beta1",
        extra=legacy_patch,
    ).replace("      sourceRef:", "      valuesFile: values-prod.yaml\n      sourceRef:")
    v2beta2 = helmrelease_yaml(
        beta2,
        target,
        chart="envs",
        api_version="helm.toolkit.fluxcd.io/v2beta2",
        extra="  values:\n    message: inline\n",
    )
    gitops.apply(repository_yaml(charts.url) + "---\n" + v2beta1 + "---\n" + v2beta2)
    for name in (beta1, beta2):
        status = wait_status(gitops, name, released(1))
        assert status["history"][0]["chartName"] == "envs"
    assert configmap(sandbox_cluster, beta1, target)["data"] == {"message": "prod", "legacy": "yes"}  # type: ignore[index]
    assert configmap(sandbox_cluster, beta2, target)["data"] == {"message": "inline"}  # type: ignore[index]
    # A chart packaged with values files carries the HelmChart's generation (Flux: 1.0.0+1).
    assert sorted(helm_list(sandbox_cluster, target)) == sorted(
        [(beta1, "1", "deployed", "envs-1.0.0+1"), (beta2, "1", "deployed", "envs-1.0.0")]
    )
    # The HelmChart made from the v2beta1 template carries valuesFile as valuesFiles.
    made = gitops.get("HelmChart", f"{NAMESPACE}-{beta1}")
    assert made["spec"]["valuesFiles"] == ["values-prod.yaml"]


def test_chart_ref_to_an_oci_repository_and_to_a_helmchart(
    one_cluster: GitOps,
    charts: Charts,
    oci_registry: OciRegistry,
    sandbox_cluster: ClusterInfo,
    tmp_path: Path,
) -> None:
    gitops = one_cluster
    push_chart(
        tmp_path / "push",
        name="ocichart",
        version="0.3.0",
        to=f"oci://{oci_registry.host}/charts",
        values="color: red\n",
    )
    target = unique("ref")
    from_oci, from_chart = unique("oci"), unique("chart")

    def oci_repository(tag: str) -> str:
        return flux_yaml(
            "OCIRepository",
            "ocichart",
            f"""\
  interval: 1h
  url: oci://{oci_registry.host}/charts/ocichart
  ref:
    tag: {tag}
  layerSelector:
    mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    operation: copy
""",
        )

    helm_chart = flux_yaml(
        "HelmChart",
        "hello",
        "  interval: 1h\n  chart: hello\n  version: '1.x'\n"
        "  sourceRef:\n    kind: HelmRepository\n    name: charts\n",
    )

    def by_ref(name: str, kind: str, ref: str) -> str:
        spec = f"""\
  interval: 1h
  targetNamespace: {target}
  install:
    createNamespace: true
  chartRef:
    kind: {kind}
    name: {ref}
"""
        return flux_yaml("HelmRelease", name, spec, api_version=HR_V2)

    gitops.apply(
        repository_yaml(charts.url)
        + "---\n"
        + oci_repository("0.3.0")
        + helm_chart
        + by_ref(from_oci, "OCIRepository", "ocichart")
        + by_ref(from_chart, "HelmChart", "hello")
    )
    oci_status = wait_status(gitops, from_oci, released(1))
    chart_status = wait_status(gitops, from_chart, released(1))
    assert oci_status["history"][0]["chartVersion"] == "0.3.0"
    assert oci_status["lastAttemptedRevision"] == "0.3.0"
    assert chart_status["history"][0]["chartName"] == "hello"
    # Without spec.chart no HelmChart is made: the HelmRelease names none.
    assert "helmChart" not in chart_status
    # No releaseName: Flux names the release <targetNamespace>-<name>.
    oci_release, chart_release = f"{target}-{from_oci}", f"{target}-{from_chart}"
    releases = sorted(helm_list(sandbox_cluster, target))
    assert releases == sorted(
        [
            (oci_release, "1", "deployed", "ocichart-0.3.0"),
            (chart_release, "1", "deployed", "hello-1.0.0"),
        ]
    )
    assert configmap(sandbox_cluster, oci_release, target) is not None
    assert configmap(sandbox_cluster, chart_release, target)["data"] == {"message": "hello"}  # type: ignore[index]

    # A new chart version in the registry, the OCIRepository moved to it: an upgrade.
    push_chart(
        tmp_path / "push",
        name="ocichart",
        version="0.4.0",
        to=f"oci://{oci_registry.host}/charts",
    )
    gitops.apply(oci_repository("0.4.0"))
    oci_status = wait_status(gitops, from_oci, released(2))
    assert oci_status["history"][0]["chartVersion"] == "0.4.0"

    # Deleted: its release goes, the HelmChart it only referred to stays.
    done = sluice(gitops, "delete", "helmrelease", from_chart, "-n", NAMESPACE)
    assert done.returncode == 0, done.stderr
    eventually(
        lambda: [r[0] for r in helm_list(sandbox_cluster, target)] == [oci_release],
        timeout=ROLLOUT,
    )
    assert gitops.store.get(ObjectKey("HelmChart", NAMESPACE, "hello")) is not None


def test_a_suspended_helmrelease_deleted_leaves_its_release(
    one_cluster: GitOps, charts: Charts, sandbox_cluster: ClusterInfo
) -> None:
    gitops = one_cluster
    name, target = unique("kept"), unique("suspend")
    gitops.apply(repository_yaml(charts.url) + "---\n" + helmrelease_yaml(name, target))
    wait_status(gitops, name, released(1))
    gitops.apply(helmrelease_yaml(name, target, extra="  suspend: true\n"))
    key = ObjectKey("HelmRelease", NAMESPACE, name)
    state = FleetState(gitops.store_client, service="helm")

    def kept() -> bool:
        desired = state.desired(key)
        return desired is not None and desired.deletion == "keep"

    eventually(kept, timeout=60)  # the suspension is recorded
    done = sluice(gitops, "delete", "helmrelease", name, "-n", NAMESPACE)
    assert done.returncode == 0, done.stderr
    # The deletion is handled (the fleet state forgets it) without an uninstall, as in Flux.
    eventually(lambda: state.desired(key) is None and not state.results(key), timeout=ROLLOUT)
    assert helm_list(sandbox_cluster, target) == [(name, "1", "deployed", "hello-1.0.0")]
    assert "UninstallSucceeded" not in events(gitops, name)
