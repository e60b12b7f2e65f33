"""Flux's own example fleet repository converges on sluice: every HelmRelease is deployed.

clusters/staging is bootstrapped exactly as in test_flux_example.py, here on
a sandbox cluster that runs workloads, with the helm service's worker
running. The example's charts are the real ones (tests/data/charts), served
locally by tests.servers.examplecharts; moving the example's chart URLs to
those servers (``ServedCharts.rewrite`` over the committed files) is the one
change made to the repository. A Flux user then checks: every Kustomization
and HelmRelease Ready, ``helm list -A`` showing cert-manager, envoy-gateway
and podinfo deployed, podinfo running with the staging values.

One stand-in, for what kwok cannot run: cert-manager's webhook never answers
here, so once infra-controllers has installed cert-manager the test deletes
its webhook registrations (tests.fluxexample.drop_cert_manager_webhooks) and
asks for infra-configs again, as ``flux reconcile kustomization`` would, in
case it was refused before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import GitOps, bootstrap, sluice
from tests.fluxexample import (
    HelmCli,
    condition,
    drop_cert_manager_webhooks,
    example_releases,
    files,
    remove_configs,
    remove_releases,
)
from tests.servers.examplecharts import ServedCharts, serve_example_charts
from tests.servers.git import BareRepo
from tests.servers.registry import OciRegistry

pytestmark = pytest.mark.cluster

FS = "flux-system"
SCOPE = "staging"
# Each Kustomization's own timeout is 5m; helm installs take seconds on kwok nodes.
CONVERGE = 420.0


@pytest.fixture
def example_charts(tmp_path: Path, oci_registry: OciRegistry) -> Iterator[ServedCharts]:
    with serve_example_charts(tmp_path / "example-charts", oci_registry) as served:
        yield served


# Three charts installed one after another on two shared cores: more than the default.
@pytest.mark.timeout(900)
def test_the_staging_cluster_of_flux_example_repository_converges_with_its_helm_releases(
    gitops: GitOps,
    git_repo: BareRepo,
    workload_cluster: ClusterInfo,
    example_charts: ServedCharts,
    tmp_path: Path,
) -> None:
    helm = HelmCli(workload_cluster.kubeconfig, tmp_path / "helm-home")
    releases = example_releases()
    try:
        gitops.start_worker("helm")
        git_repo.commit(files(example_charts.rewrite))
        gitops.register_cluster(workload_cluster, SCOPE)
        said = bootstrap(gitops, git_repo.url, SCOPE)
        assert "Kustomization reconciliation completed" in said

        # infra-controllers installs cert-manager and Envoy Gateway and waits for both.
        key = ObjectKey("Kustomization", FS, "infra-controllers", SCOPE)
        condition(gitops, key, "True", timeout=CONVERGE)
        drop_cert_manager_webhooks(workload_cluster.kubeconfig)
        # Asked again now the webhooks are gone; its Ready is waited for below (the
        # command may report the run that the webhooks refused, at the same revision).
        sluice(gitops, "-c", SCOPE, "reconcile", "kustomization", "infra-configs")
        for name in ("infra-configs", "apps"):
            key = ObjectKey("Kustomization", FS, name, SCOPE)
            condition(gitops, key, "True", timeout=CONVERGE)

        # Every HelmRelease is Ready, and helm on the cluster shows each release deployed
        # from the chart version its source picked, with the values the HelmRelease gives.
        for release in releases:
            key = ObjectKey("HelmRelease", release.namespace, release.helmrelease, SCOPE)
            condition(gitops, key, "True", timeout=CONVERGE)
        listed = {(r["name"], r["namespace"]): (r["status"], r["chart"]) for r in helm.releases()}
        for release in releases:
            chart = f"{release.chart.name}-{release.chart.version}"
            assert listed.get((release.name, release.namespace)) == ("deployed", chart), listed
            assert helm.values(release) == release.values

        # podinfo runs with the staging values (base values with staging's patch merged).
        podinfo = next(r for r in releases if r.name == "podinfo")
        assert podinfo.values["httpRoute"]["hostnames"] == ["podinfo.staging"]
        with api_client(workload_cluster.kubeconfig) as api:
            apps = k8s.AppsV1Api(api)
            web = apps.read_namespaced_deployment("podinfo", "podinfo")
            assert web.status.ready_replicas == web.spec.replicas == 1
            redis = apps.read_namespaced_deployment("podinfo-redis", "podinfo")
            images = [c.image for c in redis.spec.template.spec.containers]
            assert images == ["public.ecr.aws/docker/library/redis:8.6.2"]
    finally:
        remove_configs(workload_cluster.kubeconfig)
        remove_releases(helm, releases)
