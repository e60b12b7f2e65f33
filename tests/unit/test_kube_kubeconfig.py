"""Kubeconfigs from the store must be self-contained and safe; each refusal names its field."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kube.errors import KubeconfigError
from shared.kube.kubeconfig import client_from_dict, client_from_kubeconfig


def kubeconfig(user: dict[str, Any], cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "clusters": [
            {"name": "c", "cluster": {"server": "https://127.0.0.1:1", **(cluster or {})}}
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


@pytest.mark.parametrize(
    ("user", "cluster", "message"),
    [
        ({"tokenFile": "/var/run/token"}, {}, "user.tokenFile: .* inline as user.token"),
        (
            {"client-certificate": "/etc/c.pem", "client-key-data": "aGk="},
            {},
            "user.client-certificate: .* inline as user.client-certificate-data",
        ),
        (
            {"client-key": "/etc/k.pem", "client-certificate-data": "aGk="},
            {},
            "user.client-key: .* inline as user.client-key-data",
        ),
        (
            {"token": "t"},
            {"certificate-authority": "/etc/ca.pem"},
            "cluster.certificate-authority: .* inline as cluster.certificate-authority-data",
        ),
        ({"exec": {"command": "aws"}}, {}, "user.exec: kubeconfigs that run commands"),
        ({"auth-provider": {"name": "gcp"}}, {}, "user.auth-provider: .* use user.token"),
        (
            {"token": "t"},
            {"insecure-skip-tls-verify": True},
            "cluster.insecure-skip-tls-verify: .* cluster.certificate-authority-data",
        ),
        (
            {"token": "t"},
            {"server": "http://127.0.0.1:1"},
            "cluster.server: an http:// server .* SLUICE_ALLOW_HTTP_CLUSTERS",
        ),
        ({"token": "t"}, {"server": "ftp://127.0.0.1:1"}, "cluster.server: scheme 'ftp'"),
        ({"client-key-data": "aGk="}, {}, "must be given together"),
        ({"client-certificate-data": "###", "client-key-data": "aGk="}, {}, "not valid base64"),
    ],
)
def test_unsafe_or_broken_kubeconfigs_are_refused_by_field(
    user: dict[str, Any], cluster: dict[str, Any], message: str
) -> None:
    with pytest.raises(KubeconfigError, match=message):
        client_from_dict(kubeconfig(user, cluster))


def test_the_file_is_refused_before_anything_reads_it(tmp_path: Any) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file")
    token.chmod(0)  # reading it would fail differently
    with pytest.raises(KubeconfigError, match=r"user\.tokenFile"):
        client_from_dict(kubeconfig({"tokenFile": str(token)}))


@pytest.mark.parametrize(
    ("user", "cluster"),
    [
        ({"token": "t"}, {"server": "http://127.0.0.1:1"}),
        ({"username": "u", "password": "p"}, {"server": "http://127.0.0.1:1"}),
    ],
)
def test_an_http_server_is_allowed_only_by_the_setting(
    user: dict[str, Any], cluster: dict[str, Any]
) -> None:
    with pytest.raises(KubeconfigError, match=r"cluster\.server"):
        client_from_dict(kubeconfig(user, cluster))
    client = client_from_dict(kubeconfig(user, cluster), allow_http=True)
    try:
        assert client.host == "http://127.0.0.1:1"
    finally:
        client.close()


def test_the_http_setting_does_not_allow_files() -> None:
    config = kubeconfig({"tokenFile": "/t"}, {"server": "http://127.0.0.1:1"})
    with pytest.raises(KubeconfigError, match=r"user\.tokenFile"):
        client_from_dict(config, allow_http=True)


def test_a_kubeconfig_parse_error_never_echoes_its_text() -> None:
    secret = "token: s3cr3t-value\n  bad: [indent"
    with pytest.raises(KubeconfigError) as caught:
        client_from_kubeconfig(f"users:\n- name: u\n  user:\n    {secret}")
    assert "s3cr3t" not in str(caught.value) and caught.value.__cause__ is None
    assert "line" in str(caught.value)


def test_kubeconfig_without_the_context_asked_for_is_refused() -> None:
    with pytest.raises(KubeconfigError, match="context 'other' is not defined"):
        client_from_dict({"contexts": [], "current-context": "x"}, context="other")
