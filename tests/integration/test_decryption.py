"""SOPS decryption through the running loop: age keys from a Secret, failures, no leaks."""

from __future__ import annotations

import base64
import os
from functools import partial

from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import (
    GitOps,
    kustomization_yaml,
    namespace_yaml,
    secret_yaml,
    source_yaml,
    unique,
)
from tests.kube import secret_data
from tests.leaks import file_bytes, redis_bytes
from tests.servers.git import BareRepo
from tests.sops import find_sops

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: {namespace}
stringData:
  password: {password}
"""
DECRYPTION = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"


def age_secret(identity: str) -> str:
    """The decryption Secret, as `flux create secret` / kubectl would make it."""
    return secret_yaml("sops-age", {"identity.agekey": f"{identity}\n"})


def test_an_encrypted_secret_fails_without_keys_then_with_a_wrong_key_then_decrypts(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    sops = find_sops()
    key, wrong = sops.new_key(), sops.new_key()
    ns = unique("sops")
    password = f"pw-{os.urandom(8).hex()}"
    encrypted = sops.encrypt(SECRET.format(namespace=ns, password=password), key.recipient)
    head = git_repo.commit({"app/ns.yaml": namespace_yaml(ns), "app/secret.yaml": encrypted})
    gitops.register_cluster(sandbox_cluster, "default")

    gitops.apply(
        source_yaml("app", git_repo.url) + kustomization_yaml("app", source="app", path="./app")
    )
    build_failed = partial(gitops.wait_failed, "Kustomization", "app", reason="BuildFailed")
    cond = build_failed(containing=f"Secret/{ns}/db is SOPS-encrypted")
    assert cond["status"] == "False"
    assert "spec.decryption is not set" in cond["message"]

    app = kustomization_yaml("app", source="app", path="./app", extra=DECRYPTION)
    gitops.apply(age_secret(wrong.identity) + app)
    cond = build_failed(containing="no age identity in decryption Secret 'flux-system/sops-age'")
    assert cond["status"] == "False" and f"Secret/{ns}/db" in cond["message"]
    assert secret_data(sandbox_cluster.kubeconfig, "db", ns) is None

    # A fixed Secret changes the build key: the next retry rebuilds instead of failing again.
    gitops.apply(age_secret(key.identity))
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{head}")
    assert secret_data(sandbox_cluster.kubeconfig, "db", ns) == {"password": password}

    logs = b"\n".join(p.read_bytes() for p in gitops.log_dir.glob("*.log"))
    stored = redis_bytes(gitops.store_client) + file_bytes(gitops.settings.cache_dir)
    needles = [password, key.identity]
    needles += [base64.b64encode(n.encode()).decode() for n in (password, f"{key.identity}\n")]
    for needle in needles:
        assert needle.encode() not in stored, needle
        assert needle.encode() not in logs, needle
    assert wrong.identity.encode() not in stored + logs
