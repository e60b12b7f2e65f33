"""healthCheckExprs: a custom kind's health comes from its CEL rules, as Flux reads them."""

from __future__ import annotations

from kubernetes import client as k8s

from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import GitOps, kustomization_yaml, namespace_yaml, source_yaml, unique
from tests.servers.git import BareRepo


def crd_yaml(group: str) -> str:
    return f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""


def widget_yaml(group: str, namespace: str, phase: str) -> str:
    # No status subresource: the first phase comes with the manifest.
    return f"""\
apiVersion: {group}/v1
kind: Widget
metadata:
  name: gear
  namespace: {namespace}
spec:
  size: 1
status:
  phase: {phase}
"""


def health_exprs(group: str) -> str:
    return f"""\
  wait: true
  timeout: 20s
  healthCheckExprs:
  - apiVersion: {group}/v1
    kind: Widget
    inProgress: "status.phase == 'Pending'"
    failed: "status.phase == 'Broken'"
    current: "status.phase == 'Ready'"
"""


def test_a_custom_kind_is_as_healthy_as_its_expressions_say(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    group, ns = f"{unique('w')}.sluice.test", unique("cel")
    files = {"app/crd.yaml": crd_yaml(group), "app/ns.yaml": namespace_yaml(ns)}
    head = git_repo.commit({**files, "app/widget.yaml": widget_yaml(group, ns, "Broken")})
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("repo", git_repo.url)
        + kustomization_yaml("app", source="repo", path="./app", extra=health_exprs(group))
    )
    # Without the rule the Widget would count as Current (it has no Ready condition).
    cond = gitops.wait_failed("Kustomization", "app", reason="HealthCheckFailed")
    assert f"Widget/{ns}/gear status: 'Failed'" in cond["message"]
    assert "failed early" in cond["message"]

    # Its controller (here, the test) marks it Ready; the retried health check sees it.
    api = k8s.CustomObjectsApi(api_client(sandbox_cluster.kubeconfig))
    try:
        status = {"status": {"phase": "Ready"}}
        api.patch_namespaced_custom_object(group, "v1", ns, "widgets", "gear", status)
    finally:
        api.api_client.close()
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{head}")


def test_a_custom_kind_whose_current_expression_never_holds_times_out(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    group, ns = f"{unique('w')}.sluice.test", unique("cel")
    git_repo.commit(
        {
            "app/crd.yaml": crd_yaml(group),
            "app/ns.yaml": namespace_yaml(ns),
            "app/widget.yaml": widget_yaml(group, ns, "Pending"),
        }
    )
    gitops.register_cluster(sandbox_cluster, "default")
    extra = health_exprs(group).replace("timeout: 20s", "timeout: 3s")
    gitops.apply(
        source_yaml("repo", git_repo.url)
        + kustomization_yaml("app", source="repo", path="./app", extra=extra)
    )
    cond = gitops.wait_failed("Kustomization", "app", reason="HealthCheckFailed")
    assert f"timeout waiting for: [Widget/{ns}/gear status: 'InProgress'" in cond["message"]
