"""Commit statuses end to end: a Kustomization's result lands on the commit it applied, as Flux.

A real HTTPS server on loopback (``tests.servers.sink`` with its own CA,
requiring a client certificate) stands in for a GitHub Enterprise API; the
Provider reaches it through ``certSecretRef`` (``ca.crt``, ``tls.crt``,
``tls.key``). The Kustomization applies to a sandbox cluster; the statuses
follow the commits: success for one that applies, failure for one that
does not.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    flux_yaml,
    kustomization_yaml,
    namespace_yaml,
    secret_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.leaks import redis_bytes
from tests.servers.git import BareRepo
from tests.servers.sink import HttpSink

pytestmark = pytest.mark.cluster

GROUP = "notification.toolkit.fluxcd.io/v1beta3"
TOKEN = "ghp_commitstatus0123456789"


def test_statuses_follow_the_commits_with_the_flux_context(
    gitops: GitOps,
    git_repo: BareRepo,
    sandbox_cluster: ClusterInfo,
    make_http_sink: Callable[..., HttpSink],
) -> None:
    api = make_http_sink(tls=True, client_auth=True)
    cert, key = api.client_pem()
    gitops.start_worker("notify")
    gitops.register_cluster(sandbox_cluster, "default")
    ns = unique("status")
    good = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("c", ns, v="1")}
    )
    provider = f"""\
  type: github
  address: {api.url}/org/app
  secretRef:
    name: github-token
  certSecretRef:
    name: github-tls
"""
    alert = """\
  providerRef:
    name: github
  eventSources:
  - kind: Kustomization
    name: app
"""
    gitops.apply(
        secret_yaml("github-token", {"token": TOKEN})
        + secret_yaml("github-tls", {"ca.crt": api.ca_pem, "tls.crt": cert, "tls.key": key})
        + flux_yaml("Provider", "github", provider, api_version=GROUP)
        + flux_yaml("Alert", "app", alert, api_version=GROUP)
        + source_yaml("app", git_repo.url)
        + kustomization_yaml("app", source="app", path="./app")
    )
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{good}")
    uid = gitops.get("Provider", "github")["metadata"]["uid"]

    def posted(sha: str) -> list[dict[str, object]]:
        path = f"/api/v3/repos/org/app/statuses/{sha}"
        return [r.json() for r in api.requests if r.path == path and r.method == "POST"]

    first = eventually(lambda: posted(good), timeout=60)
    assert first[-1] == {
        "state": "success",
        "description": first[-1]["description"],
        "context": f"kustomization/app/{uid.split('-')[0]}",
    }
    request = next(r for r in api.requests if r.path.endswith(good))
    assert request.header("authorization") == f"Bearer {TOKEN}"
    assert request.client_cn  # the Provider presented the certificate from certSecretRef

    # A commit that cannot apply gets a failure on that commit.
    bad = git_repo.commit({"app/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"})
    gitops.pushed("app")
    failed = eventually(
        lambda: [s for s in posted(bad) if s["state"] == "failure"], timeout=90, interval=0.5
    )
    assert failed[0]["context"] == first[-1]["context"]
    assert TOKEN not in gitops.logs()
    assert TOKEN.encode() not in redis_bytes(gitops.store_client)
