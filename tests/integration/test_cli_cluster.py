"""``sluice cluster add|list|remove`` with real kubeconfig files, a real apiserver and Redis.

``add`` checks the cluster before storing anything; what it stores is a
self-contained kubeconfig that the workers' own client accepts; a Kustomization
naming the added cluster applies to it.
"""

from __future__ import annotations

import base64
import datetime
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.keys import ObjectKey
from shared.kube.kubeconfig import client_from_kubeconfig
from shared.redisserver import RedisServer, free_port
from shared.sandbox import ClusterInfo, ControlPlane
from shared.settings import Settings
from shared.store import Store
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data
from tests.servers.git import BareRepo
from tests.sluicecli import run_sluice, sluice_env

pytestmark = pytest.mark.cluster

NS = "flux-system"
ADDED = re.compile(r"^✔ cluster (\S+): (https://127\.0\.0\.1:\d+) \(Kubernetes (v\d+\.\d+\.\S+)\)$")


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    return sluice_env(redis_server.url, tmp_path)


@pytest.fixture
def store(settings: Settings) -> Store:
    # settings and sluice_env share tmp_path/secret.key, so this store reads the CLI's Secrets.
    return Store.from_settings(settings)


def _config(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def _token(info: ClusterInfo) -> str:
    return str(_config(info.kubeconfig)["users"][0]["user"]["token"])


def _stored_kubeconfig(store: Store, name: str) -> str:
    secret = store.get(ObjectKey("Secret", NS, f"{name}-kubeconfig"))
    assert secret is not None
    return base64.b64decode(secret["data"]["value"]).decode()


def _nothing_stored(store: Store) -> bool:
    return store.list("Cluster") == [] and store.list("Secret") == []


def _can_list_namespaces(kubeconfig: str) -> bool:
    """The workers' own client, from the stored text, makes an authenticated call."""
    client = client_from_kubeconfig(kubeconfig)
    try:
        return "items" in client.request("GET", "/api/v1/namespaces")
    finally:
        client.close()


def test_add_checks_the_cluster_then_stores_its_kubeconfig_and_labels(
    env: dict[str, str], store: Store, sandbox_cluster: ClusterInfo
) -> None:
    kubeconfig = str(sandbox_cluster.kubeconfig)
    added = run_sluice(
        env, "cluster", "add", "staging", "--kubeconfig", kubeconfig, "-l", "env=staging"
    )
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    match = ADDED.match(lines[0])
    assert match, lines
    assert match[1] == "staging" and match[2] == sandbox_cluster.server
    assert lines[1:] == [
        "secret/staging-kubeconfig created",
        "cluster.fleet.sluice.dev/staging created",
    ]
    assert _token(sandbox_cluster) not in added.stdout + added.stderr

    cluster = store.get(ObjectKey("Cluster", NS, "staging"))
    assert cluster is not None
    assert cluster["metadata"]["labels"] == {"env": "staging"}
    assert cluster["spec"] == {"kubeConfig": {"secretRef": {"name": "staging-kubeconfig"}}}
    assert cluster["status"]["kubernetesVersion"] == match[3]
    stored = yaml.safe_load(_stored_kubeconfig(store, "staging"))
    assert stored["current-context"] == "staging"
    assert [c["name"] for c in stored["contexts"]] == ["staging"]
    assert _can_list_namespaces(_stored_kubeconfig(store, "staging"))

    # Adding again updates: the labels are replaced, the Secret is unchanged.
    again = run_sluice(
        env, "cluster", "add", "staging", "--kubeconfig", kubeconfig, "-l", "env=prod"
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1:] == [
        "secret/staging-kubeconfig unchanged",
        "cluster.fleet.sluice.dev/staging configured",
    ]
    cluster = store.get(ObjectKey("Cluster", NS, "staging"))
    assert cluster is not None and cluster["metadata"]["labels"] == {"env": "prod"}


def _client_certificate(plane: ControlPlane, tmp_path: Path) -> tuple[Path, Path]:
    """A client certificate for the sandbox's admins, signed by the apiserver's client CA."""
    certs = plane.directory / "certs"
    ca_key = serialization.load_pem_private_key((certs / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate((certs / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "cluster-add-test"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "keys" / "client.crt", tmp_path / "keys" / "client.key"
    cert_path.parent.mkdir()
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_add_reads_the_certificate_files_a_kubeconfig_names_and_stores_them_inline(
    env: dict[str, str], store: Store, control_plane: ControlPlane, tmp_path: Path
) -> None:
    cert, key = _client_certificate(control_plane, tmp_path)
    (tmp_path / "ca.crt").write_bytes((control_plane.directory / "certs" / "ca.crt").read_bytes())
    info = control_plane.cluster(1)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": info.server, "certificate-authority": "ca.crt"}}
        ],
        "users": [
            {"name": "u", "user": {"client-certificate": "keys/client.crt", "client-key": str(key)}}
        ],
        "contexts": [{"name": "files", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "files",
    }
    path = tmp_path / "files.kubeconfig"
    path.write_text(yaml.safe_dump(config))

    added = run_sluice(env, "cluster", "add", "certs", "--kubeconfig", str(path))
    assert added.returncode == 0, added.stderr
    assert ADDED.match(added.stdout.splitlines()[0])
    assert "PRIVATE KEY" not in added.stdout + added.stderr

    text = _stored_kubeconfig(store, "certs")
    stored = yaml.safe_load(text)
    cluster, user = stored["clusters"][0]["cluster"], stored["users"][0]["user"]
    assert set(cluster) == {"server", "certificate-authority-data"}
    assert (
        base64.b64decode(cluster["certificate-authority-data"])
        == (tmp_path / "ca.crt").read_bytes()
    )
    assert set(user) == {"client-certificate-data", "client-key-data"}
    assert base64.b64decode(user["client-certificate-data"]) == cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == key.read_bytes()
    # The files may go away: the stored kubeconfig alone authenticates, by the certificate.
    for file in (cert, key, tmp_path / "ca.crt"):
        file.unlink()
    assert _can_list_namespaces(text)


def test_context_chooses_among_the_files_contexts(
    env: dict[str, str], store: Store, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    config = _config(sandbox_cluster.kubeconfig)
    good = config["current-context"]
    dead = f"https://127.0.0.1:{free_port()}"
    ca = config["clusters"][0]["cluster"]["certificate-authority-data"]
    config["clusters"].append(
        {"name": "gone", "cluster": {"server": dead, "certificate-authority-data": ca}}
    )
    config["contexts"].append(
        {"name": "gone", "context": {"cluster": "gone", "user": config["users"][0]["name"]}}
    )
    config["current-context"] = "gone"
    path = tmp_path / "two.kubeconfig"
    path.write_text(yaml.safe_dump(config))

    failed = run_sluice(env, "cluster", "add", "edge", "--kubeconfig", str(path), "--timeout", "5")
    assert failed.returncode == 1
    assert dead in failed.stderr and "nothing stored" in failed.stderr
    assert _nothing_stored(store)

    added = run_sluice(env, "cluster", "add", "edge", "--kubeconfig", str(path), "--context", good)
    assert added.returncode == 0, added.stderr
    match = ADDED.match(added.stdout.splitlines()[0])
    assert match and match[2] == sandbox_cluster.server
    assert _can_list_namespaces(_stored_kubeconfig(store, "edge"))


def test_a_kubeconfig_that_runs_a_command_is_refused_and_nothing_is_stored(
    env: dict[str, str], store: Store, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    config = _config(sandbox_cluster.kubeconfig)
    marker = tmp_path / "ran"
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "/bin/sh",
            "args": ["-c", f"touch {marker}"],
        }
    }
    path = tmp_path / "exec.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    refused = run_sluice(env, "cluster", "add", "cloud", "--kubeconfig", str(path))
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "user.exec: kubeconfigs that run commands are not allowed" in refused.stderr
    assert "nothing stored" in refused.stderr
    assert not marker.exists()
    assert _nothing_stored(store)


def test_an_unreachable_server_is_named_and_nothing_is_stored(
    env: dict[str, str], store: Store, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    config = _config(sandbox_cluster.kubeconfig)
    dead = f"https://127.0.0.1:{free_port()}"
    config["clusters"][0]["cluster"]["server"] = dead
    path = tmp_path / "dead.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    failed = run_sluice(env, "cluster", "add", "far", "--kubeconfig", str(path), "--timeout", "5")
    assert failed.returncode == 1
    assert f"error: cluster far: {dead} did not answer" in failed.stderr
    assert _token(sandbox_cluster) not in failed.stdout + failed.stderr
    assert _nothing_stored(store)


def _rows(text: str) -> dict[str, list[str]]:
    """A plain table as rows of cells (columns are split on runs of 3+ spaces), by NAME."""
    lines = text.splitlines()
    return {row[0]: row for row in (re.split(r" {3,}", line) for line in lines[1:])}


def test_a_kustomization_naming_an_added_cluster_applies_to_it_then_remove_warns(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    env = gitops.env
    kubeconfig = str(sandbox_cluster.kubeconfig)
    for name, label in (("staging", "env=staging"), ("spare", "env=spare")):
        added = run_sluice(env, "cluster", "add", name, "--kubeconfig", kubeconfig, "-l", label)
        assert added.returncode == 0, added.stderr

    listed = run_sluice(env, "cluster", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "NAME",
        "SERVER",
        "VERSION",
        "CHECKED",
        "LABELS",
        "READY",
        "MESSAGE",
    ]
    row = _rows(listed.stdout)["staging"]
    assert row[1] == sandbox_cluster.server and row[2].startswith("v1.")
    assert row[4:] == ["env=staging", "-"]  # no object has run there yet

    ns = unique("added")
    commit = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("settings", ns, v="1")}
    )
    gitops.apply(
        source_yaml("app", git_repo.url)
        + kustomization_yaml("app", source="app", path="./app", extra="  clusters: [staging]\n")
    )
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{commit}")
    assert configmap_data(sandbox_cluster.kubeconfig, "settings", ns) == {"v": "1"}
    rows = _rows(run_sluice(env, "cluster", "list").stdout)
    assert rows["staging"][5] == "1/1" and rows["spare"][5] == "-"

    removed = run_sluice(env, "cluster", "remove", "staging")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [
        "cluster.fleet.sluice.dev/staging deleted",
        "secret/staging-kubeconfig deleted",
    ]
    assert (
        f"warning: Kustomization {NS}/app names it in spec.clusters and will report it not found"
        in removed.stderr
    )
    assert gitops.store.get(ObjectKey("Cluster", NS, "staging")) is None
    assert gitops.store.get(ObjectKey("Secret", NS, "staging-kubeconfig")) is None
    assert set(_rows(run_sluice(env, "cluster", "list").stdout)) == {"spare"}
    # As the warning says: the Kustomization reports the Cluster missing, its objects stay.
    eventually(
        lambda: "not found" in str((gitops.ready("Kustomization", "app") or {}).get("message")),
        timeout=30,
    )
    assert configmap_data(sandbox_cluster.kubeconfig, "settings", ns) == {"v": "1"}

    gone = run_sluice(env, "cluster", "remove", "staging")
    assert gone.returncode == 1
    assert 'Cluster "staging" not found in namespace "flux-system"' in gone.stderr


def test_a_bad_name_or_label_is_refused_before_the_cluster_is_contacted(
    env: dict[str, str], store: Store, sandbox_cluster: ClusterInfo
) -> None:
    kubeconfig = str(sandbox_cluster.kubeconfig)
    bad_name = run_sluice(env, "cluster", "add", "Bad_Name", "--kubeconfig", kubeconfig)
    assert bad_name.returncode == 1
    assert "metadata.name" in bad_name.stderr and "nothing stored" in bad_name.stderr
    bad_label = run_sluice(env, "cluster", "add", "ok", "--kubeconfig", kubeconfig, "-l", "env")
    assert bad_label.returncode == 1
    assert "--label 'env': expected KEY=VALUE" in bad_label.stderr
    assert bad_name.stdout == bad_label.stdout == ""
    assert _nothing_stored(store)


def test_a_token_the_cluster_does_not_know_is_refused_and_nothing_is_stored(
    env: dict[str, str], store: Store, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    config = _config(sandbox_cluster.kubeconfig)
    config["users"][0]["user"]["token"] = "not-a-token-the-cluster-knows"
    path = tmp_path / "stale.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    refused = run_sluice(env, "cluster", "add", "stale", "--kubeconfig", str(path))
    assert refused.returncode == 1
    assert (
        f"error: cluster stale: {sandbox_cluster.server} refused GET /version: Unauthorized"
        in refused.stderr
    )
    assert "not-a-token-the-cluster-knows" not in refused.stdout + refused.stderr
    assert _nothing_stored(store)
