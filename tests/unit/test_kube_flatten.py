"""A user's kubeconfig file becomes one self-contained context, or a refusal naming the field."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.kube.errors import KubeconfigError
from shared.kube.flatten import flatten_kubeconfig, kubeconfig_server, shown_server

TOKEN = "s3cr3t-token-value"
CA = b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _config(
    cluster: dict[str, Any], user: dict[str, Any], *, current: str | None = "ctx"
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}],
    }
    if current:
        config["current-context"] = current
    return config


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    return path


HTTPS = {"server": "https://10.0.0.9:6443", "certificate-authority-data": _b64(CA)}


def test_an_inline_context_is_kept_and_named_after_the_cluster(tmp_path: Path) -> None:
    path = _write(tmp_path, _config(HTTPS, {"token": TOKEN}))
    flat = flatten_kubeconfig(path, name="staging")
    assert flat.context == "ctx"
    assert flat.server == "https://10.0.0.9:6443"
    assert flat.document == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "staging", "cluster": HTTPS}],
        "users": [{"name": "staging", "user": {"token": TOKEN}}],
        "contexts": [
            {
                "name": "staging",
                "context": {"cluster": "staging", "user": "staging", "namespace": "ns"},
            }
        ],
        "current-context": "staging",
    }
    assert yaml.safe_load(flat.text) == flat.document


def test_files_are_read_relative_to_the_kubeconfig_and_put_inline(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(CA)
    (tmp_path / "client.crt").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    (tmp_path / "token").write_text(TOKEN + "\n")
    cluster = {"server": "https://10.0.0.9:6443", "certificate-authority": "certs/ca.crt"}
    user = {
        "client-certificate": "client.crt",
        "client-key": str(tmp_path / "client.key"),
        "tokenFile": "token",
    }
    flat = flatten_kubeconfig(_write(tmp_path, _config(cluster, user)), name="x")
    assert flat.document["clusters"][0]["cluster"] == HTTPS
    assert flat.document["users"][0]["user"] == {
        "client-certificate-data": _b64(b"CERT"),
        "client-key-data": _b64(b"KEY"),
        "token": TOKEN,
    }


def test_inline_data_wins_over_a_file_which_is_then_not_read(tmp_path: Path) -> None:
    cluster = {**HTTPS, "certificate-authority": "/does/not/exist"}
    flat = flatten_kubeconfig(_write(tmp_path, _config(cluster, {"token": TOKEN})), name="x")
    assert flat.document["clusters"][0]["cluster"] == HTTPS


def test_context_chooses_among_contexts(tmp_path: Path) -> None:
    config = _config(HTTPS, {"token": TOKEN})
    config["clusters"].append({"name": "c2", "cluster": {**HTTPS, "server": "https://other:443"}})
    config["contexts"].append({"name": "second", "context": {"cluster": "c2", "user": "u"}})
    path = _write(tmp_path, config)
    assert flatten_kubeconfig(path, name="x").server == "https://10.0.0.9:6443"
    assert flatten_kubeconfig(path, name="x", context="second").server == "https://other:443"


@pytest.mark.parametrize(
    ("cluster", "user", "current", "expected"),
    [
        (HTTPS, {"exec": {"command": "aws"}}, "ctx", "user.exec: kubeconfigs that run commands"),
        (HTTPS, {"auth-provider": {"name": "gcp"}}, "ctx", "user.auth-provider"),
        ({**HTTPS, "insecure-skip-tls-verify": True}, {}, "ctx", "insecure-skip-tls-verify"),
        ({"server": "http://10.0.0.9"}, {"token": TOKEN}, "ctx", "http:// server"),
        ({"certificate-authority-data": _b64(CA)}, {}, "ctx", "its cluster has no server"),
        (HTTPS, {"tokenFile": "missing-token"}, "ctx", "user.tokenFile: cannot read"),
        (HTTPS, {"token": TOKEN}, None, "no current-context set: choose one with --context"),
        (HTTPS, {"token": TOKEN}, "nope", "context 'nope' is not defined"),
    ],
    ids=["exec", "auth-provider", "insecure", "http", "no-server", "file", "no-context", "unknown"],
)
def test_refusals_name_the_field_and_never_a_secret(
    tmp_path: Path,
    cluster: dict[str, Any],
    user: dict[str, Any],
    current: str | None,
    expected: str,
) -> None:
    path = _write(tmp_path, _config(cluster, {**user, "password": TOKEN}, current=current))
    with pytest.raises(KubeconfigError) as caught:
        flatten_kubeconfig(path, name="x")
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_file_that_is_not_yaml_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(f"token: [{TOKEN}\n")
    with pytest.raises(KubeconfigError, match="not valid YAML") as caught:
        flatten_kubeconfig(path, name="x")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("server", "shown"),
    [
        ("https://10.0.0.9:6443", "https://10.0.0.9:6443"),
        ("https://admin:hunter2@10.0.0.9:6443/k8s", "https://10.0.0.9:6443/k8s"),
    ],
)
def test_a_server_is_shown_without_user_or_password(server: str, shown: str) -> None:
    assert shown_server(server) == shown


def test_the_server_of_a_stored_kubeconfig_is_its_current_contexts(tmp_path: Path) -> None:
    flat = flatten_kubeconfig(_write(tmp_path, _config(HTTPS, {"token": TOKEN})), name="x")
    assert kubeconfig_server(flat.text) == "https://10.0.0.9:6443"
    assert kubeconfig_server("clusters: [") == ""
