"""postBuild substitution through the running loop: inline vars, ConfigMaps, Secrets, opt-out."""

from __future__ import annotations

import base64

from shared.sandbox import ClusterInfo
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

VARS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-vars
  namespace: flux-system
data:
  region: eu-west-1
  replicas: "3"
---
apiVersion: v1
kind: Secret
metadata:
  name: cluster-secrets
  namespace: flux-system
data:
  token: {token}
---
"""


def test_variables_from_inline_configmap_and_secret_with_defaults_and_opt_out(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("subst")
    literal = configmap_yaml("literal", ns, text="${region}").replace(
        "metadata:\n",
        "metadata:\n  labels:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n",
    )
    head = git_repo.commit(
        {
            "app/ns.yaml": namespace_yaml(ns),
            "app/cm.yaml": configmap_yaml(
                "vars",
                ns,
                env="${env}",
                region="${region}",
                token="${token}",
                size="${size:=small}",
                escaped="$${region}",
            ),
            "app/literal.yaml": literal,
        }
    )
    gitops.register_cluster(sandbox_cluster, "default")
    post_build = (
        "  postBuild:\n    substitute:\n      env: prod\n      region: us-east-1\n"
        "    substituteFrom:\n    - kind: ConfigMap\n      name: cluster-vars\n"
        "    - kind: Secret\n      name: cluster-secrets\n"
        "    - kind: ConfigMap\n      name: missing\n      optional: true\n"
    )
    gitops.apply(
        VARS.format(token=base64.b64encode(b"s3cret").decode())
        + source_yaml("app", git_repo.url)
        + kustomization_yaml("app", source="app", path="./app", extra=post_build)
    )
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{head}")
    assert configmap_data(sandbox_cluster.kubeconfig, "vars", ns) == {
        "env": "prod",
        "region": "us-east-1",  # inline substitute wins over substituteFrom
        "token": "s3cret",
        "size": "small",
        "escaped": "${region}",
    }
    assert configmap_data(sandbox_cluster.kubeconfig, "literal", ns) == {"text": "${region}"}


def test_an_undefined_variable_fails_the_build_and_names_it(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("strict")
    git_repo.commit({"app/cm.yaml": configmap_yaml("vars", ns, env="${nope}")})
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("app", git_repo.url)
        + kustomization_yaml(
            "app", source="app", path="./app", extra="  postBuild:\n    substitute:\n      a: b\n"
        )
    )

    # Before the first artifact it is not Ready with ArtifactFailed; then the build fails.
    gitops.wait_failed("Kustomization", "app", reason="BuildFailed", containing="nope")


def test_a_missing_substitute_from_source_fails_the_build_and_names_it(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("from")
    git_repo.commit({"app/cm.yaml": configmap_yaml("vars", ns, env="${env}")})
    gitops.register_cluster(sandbox_cluster, "default")
    extra = "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: absent\n"
    gitops.apply(
        source_yaml("app", git_repo.url)
        + kustomization_yaml("app", source="app", path="./app", extra=extra)
    )

    message = "postBuild.substituteFrom: ConfigMap 'absent' not found"
    gitops.wait_failed("Kustomization", "app", reason="BuildFailed", containing=message)
