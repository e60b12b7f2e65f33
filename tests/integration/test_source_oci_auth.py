"""Registry authentication and TLS: bearer tokens (docker-registry's token auth), client
certificates from certSecretRef, and ``sluice push/pull artifact`` credentials."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.source.oci.ocirepository import OCI_REPOSITORY
from services.source.reconcile import reconcile_source
from shared.keys import ObjectKey
from shared.oci import (
    AuthenticationError,
    RegistryClient,
    RegistryCredentials,
    TlsMaterial,
    parse_reference,
    push_artifact,
)
from shared.settings import Settings
from shared.tarball import build_tarball
from shared.worker import WorkerContext
from tests import sources
from tests.fixtures.registry import token_registry_at
from tests.fixtures.workers import worker_context
from tests.servers.registry import OciRegistry
from tests.servers.registryauth import RegistryTls, TokenService
from tests.sluicecli import SLUICE, run_sluice, sluice_env
from tests.sources import apply_secret, apply_source, dockerconfigjson

PASSWORD = "t0ken-s3cret"


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "source")


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[OciRegistry, TokenService]]:
    with token_registry_at(tmp_path, username="ci-bot", password=PASSWORD) as running:
        yield running


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[OciRegistry]:
    registry = OciRegistry(tmp_path / "registry", tls=RegistryTls.create(tmp_path / "tls"))
    registry.start()
    yield registry
    registry.stop()


def _oci_repository(ctx: WorkerContext, url: str, name: str, **spec: Any) -> ObjectKey:
    spec = {"interval": "5m", "url": url, **spec}
    return apply_source(ctx, "OCIRepository", name, spec, tracked=True)


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "apps").mkdir(parents=True)
    (src / "apps" / "cm.yaml").write_text("kind: ConfigMap\n")
    return src


def test_bearer_tokens_for_push_and_pull_and_a_wrong_password_never_shown(
    ctx: WorkerContext, token_registry: tuple[OciRegistry, TokenService], tmp_path: Path
) -> None:
    registry, tokens = token_registry
    env = sluice_env("redis://127.0.0.1:1/0", tmp_path)
    url = f"oci://{registry.host}/team/app"
    revision = "v1@sha1:" + "d" * 40
    push = ("push", "artifact", f"{url}:v1", "--path", str(_tree(tmp_path)),
            "--source", "https://example.com/repo", "--revision", revision)  # fmt: skip
    anonymous = run_sluice(env, *push)
    assert anonymous.returncode == 1
    assert "pushing artifact failed" in anonymous.stderr
    in_argv = run_sluice(env, *push, "--creds", f"ci-bot:{PASSWORD}")
    assert in_argv.returncode == 1 and "--creds is refused" in in_argv.stderr
    assert PASSWORD not in in_argv.stderr
    pushed = run_sluice({**env, "SLUICE_OCI_CREDS": f"ci-bot:{PASSWORD}"}, *push)
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.strip()
    assert tokens.issued >= 1

    apply_secret(ctx, "good", dockerconfigjson(registry.host, "ci-bot", PASSWORD))
    good = _oci_repository(ctx, url, "good", ref={"tag": "v1"}, secretRef={"name": "good"})
    reconcile_source(ctx, good, OCI_REPOSITORY)
    assert sources.ready(ctx, good)["status"] == "True"
    assert sources.status(ctx, good)["artifact"]["revision"] == f"v1@{digest}"

    apply_secret(ctx, "bad", dockerconfigjson(registry.host, "ci-bot", "wrong-password"))
    bad = _oci_repository(ctx, url, "bad", ref={"tag": "v1"}, secretRef={"name": "bad"})
    reconcile_source(ctx, bad, OCI_REPOSITORY)
    ready = sources.ready(ctx, bad)
    assert (ready["status"], ready["reason"]) == ("False", "OCIArtifactPullFailed")
    assert "refused the credentials" in ready["message"]
    shown = json.dumps(sources.status(ctx, bad)) + "".join(e.message for _, e in ctx.events.read())
    assert "wrong-password" not in shown and PASSWORD not in shown
    ref = parse_reference(url)
    with RegistryClient(ref, credentials=RegistryCredentials("ci-bot", PASSWORD)) as client:
        client.login()
    with (
        pytest.raises(AuthenticationError, match="refused the credentials"),
        RegistryClient(ref, credentials=RegistryCredentials("ci-bot", "nope")) as client,
    ):
        client.login()


def test_tls_with_a_client_certificate_from_cert_secret_ref(
    ctx: WorkerContext, tls_registry: OciRegistry, tmp_path: Path
) -> None:
    tls = tls_registry.tls
    assert tls is not None
    material = TlsMaterial(
        ca_cert=tls.read("ca.crt"),
        client_cert=tls.read("client.crt"),
        client_key=tls.read("client.key"),
    )
    tarball = build_tarball(_tree(tmp_path), tmp_path / "a.tar.gz")
    ref = parse_reference(f"oci://{tls_registry.host}/secure/app:latest")
    with RegistryClient(ref, tls=material, push=True) as client:
        pushed = push_artifact(client, tarball.path, tag="latest", source="s", revision="r")
    url = f"oci://{tls_registry.host}/secure/app"
    apply_secret(
        ctx,
        "registry-tls",
        {
            "ca.crt": material.ca_cert,
            "tls.crt": material.client_cert,
            "tls.key": material.client_key,
        },
    )
    key = _oci_repository(ctx, url, "mtls", certSecretRef={"name": "registry-tls"})
    reconcile_source(ctx, key, OCI_REPOSITORY)
    assert sources.ready(ctx, key)["status"] == "True", sources.ready(ctx, key)
    assert sources.status(ctx, key)["artifact"]["revision"] == f"latest@{pushed.digest}"

    apply_secret(ctx, "ca-only", {"ca.crt": material.ca_cert})
    no_client = _oci_repository(ctx, url, "ca-only", certSecretRef={"name": "ca-only"})
    reconcile_source(ctx, no_client, OCI_REPOSITORY)
    assert sources.ready(ctx, no_client)["reason"] == "OCIArtifactPullFailed"
    untrusted = _oci_repository(ctx, url, "untrusted")
    reconcile_source(ctx, untrusted, OCI_REPOSITORY)
    ready = sources.ready(ctx, untrusted)
    assert ready["reason"] == "OCIArtifactPullFailed"
    assert "CERTIFICATE_VERIFY_FAILED" in ready["message"], ready["message"]


def test_insecure_accepts_a_certificate_no_ca_vouches_for(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    tls = RegistryTls.create(tmp_path / "tls", client_auth=False)
    registry = OciRegistry(tmp_path / "registry", tls=tls)
    registry.start()
    try:
        tarball = build_tarball(_tree(tmp_path), tmp_path / "a.tar.gz")
        ref = parse_reference(f"oci://{registry.host}/self-signed/app:latest")
        with RegistryClient(ref, tls=TlsMaterial(ca_cert=tls.read("ca.crt")), push=True) as client:
            push_artifact(client, tarball.path, tag="latest", source="s", revision="r")
        url = f"oci://{registry.host}/self-signed/app"
        strict = _oci_repository(ctx, url, "strict")
        reconcile_source(ctx, strict, OCI_REPOSITORY)
        assert "CERTIFICATE_VERIFY_FAILED" in sources.ready(ctx, strict)["message"]
        insecure = _oci_repository(ctx, url, "insecure", insecure=True)
        reconcile_source(ctx, insecure, OCI_REPOSITORY)
        assert sources.ready(ctx, insecure)["status"] == "True"
    finally:
        registry.stop()


def test_pull_artifact_extracts_what_push_artifact_pushed(
    oci_registry: OciRegistry, tmp_path: Path
) -> None:
    env = sluice_env("redis://127.0.0.1:1/0", tmp_path)
    src = _tree(tmp_path)
    (src / "logo.png").write_bytes(b"\x89PNG")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    url = f"oci://{oci_registry.host}/fleet/cfg:1.0.0"
    pushed = run_sluice(env, "push", "artifact", url, "--path", str(src), "--source", "s",
                        "--revision", "r", "--reproducible", "-o", "json")  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    info = json.loads(pushed.stdout)
    assert (
        info["tag"] == "1.0.0"
        and info["url"] == f"oci://{oci_registry.host}/fleet/cfg@{info['digest']}"
    )
    again = run_sluice(env, "push", "artifact", url, "--path", str(src), "--source", "s",
                       "--revision", "r", "--reproducible", "-o", "json")  # fmt: skip
    assert json.loads(again.stdout)["digest"] == info["digest"]  # same tree, same digest

    out = tmp_path / "pulled"
    pulled = run_sluice(env, "pull", "artifact", url, "--output", str(out))
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["apps", "apps/cm.yaml"]
    assert f"✔ digest {oci_registry.host}/fleet/cfg@{info['digest']}" in pulled.stderr
    refused = run_sluice(env, "pull", "artifact", url, "--output", str(out))
    assert refused.returncode == 1 and "expected an empty or new directory" in refused.stderr

    single = f"oci://{oci_registry.host}/fleet/one:1.0.0"
    manifest = src / "apps" / "cm.yaml"
    one = run_sluice(env, "push", "artifact", single, "--path", str(manifest), "--source", "s",
                     "--revision", "r")  # fmt: skip
    assert one.returncode == 0, one.stderr
    out = tmp_path / "one"
    assert run_sluice(env, "pull", "artifact", single, "--output", str(out)).returncode == 0
    assert [p.name for p in out.iterdir()] == ["cm.yaml"]

    piped = f"oci://{oci_registry.host}/fleet/piped:1.0.0"
    pushed = subprocess.run(
        [*SLUICE, "push", "artifact", piped, "-f", "-", "--source", "s", "--revision", "r"],
        input="kind: ConfigMap\n\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    out = tmp_path / "piped"
    assert run_sluice(env, "pull", "artifact", piped, "--output", str(out)).returncode == 0
    assert (out / "stdin.yaml").read_text() == "kind: ConfigMap"
