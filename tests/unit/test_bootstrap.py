"""What ``sluice bootstrap git`` stores and commits, as tables."""

from __future__ import annotations

import base64

import pytest

from shared import yaml
from shared.bootstrap import Credentials, SyncOptions, secret_document, sync_documents, sync_files


@pytest.mark.parametrize(
    ("path", "in_spec", "sync_dir"),
    [
        ("clusters/staging", "./clusters/staging", "clusters/staging/flux-system"),
        ("./clusters/staging/", "./clusters/staging", "clusters/staging/flux-system"),
        ("/clusters/prod", "./clusters/prod", "clusters/prod/flux-system"),
    ],
)
def test_the_path_is_written_as_flux_writes_it(path: str, in_spec: str, sync_dir: str) -> None:
    options = SyncOptions("file:///repo.git", path)
    assert options.kustomization_path == in_spec
    assert options.sync_dir == sync_dir


def test_the_sync_documents_are_flux_bootstraps_gitrepository_and_kustomization() -> None:
    source, ks = sync_documents(
        SyncOptions("https://git.example/fleet", "clusters/prod", "main", 60, "flux-system")
    )
    assert source == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {
            "interval": "1m",
            "ref": {"branch": "main"},
            "secretRef": {"name": "flux-system"},
            "url": "https://git.example/fleet",
        },
    }
    assert ks["spec"] == {
        "interval": "10m",
        "path": "./clusters/prod",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
    }


@pytest.mark.parametrize("secret", [None, "creds"])
def test_the_committed_gotk_sync_holds_exactly_what_bootstrap_stores(secret: str | None) -> None:
    options = SyncOptions("ssh://git@host/fleet", "clusters/a", "dev", 300, secret)
    files = sync_files(options)
    assert set(files) == {
        "clusters/a/flux-system/gotk-sync.yaml",
        "clusters/a/flux-system/kustomization.yaml",
    }
    committed = [
        d
        for d in yaml.load_all(
            files["clusters/a/flux-system/gotk-sync.yaml"], source="gotk-sync.yaml"
        )
        if d
    ]
    assert committed == sync_documents(options)
    assert "- gotk-sync.yaml" in files["clusters/a/flux-system/kustomization.yaml"]


def test_credentials_go_into_the_secret_and_never_into_repr() -> None:
    creds = Credentials("git", "s3cret-pass", b"KEY", b"host ssh-ed25519 AAAA")
    assert "s3cret-pass" not in repr(creds)
    assert "KEY" not in repr(creds)
    data = secret_document("flux-system", creds)["data"]
    assert {k: base64.b64decode(v) for k, v in data.items()} == {
        "username": b"git",
        "password": b"s3cret-pass",
        "identity": b"KEY",
        "known_hosts": b"host ssh-ed25519 AAAA",
    }
    assert secret_document("x", Credentials("git", "p"))["data"].keys() == {"username", "password"}
