"""A Flux fleet repository drives sluice unchanged: clusters/, infrastructure/, apps/."""

from __future__ import annotations

from shared.events import EventBus
from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import GitOps, configmap_yaml, namespace_yaml, unique
from tests.helpers import eventually
from tests.kube import configmap_data
from tests.servers.git import BareRepo


def _fleet(url: str, ns: str) -> dict[str, str]:
    sync = f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  url: {url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/prod
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
    infrastructure = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infrastructure
  namespace: flux-system
spec:
  interval: 1h
  retryInterval: 1m
  timeout: 5m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./infrastructure
  prune: true
  wait: true
"""
    apps = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m0s
  retryInterval: 2s
  dependsOn:
    - name: infrastructure
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./apps/prod
  prune: true
  postBuild:
    substitute:
      cluster_env: production
"""
    return {
        "clusters/prod/flux-system/gotk-sync.yaml": sync,
        "clusters/prod/flux-system/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n- gotk-sync.yaml\n"
        ),
        "clusters/prod/infrastructure.yaml": infrastructure,
        "clusters/prod/apps.yaml": apps,
        "infrastructure/namespace.yaml": namespace_yaml(ns),
        "infrastructure/shared.yaml": configmap_yaml("shared", ns, owner="platform"),
        "apps/base/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n- app.yaml\n"
        ),
        "apps/base/app.yaml": configmap_yaml("app", ns, env="${cluster_env}", tier="base"),
        "apps/prod/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n- ../base\n"
            "patches:\n- patch: |\n    apiVersion: v1\n    kind: ConfigMap\n"
            f"    metadata:\n      name: app\n      namespace: {ns}\n    data:\n      tier: prod\n"
        ),
    }


def test_bootstrap_sync_loads_the_cluster_folder_and_runs_it_in_order(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("fleet")
    files = _fleet(git_repo.url, ns)
    head = git_repo.commit(files)
    gitops.register_cluster(sandbox_cluster, "default")
    # `flux bootstrap` leaves this file in the repo; the user applies it once.
    gitops.apply(files["clusters/prod/flux-system/gotk-sync.yaml"])

    revision = f"main@sha1:{head}"
    for name in ("flux-system", "infrastructure", "apps"):
        gitops.wait_ready("Kustomization", name, revision=revision, timeout=90)
    assert configmap_data(sandbox_cluster.kubeconfig, "shared", ns) == {"owner": "platform"}
    assert configmap_data(sandbox_cluster.kubeconfig, "app", ns) == {
        "env": "production",
        "tier": "prod",
    }
    # The Kustomizations came from Git, owned by flux-system.
    infra = gitops.get("Kustomization", "infrastructure")
    assert infra["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "flux-system"

    # dependsOn: apps was applied only after infrastructure. An apply publishes its
    # "applied" event after it writes Ready, so the last one may not be out yet.
    bus = EventBus(gitops.store_client, gitops.workers_app)

    def applied_in_order() -> list[str] | None:
        names = [
            e.object.name
            for _, e in bus.read(count=1000)
            if e.type == "applied" and e.object.name in ("infrastructure", "apps")
        ]
        return names if {"infrastructure", "apps"} <= set(names) else None

    applied = eventually(applied_in_order, 30)
    assert applied.index("infrastructure") < applied.index("apps")

    # Removing a Kustomization from Git prunes it from the store and its objects.
    head = git_repo.commit({"clusters/prod/apps.yaml": None})
    gitops.pushed("flux-system")
    gitops.wait_ready("Kustomization", "flux-system", revision=f"main@sha1:{head}")
    assert gitops.store.get(ObjectKey("Kustomization", "flux-system", "apps")) is None
    eventually(lambda: configmap_data(sandbox_cluster.kubeconfig, "app", ns) is None, 30)
