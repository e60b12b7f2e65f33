"""The charts of Flux's example repository, as vendored in tests/data/charts, on a sandbox cluster.

The real helm 4 installs each HelmRelease of clusters/staging's build
(cert-manager, envoy-gateway, podinfo) from its vendored chart with the
example's values, waiting as helm-controller does; every pod then turns Ready
on the sandbox's kwok nodes. infrastructure/configs (the ClusterIssuer, the
GatewayClass and the Gateway) is accepted by the CRDs those charts install.
This is what the helm service will do with the example, checked without it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fluxexample import (
    EXAMPLE,
    HelmCli,
    drop_cert_manager_webhooks,
    example_releases,
    kubectl,
    remove_configs,
    remove_releases,
)

pytestmark = pytest.mark.cluster

# helm-controller's default timeout; the installs take seconds on kwok nodes.
TIMEOUT = "5m"


def _pods_ready(api: k8s.ApiClient, namespace: str) -> list[str]:
    """Names of the namespace's pods; asserts every one not finished (a Job's) is Ready."""
    pods = k8s.CoreV1Api(api).list_namespaced_pod(namespace).items
    running = [pod for pod in pods if pod.status.phase != "Succeeded"]
    for pod in running:
        ready = {c.type: c.status for c in pod.status.conditions or []}.get("Ready")
        assert ready == "True", f"{namespace}/{pod.metadata.name}: {pod.status}"
    return [pod.metadata.name for pod in running]


def test_the_example_charts_install_with_helm_and_every_pod_turns_ready(
    workload_cluster: ClusterInfo, tmp_path: Path
) -> None:
    helm = HelmCli(workload_cluster.kubeconfig, tmp_path / "helm-home")
    releases = example_releases()
    assert [(r.name, r.namespace, r.chart.name) for r in releases] == [
        ("cert-manager", "cert-manager", "cert-manager"),
        ("envoy-gateway", "envoy-gateway-system", "gateway-helm"),
        ("podinfo", "podinfo", "podinfo"),
    ]
    try:
        for release in releases:
            values = tmp_path / f"{release.name}-values.yaml"
            values.write_text(yaml.safe_dump(release.values))
            started = time.monotonic()
            done = helm.run(
                "install",
                release.name,
                str(release.chart.package),
                f"--namespace={release.namespace}",
                "--create-namespace",
                f"--values={values}",
                "--wait=watcher",
                f"--timeout={TIMEOUT}",
                timeout=360,
            )
            assert done.returncode == 0, done.stderr
            print(f"helm install {release.name}: {time.monotonic() - started:.1f}s")

        listed = {(r["name"], r["namespace"]): (r["status"], r["chart"]) for r in helm.releases()}
        for release in releases:
            chart = f"{release.chart.name}-{release.chart.version}"
            assert listed[(release.name, release.namespace)] == ("deployed", chart)
            assert helm.values(release) == release.values

        with api_client(workload_cluster.kubeconfig) as api:
            for release in releases:
                assert _pods_ready(api, release.namespace), release.namespace
            # podinfo runs with the example's values: its Redis from the image they name.
            redis = k8s.AppsV1Api(api).read_namespaced_deployment("podinfo-redis", "podinfo")
            images = [c.image for c in redis.spec.template.spec.containers]
            assert images == ["public.ecr.aws/docker/library/redis:8.6.2"]

        # infrastructure/configs fits the CRDs the charts installed (no webhook runs here).
        drop_cert_manager_webhooks(workload_cluster.kubeconfig)
        configs = str(EXAMPLE / "infrastructure" / "configs")
        applied = kubectl(workload_cluster.kubeconfig, "apply", "-k", configs)
        assert applied.returncode == 0, applied.stderr
        assert set(applied.stdout.split("\n")) >= {
            "clusterissuer.cert-manager.io/letsencrypt created",
            "gatewayclass.gateway.networking.k8s.io/envoy created",
            "gateway.gateway.networking.k8s.io/envoy created",
        }
    finally:
        remove_configs(workload_cluster.kubeconfig)
        remove_releases(helm, releases)
