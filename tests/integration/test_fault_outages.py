"""A kube-apiserver and the Git server go away for a while: not Ready with the reason, then back.

Nobody intervenes: sluice notices at the next interval, says why in the status,
keeps what was applied, retries on its own, and catches up with Git once the
server answers again.
"""

from __future__ import annotations

from typing import Any

from shared.api.conditions import get_condition
from shared.sandbox import ClusterInfo, ControlPlane
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    secret_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data, owned_objects
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer

CLUSTER = 3  # of control_plane_3; test_fanout stops cluster 2


def _not_ready(gitops: GitOps, kind: str, name: str) -> dict[str, Any] | None:
    cond = gitops.ready(kind, name)
    return cond if cond and cond["status"] == "False" else None


def test_a_stopped_apiserver_makes_it_not_ready_with_the_reason_and_it_recovers_alone(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    ns, name = unique("down"), unique("ks-down")
    info = control_plane_3.cluster(CLUSTER)
    first = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("cm", ns, v="1")}
    )
    gitops.register_cluster(info, "default")
    gitops.apply(
        source_yaml("app", git_repo.url, interval="2s")
        + kustomization_yaml(name, source="app", path="./app", interval="2s")
    )
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{first}")

    control_plane_3.stop_cluster(CLUSTER)
    try:
        # No commit needed: the next interval finds the cluster gone.
        cond = eventually(lambda: _not_ready(gitops, "Kustomization", name), timeout=30)
        assert cond["reason"] == "ReconciliationFailed", cond
        assert f"127.0.0.1:{info.port}" in cond["message"], cond
        entry = gitops.get("Kustomization", name)["status"]["clusters"][0]
        assert entry["name"] == "default" and entry["conditions"][0]["status"] == "False"
        status = gitops.get("Kustomization", name)["status"]
        assert status["lastAppliedRevision"] == f"main@sha1:{first}"
        second = git_repo.commit({"app/cm.yaml": configmap_yaml("cm", ns, v="2")})
        eventually(
            lambda: (
                gitops.get("Kustomization", name)["status"].get("lastAttemptedRevision")
                == f"main@sha1:{second}"
            ),
            timeout=30,
        )
        cond = gitops.ready("Kustomization", name)
        assert cond is not None and cond["status"] == "False", cond
    finally:
        control_plane_3.start_cluster(CLUSTER)

    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{second}", timeout=60)
    assert configmap_data(info.kubeconfig, "cm", ns) == {"v": "2"}
    assert owned_objects(info.kubeconfig, name) == {f"Namespace/{ns}", f"ConfigMap/{ns}/cm"}


def test_a_stopped_git_server_makes_the_source_not_ready_and_keeps_the_last_applied_revision(
    gitops: GitOps, git_repo: BareRepo, git_http: GitHttpServer, sandbox_cluster: ClusterInfo
) -> None:
    ns, name = unique("gitdown"), unique("ks-gitdown")
    kubeconfig = sandbox_cluster.kubeconfig
    first = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("cm", ns, v="1")}
    )
    gitops.register_cluster(sandbox_cluster, "default")
    url = git_http.url_for(git_repo)
    gitops.apply(
        secret_yaml(
            "git-creds",
            {"username": git_http.username or "", "password": git_http.password or ""},
        )
        + source_yaml("app", url, interval="2s", extra="  secretRef:\n    name: git-creds\n")
        + kustomization_yaml(name, source="app", path="./app")
    )
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{first}")
    port = git_http.port

    git_http.stop()
    try:
        cond = eventually(lambda: _not_ready(gitops, "GitRepository", "app"), timeout=30)
        # Flux's reason for any failed checkout; the message says which failure it was.
        assert cond["reason"] == "GitOperationFailed", cond
        assert cond["message"].startswith("host unreachable"), cond["message"]
        assert f"127.0.0.1:{port}" in cond["message"], cond["message"]
        assert git_http.password not in str(gitops.get("GitRepository", "app"))
        second = git_repo.commit({"app/cm.yaml": configmap_yaml("cm", ns, v="2")})
        # The last artifact is still served: what was applied stays applied and Ready.
        doc = gitops.get("Kustomization", name)
        assert doc["status"]["lastAppliedRevision"] == f"main@sha1:{first}"
        ready = get_condition(doc["status"], "Ready")
        assert ready is not None and ready["status"] == "True", ready
        assert configmap_data(kubeconfig, "cm", ns) == {"v": "1"}
    finally:
        git_http.start()
    assert git_http.port == port

    gitops.wait_ready("GitRepository", "app", revision=f"main@sha1:{second}", timeout=60)
    gitops.wait_ready("Kustomization", name, revision=f"main@sha1:{second}", timeout=30)
    assert configmap_data(kubeconfig, "cm", ns) == {"v": "2"}
