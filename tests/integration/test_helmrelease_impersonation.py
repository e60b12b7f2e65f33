"""serviceAccountName: a HelmRelease's Helm runs act as that service account on the cluster.

helm-controller impersonates ``system:serviceaccount:<namespace>:<name>`` for
every Helm action and storage read; sluice hands helm a kubeconfig whose user
acts ``as`` it, and reads Helm's storage with an impersonating client. Without
RBAC for the account the install is refused, naming it; with a RoleBinding in
the release namespace it goes through.
"""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from shared.api.conditions import get_condition
from tests.fixtures.gitops import NAMESPACE, GitOps, unique
from tests.helpers import eventually
from tests.integration.test_helmrelease import apply_release, wait_released
from tests.servers.helmrepo import HelmRepoServer

pytestmark = pytest.mark.cluster


def test_a_service_account_without_rights_is_refused_then_installs_once_bound(
    helm_gitops: GitOps,
    hello_repository: HelmRepoServer,
    workload_api: k8s.ApiClient,
    workload_ns: str,
) -> None:
    gitops = helm_gitops
    name = unique("hello")
    account = f"system:serviceaccount:{NAMESPACE}:deployer"
    extra = "  serviceAccountName: deployer\n"
    apply_release(gitops, hello_repository, name, workload_ns, extra=extra)

    def refused() -> dict[str, str] | None:
        ready = get_condition(gitops.get("HelmRelease", name).get("status"), "Ready")
        return (
            ready if ready and ready["status"] == "False" and account in ready["message"] else None
        )

    refused_ready = eventually(refused, timeout=120, interval=0.5)
    assert "forbidden" in refused_ready["message"].lower(), refused_ready
    # Nothing was released: no ConfigMap of the chart, no Helm storage Secret.
    core = k8s.CoreV1Api(workload_api)
    names = {cm.metadata.name for cm in core.list_namespaced_config_map(workload_ns).items}
    assert name not in names
    assert core.list_namespaced_secret(workload_ns, label_selector="owner=helm").items == []

    binding = k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name="deployer-edit"),
        role_ref=k8s.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit"
        ),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="deployer", namespace=NAMESPACE)],
    )
    k8s.RbacAuthorizationV1Api(workload_api).create_namespaced_role_binding(workload_ns, binding)
    # The cluster's own retry (backoff) finds the rights: no change to the HelmRelease.
    wait_released(gitops, name, version=1)
    assert core.read_namespaced_config_map(name, workload_ns).data == {"message": "hello"}
