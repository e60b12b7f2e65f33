"""spec.ignore: fields changed in the cluster under an ignore rule are left as they are."""

from __future__ import annotations

from kubernetes import client as k8s

from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.kube import configmap_data
from tests.servers.git import BareRepo

IGNORE = """\
  ignore:
  - paths: ["/data/tuned"]
    target:
      kind: ConfigMap
      name: settings
"""


def test_an_ignored_field_keeps_its_cluster_value_across_applies(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("ign")
    files = {"app/ns.yaml": namespace_yaml(ns)}
    git_repo.commit({**files, "app/cm.yaml": configmap_yaml("settings", ns, a="1", tuned="git")})
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("repo", git_repo.url)
        + kustomization_yaml("app", source="repo", path="./app", extra=IGNORE)
    )
    gitops.wait_ready("Kustomization", "app")
    api = k8s.CoreV1Api(api_client(sandbox_cluster.kubeconfig))
    try:
        # Someone tunes the field by hand (an Update, as kubectl edit does).
        api.patch_namespaced_config_map("settings", ns, {"data": {"tuned": "by-hand"}})
    finally:
        api.api_client.close()

    # A new revision changes another field, so the object is applied again.
    head = git_repo.commit(
        {**files, "app/cm.yaml": configmap_yaml("settings", ns, a="2", tuned="git")}
    )
    gitops.pushed("repo")
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{head}")
    assert configmap_data(sandbox_cluster.kubeconfig, "settings", ns) == {
        "a": "2",
        "tuned": "by-hand",
    }
