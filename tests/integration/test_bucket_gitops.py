"""A Bucket drives a Kustomization end to end, with the flux-style CLI, as real processes.

sluice's workers and scheduler run as subprocesses, the bucket lives on a
real S3 server (versitygw), and the Kustomization applies to a sandbox
kube-apiserver: an object put in the bucket ends up in the cluster.
"""

from __future__ import annotations

import base64

from kubernetes import client as k8s

from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    flux_yaml,
    kustomization_yaml,
    namespace_yaml,
    secret_yaml,
    sluice,
    unique,
)
from tests.helpers import eventually
from tests.leaks import file_bytes, redis_bytes
from tests.servers.s3 import S3Server


def _objects(name: str, server: S3Server, bucket: str) -> str:
    keys = {"accesskey": server.access_key, "secretkey": server.secret_key}
    spec = f"""\
  interval: 10m
  provider: generic
  endpoint: {server.endpoint}
  bucketName: {bucket}
  insecure: true
  secretRef:
    name: {name}-keys
"""
    return (
        secret_yaml(f"{name}-keys", keys)
        + flux_yaml("Bucket", name, spec, api_version="source.toolkit.fluxcd.io/v1beta2")
        + kustomization_yaml(name, source=name, path="./app", interval="10m", source_kind="Bucket")
    )


def _greeting(info: ClusterInfo, namespace: str) -> str | None:
    with api_client(info.kubeconfig) as api:
        try:
            config = k8s.CoreV1Api(api).read_namespaced_config_map("settings", namespace)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return str(config.data["greeting"])


def test_a_kustomization_applies_a_buckets_objects_and_follows_its_changes(
    gitops: GitOps, s3_server: S3Server, sandbox_cluster: ClusterInfo
) -> None:
    name, namespace = unique("bucket"), unique("from-s3")
    s3_server.create_bucket(name)
    s3_server.put(name, "app/namespace.yaml", namespace_yaml(namespace))
    s3_server.put(name, "app/config.yaml", configmap_yaml("settings", namespace, greeting="one"))
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(_objects(name, s3_server, name))

    done = sluice(gitops, "reconcile", "ks", name, "--with-source", "--timeout", "90s")
    assert done.returncode == 0, done.stderr + gitops.logs()
    assert _greeting(sandbox_cluster, namespace) == "one"
    first = gitops.get("Bucket", name)["status"]["artifact"]["revision"]
    assert first.startswith("sha256:")
    assert gitops.get("Kustomization", name)["status"]["lastAppliedRevision"] == first

    rows = sluice(gitops, "get", "sources", "bucket").stdout.splitlines()
    assert rows[1].split()[:4] == [name, first, "False", "True"]  # NAME REVISION SUSPENDED READY

    # A changed object: the source's reconcile fetches it, the new artifact is applied.
    s3_server.put(name, "app/config.yaml", configmap_yaml("settings", namespace, greeting="two"))
    fetched = sluice(gitops, "reconcile", "source", "bucket", name, "--timeout", "60s")
    assert fetched.returncode == 0, fetched.stderr + gitops.logs()
    second = gitops.get("Bucket", name)["status"]["artifact"]["revision"]
    assert second != first
    assert f"✔ fetched revision {second}" in fetched.stderr
    assert eventually(lambda: _greeting(sandbox_cluster, namespace) == "two", timeout=60)

    # Suspended, the bucket's change waits; resumed, it is fetched and applied.
    suspended = sluice(gitops, "suspend", "source", "bucket", name)
    assert suspended.returncode == 0, suspended.stderr
    assert gitops.get("Bucket", name)["spec"]["suspend"] is True
    s3_server.put(name, "app/config.yaml", configmap_yaml("settings", namespace, greeting="three"))
    refused = sluice(gitops, "reconcile", "source", "bucket", name)
    assert refused.returncode == 1 and "is suspended" in refused.stderr
    resumed = sluice(gitops, "resume", "source", "bucket", name, "--timeout", "60s")
    assert resumed.returncode == 0, resumed.stderr + gitops.logs()
    assert eventually(lambda: _greeting(sandbox_cluster, namespace) == "three", timeout=60)
    # Each change downloaded only the object that changed.
    assert s3_server.body_gets(name, "app/namespace.yaml") == 1
    assert s3_server.body_gets(name, "app/config.yaml") == 3

    # The secret key is nowhere sluice keeps or prints things (the store seals Secrets).
    logs = b"".join(path.read_bytes() for path in gitops.log_dir.glob("*.log"))
    for value in (s3_server.secret_key, base64.b64encode(s3_server.secret_key.encode()).decode()):
        assert value.encode() not in redis_bytes(gitops.store_client)
        assert value.encode() not in file_bytes(gitops.settings.cache_dir)
        assert value.encode() not in logs
        assert value not in done.stderr + fetched.stderr + resumed.stderr
