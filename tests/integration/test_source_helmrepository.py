"""HelmRepository reconciles in-process against a real Helm repository server and Redis.

The repository serves charts packaged by the pinned ``helm`` (``helm package``,
``helm repo index``), behind Basic auth and, where said, TLS; it counts what
it sends, so "fetched only when it changed" is measured on the wire.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.source.helm.helmindex import UNUSED_TTL
from services.source.helm.helmrepository import HELM_REPOSITORY
from services.source.reconcile import reconcile_source, storage_for
from shared.keys import ObjectKey
from shared.sandbox.certs import write_credentials
from shared.settings import Settings
from shared.worker import WorkerContext
from tests import sources
from tests.fixtures.registry import token_registry_at
from tests.fixtures.workers import worker_context
from tests.servers.helmrepo import HelmRepoServer, podinfo_repository
from tests.servers.registry import OciRegistry
from tests.servers.registryauth import TokenService
from tests.sources import NS, apply_secret, apply_source, conditions, stored

USER, PASSWORD = "charts", "s3cret-helm-pw"


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "source")


@pytest.fixture
def charts(tmp_path: Path) -> Iterator[HelmRepoServer]:
    root = tmp_path / "charts"
    with podinfo_repository(root, username=USER, password=PASSWORD) as server:
        yield server


def _helm_repository(
    ctx: WorkerContext, name: str, url: str, *, api_version: str = "v1", **spec: Any
) -> ObjectKey:
    spec = {"interval": "5m", "url": url, **spec}
    return apply_source(ctx, "HelmRepository", name, spec, api_version=api_version, tracked=True)


def _with_login(ctx: WorkerContext, name: str, url: str, **spec: Any) -> ObjectKey:
    apply_secret(ctx, "charts-auth", {"username": USER, "password": PASSWORD})
    return _helm_repository(ctx, name, url, secretRef={"name": "charts-auth"}, **spec)


def _conditions(ctx: WorkerContext, key: ObjectKey) -> dict[str, tuple[str, str, str]]:
    return conditions(stored(ctx, key))


def _index_digest(server: HelmRepoServer) -> str:
    return "sha256:" + hashlib.sha256((server.root / "index.yaml").read_bytes()).hexdigest()


def test_the_index_is_stored_with_its_digest_as_revision(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    key = _with_login(ctx, "podinfo", charts.url)
    reconcile_source(ctx, key, HELM_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["Ready"][:2] == ("True", "Succeeded")
    assert conditions["ArtifactInStorage"][:2] == ("True", "Succeeded")
    status = sources.status(ctx, key)
    revision = _index_digest(charts)
    artifact = status["artifact"]
    assert artifact["revision"] == revision
    hex_ = revision.removeprefix("sha256:")
    assert artifact["path"] == f"helmrepository/{NS}/podinfo/index-{hex_}.yaml"
    # The artifact is the index as JSON, as Flux stores it; status.url is its index.yaml link.
    assert status["url"] == f"{ctx.settings.artifact_url}/helmrepository/{NS}/podinfo/index.yaml"
    storage = storage_for(ctx)
    stored = json.loads(storage.local_path(artifact["path"]).read_bytes())
    assert [v["version"] for v in stored["entries"]["podinfo"]] == ["6.0.0"]
    link = ctx.settings.artifact_dir / "helmrepository" / NS / "podinfo" / "index.yaml"
    assert link.read_bytes() == storage.local_path(artifact["path"]).read_bytes()
    assert [e.type for _, e in ctx.events.read()] == ["revision-changed", "artifact-ready"]


def test_a_new_chart_version_is_a_new_artifact_and_revision(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    key = _with_login(ctx, "podinfo", charts.url)
    reconcile_source(ctx, key, HELM_REPOSITORY)
    first = sources.status(ctx, key)["artifact"]
    charts.add_chart("podinfo", "6.1.0")
    reconcile_source(ctx, key, HELM_REPOSITORY)
    second = sources.status(ctx, key)["artifact"]
    assert second["revision"] == _index_digest(charts) != first["revision"]
    stored = json.loads(storage_for(ctx).local_path(second["path"]).read_bytes())
    assert [v["version"] for v in stored["entries"]["podinfo"]] == ["6.1.0", "6.0.0"]
    changed = [e for _, e in ctx.events.read() if e.type == "revision-changed"]
    assert [e.revision for e in changed] == [first["revision"], second["revision"]]


def test_unchanged_intervals_download_nothing(ctx: WorkerContext, charts: HelmRepoServer) -> None:
    key = _with_login(ctx, "podinfo", charts.url)
    for _ in range(3):
        reconcile_source(ctx, key, HELM_REPOSITORY)
    assert charts.downloads() == 1
    assert charts.not_modified() == 2
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "ArtifactUpToDate")
    assert [e.type for _, e in ctx.events.read()] == ["revision-changed", "artifact-ready"]


def test_unchanged_index_without_validators_keeps_the_artifact(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    server = HelmRepoServer(tmp_path / "plain", validators=False)
    server.start()
    try:
        server.add_chart("app", "1.0.0")
        key = _helm_repository(ctx, "plain", server.url)
        reconcile_source(ctx, key, HELM_REPOSITORY)
        reconcile_source(ctx, key, HELM_REPOSITORY)
    finally:
        server.stop()
    # Without ETag/Last-Modified the body comes again, but the same digest stores nothing new.
    assert server.downloads() == 2
    assert len([e for _, e in ctx.events.read() if e.type == "artifact-ready"]) == 1


def test_two_repositories_of_one_url_share_one_download(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    first = _with_login(ctx, "one", charts.url)
    second = _with_login(ctx, "two", charts.url + "/")
    reconcile_source(ctx, first, HELM_REPOSITORY)
    reconcile_source(ctx, second, HELM_REPOSITORY)
    assert charts.downloads() == 1
    revisions = {sources.status(ctx, k)["artifact"]["revision"] for k in (first, second)}
    assert revisions == {_index_digest(charts)}
    # One cached copy on this machine, in a folder whose name is no secret.
    cached = [p for p in (ctx.settings.cache_dir / "helm-index").iterdir() if p.is_dir()]
    assert len(cached) == 1 and PASSWORD not in cached[0].name


def test_concurrent_reconciles_of_one_url_take_turns_for_one_download(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    keys = [_with_login(ctx, f"repo-{i}", charts.url) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda key: reconcile_source(ctx, key, HELM_REPOSITORY), keys))
    assert charts.downloads() == 1
    assert charts.not_modified() == 3
    assert {sources.status(ctx, k)["artifact"]["revision"] for k in keys} == {_index_digest(charts)}


def test_a_cache_entry_unused_for_a_week_is_removed(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    old = _with_login(ctx, "old", charts.url)
    reconcile_source(ctx, old, HELM_REPOSITORY)
    cache = ctx.settings.cache_dir / "helm-index"
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    week_ago = time.time() - UNUSED_TTL - 60
    os.utime(entry, (week_ago, week_ago))
    key = _helm_repository(ctx, "anonymous", charts.url)  # another login, another entry
    reconcile_source(ctx, key, HELM_REPOSITORY)
    assert not entry.exists()
    reconcile_source(ctx, old, HELM_REPOSITORY)
    assert charts.downloads() == 2


def test_wrong_password_fails_as_flux_without_the_secret(
    ctx: WorkerContext, charts: HelmRepoServer, caplog: pytest.LogCaptureFixture
) -> None:
    apply_secret(ctx, "bad-auth", {"username": USER, "password": "wrong-pw-123"})
    key = _helm_repository(ctx, "podinfo", charts.url, secretRef={"name": "bad-auth"})
    with caplog.at_level(logging.DEBUG):
        reconcile_source(ctx, key, HELM_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["FetchFailed"][:2] == ("True", "Failed")
    status, reason, message = conditions["Ready"]
    assert (status, reason) == ("False", "Failed")
    assert message == (
        f"failed to fetch Helm repository index: failed to fetch {charts.url}/index.yaml "
        ": 401 Unauthorized"
    )
    assert conditions["Reconciling"][:2] == ("True", "ProgressingWithRetry")
    events = [e for _, e in ctx.events.read()]
    everything = str(sources.status(ctx, key)) + str(events) + caplog.text
    assert "wrong-pw-123" not in everything and PASSWORD not in everything


def test_an_index_slower_than_the_timeout_fails_the_fetch(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    # Every piece arrives well within the timeout; the whole index does not.
    server = HelmRepoServer(tmp_path / "slow", slow_seconds=3.0)
    server.start()
    try:
        server.add_chart("app", "1.0.0")
        key = _helm_repository(ctx, "slow", server.url, timeout="1s")
        reconcile_source(ctx, key, HELM_REPOSITORY)
    finally:
        server.stop()
    conditions = _conditions(ctx, key)
    assert conditions["FetchFailed"][:2] == ("True", "Failed")
    assert "the index did not arrive within the timeout" in conditions["Ready"][2]


def test_an_index_that_drips_stops_at_the_timeout_not_at_its_end(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    # Pieces come every 1.5 s (within the 2 s timeout of each read) for 12 s:
    # the fetch must give up at the timeout, not when the body ends (or never).
    server = HelmRepoServer(tmp_path / "drip", slow_seconds=12.0)
    server.start()
    try:
        server.add_chart("app", "1.0.0")
        key = _helm_repository(ctx, "drip", server.url, timeout="2s")
        started = time.monotonic()
        reconcile_source(ctx, key, HELM_REPOSITORY)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert "the index did not arrive within the timeout" in _conditions(ctx, key)["Ready"][2]
    assert elapsed < 8, elapsed


def test_a_missing_secret_is_authentication_failed(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    key = _helm_repository(ctx, "podinfo", charts.url, secretRef={"name": "absent"})
    reconcile_source(ctx, key, HELM_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["FetchFailed"][:2] == ("True", "AuthenticationFailed")
    assert "'flux-system/absent'" in conditions["Ready"][2]


@pytest.fixture
def tls_charts(tmp_path: Path) -> Iterator[tuple[HelmRepoServer, bytes]]:
    creds = write_credentials(tmp_path / "pki")
    server = HelmRepoServer(
        tmp_path / "tls-charts", cert_file=creds.serving_cert, key_file=creds.serving_key
    )
    server.start()
    server.add_chart("secure", "0.1.0")
    yield server, creds.ca_cert.read_bytes()
    server.stop()


@pytest.mark.parametrize(
    ("data_key", "ref"),
    [("ca.crt", "certSecretRef"), ("caFile", "secretRef")],  # caFile: the deprecated key
)
def test_tls_with_the_ca_from_cert_secret_ref_or_the_deprecated_ca_file_key_works(
    ctx: WorkerContext, tls_charts: tuple[HelmRepoServer, bytes], data_key: str, ref: str
) -> None:
    server, ca = tls_charts
    apply_secret(ctx, "charts-ca", {data_key: ca})
    key = _helm_repository(ctx, "secure", server.url, **{ref: {"name": "charts-ca"}})
    reconcile_source(ctx, key, HELM_REPOSITORY)
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "Succeeded")
    assert sources.status(ctx, key)["artifact"]["revision"] == _index_digest(server)


def test_tls_without_the_ca_fails_with_a_clear_message(
    ctx: WorkerContext, tls_charts: tuple[HelmRepoServer, bytes]
) -> None:
    server, _ = tls_charts
    key = _helm_repository(ctx, "secure", server.url)
    reconcile_source(ctx, key, HELM_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["FetchFailed"][:2] == ("True", "Failed")
    message = conditions["Ready"][2]
    assert "TLS certificate verification failed" in message
    assert "ca.crt in the Secret named by spec.certSecretRef" in message


def _client_pair(ca_cert: Path, ca_key: Path) -> tuple[bytes, bytes]:
    """A client certificate and key signed by the sandbox CA, as PEM."""
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    signer = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sluice")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_a_client_certificate_from_cert_secret_ref_passes_mutual_tls(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    creds = write_credentials(tmp_path / "pki")
    server = HelmRepoServer(
        tmp_path / "mtls",
        cert_file=creds.serving_cert,
        key_file=creds.serving_key,
        client_ca_file=creds.ca_cert,
    )
    server.start()
    try:
        server.add_chart("secure", "0.1.0")
        cert, key = _client_pair(creds.ca_cert, tmp_path / "pki" / "ca.key")
        ca = creds.ca_cert.read_bytes()
        apply_secret(ctx, "with-pair", {"ca.crt": ca, "tls.crt": cert, "tls.key": key})
        apply_secret(ctx, "ca-only", {"ca.crt": ca})
        paired = _helm_repository(ctx, "paired", server.url, certSecretRef={"name": "with-pair"})
        unpaired = _helm_repository(ctx, "unpaired", server.url, certSecretRef={"name": "ca-only"})
        reconcile_source(ctx, paired, HELM_REPOSITORY)
        reconcile_source(ctx, unpaired, HELM_REPOSITORY)
    finally:
        server.stop()
    assert _conditions(ctx, paired)["Ready"][:2] == ("True", "Succeeded")
    assert _conditions(ctx, unpaired)["Ready"][:2] == ("False", "Failed")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tls.crt": b"x"}, "secret 'flux-system/tls' contains 'tls.crt' but missing 'tls.key'"),
        (
            {"ca.crt": b"not a certificate"},
            "failed to construct Helm client's TLS config from secret 'flux-system/tls': "
            "cannot load the TLS certificates",
        ),
        ({"username": b"u"}, "has no CA certificate ('ca.crt') or client certificate pair"),
    ],
)
def test_unusable_tls_material_is_authentication_failed(
    ctx: WorkerContext, data: dict[str, bytes], message: str
) -> None:
    apply_secret(ctx, "tls", data)
    key = _helm_repository(ctx, "tls", "https://127.0.0.1:1/charts", certSecretRef={"name": "tls"})
    reconcile_source(ctx, key, HELM_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["FetchFailed"][:2] == ("True", "AuthenticationFailed")
    assert message in conditions["Ready"][2]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html><body>Not a Helm repository</body></html>\n", "expected a YAML mapping"),
        (b"entries: {}\n", "no API version specified"),
        (b"apiVersion: v1\nentries: [\n", "failed to load index: "),
        (b"", "empty index.yaml file"),
    ],
)
def test_a_bad_index_is_indexation_failed(
    ctx: WorkerContext, tmp_path: Path, body: bytes, why: str
) -> None:
    server = HelmRepoServer(tmp_path / "bad")
    server.start()
    try:
        (server.root / "index.yaml").write_bytes(body)
        key = _helm_repository(ctx, "bad", server.url)
        reconcile_source(ctx, key, HELM_REPOSITORY)
    finally:
        server.stop()
    conditions = _conditions(ctx, key)
    assert conditions["FetchFailed"][:2] == ("True", "IndexationFailed")
    status, reason, message = conditions["Ready"]
    assert (status, reason) == ("False", "IndexationFailed")
    assert message.startswith("failed to load Helm repository from index YAML: ")
    assert why in message
    assert "artifact" not in sources.status(ctx, key)


def test_a_v1beta2_document_is_read(ctx: WorkerContext, charts: HelmRepoServer) -> None:
    key = _with_login(ctx, "old", charts.url, api_version="v1beta2")
    reconcile_source(ctx, key, HELM_REPOSITORY)
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "Succeeded")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[OciRegistry]:
    server = OciRegistry(tmp_path / "registry", username=USER, password=PASSWORD)
    server.start()
    yield server
    server.stop()


def _oci(ctx: WorkerContext, registry: OciRegistry, secret: str | None) -> ObjectKey:
    spec: dict[str, Any] = {"type": "oci", "insecure": True}
    if secret:
        spec["secretRef"] = {"name": secret}
    return _helm_repository(ctx, "oci-charts", f"oci://{registry.host}/charts", **spec)


def test_an_oci_repository_is_ready_when_the_registry_takes_the_login(
    ctx: WorkerContext, registry: OciRegistry
) -> None:
    apply_secret(ctx, "registry-auth", {"username": USER, "password": PASSWORD})
    key = _oci(ctx, registry, "registry-auth")
    reconcile_source(ctx, key, HELM_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["Ready"] == ("True", "Succeeded", "Helm repository is ready")
    assert "ArtifactInStorage" not in conditions and "Reconciling" not in conditions
    status = sources.status(ctx, key)
    assert "artifact" not in status and "url" not in status
    assert not (ctx.settings.artifact_dir / "helmrepository").exists()


def test_an_oci_login_from_a_dockerconfigjson_secret_works(
    ctx: WorkerContext, registry: OciRegistry
) -> None:
    login = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config = {"auths": {f"http://{registry.host}": {"auth": login}}}
    apply_secret(ctx, "registry-config", {".dockerconfigjson": json.dumps(config)})
    key = _oci(ctx, registry, "registry-config")
    reconcile_source(ctx, key, HELM_REPOSITORY)
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "Succeeded")


def test_a_wrong_oci_password_is_authentication_failed_without_the_secret(
    ctx: WorkerContext, registry: OciRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    apply_secret(ctx, "registry-auth", {"username": USER, "password": "wrong-pw-456"})
    key = _oci(ctx, registry, "registry-auth")
    with caplog.at_level(logging.DEBUG):
        reconcile_source(ctx, key, HELM_REPOSITORY)
    status, reason, message = _conditions(ctx, key)["Ready"]
    assert (status, reason) == ("False", "AuthenticationFailed")
    assert message == (
        f"failed to login to registry 'oci://{registry.host}/charts': "
        f"GET http://{registry.host}/v2/: UNAUTHORIZED: authentication required"
    )
    everything = (
        str(sources.status(ctx, key)) + str([e for _, e in ctx.events.read()]) + caplog.text
    )
    assert "wrong-pw-456" not in everything and PASSWORD not in everything


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[OciRegistry, TokenService]]:
    with token_registry_at(tmp_path, username=USER, password=PASSWORD) as running:
        yield running


@pytest.mark.parametrize(("password", "ready"), [(PASSWORD, True), ("wrong-pw-789", False)])
def test_an_oci_login_through_a_token_service_is_checked(
    ctx: WorkerContext,
    token_registry: tuple[OciRegistry, TokenService],
    password: str,
    ready: bool,
) -> None:
    registry, tokens = token_registry
    apply_secret(ctx, "registry-auth", {"username": USER, "password": password})
    key = _oci(ctx, registry, "registry-auth")
    reconcile_source(ctx, key, HELM_REPOSITORY)
    status, reason, message = _conditions(ctx, key)["Ready"]
    if ready:
        assert (status, reason, message) == ("True", "Succeeded", "Helm repository is ready")
        assert tokens.issued == 1  # and the registry took the token it issued
    else:
        assert (status, reason) == ("False", "AuthenticationFailed")
        assert message.endswith(
            f"the token service {tokens.realm} refused the credentials (HTTP 401)"
        )
        assert tokens.issued == 0 and password not in str(sources.status(ctx, key))


def test_an_oci_registry_that_does_not_answer_is_not_ready(
    ctx: WorkerContext, registry: OciRegistry
) -> None:
    registry.stop()
    key = _oci(ctx, registry, None)
    reconcile_source(ctx, key, HELM_REPOSITORY)
    status, reason, message = _conditions(ctx, key)["Ready"]
    assert (status, reason) == ("False", "Failed")
    assert message.startswith(f"failed to reach registry 'oci://{registry.host}/charts': ")


def test_a_repository_turned_oci_drops_its_index_artifact(
    ctx: WorkerContext, charts: HelmRepoServer, registry: OciRegistry
) -> None:
    key = _helm_repository(ctx, "oci-charts", charts.url, secretRef={"name": "registry-auth"})
    apply_secret(ctx, "registry-auth", {"username": USER, "password": PASSWORD})
    reconcile_source(ctx, key, HELM_REPOSITORY)
    assert "artifact" in sources.status(ctx, key)
    _oci(ctx, registry, "registry-auth")
    reconcile_source(ctx, key, HELM_REPOSITORY)
    assert "artifact" not in sources.status(ctx, key) and "url" not in sources.status(ctx, key)
    assert not (ctx.settings.artifact_dir / "helmrepository" / NS / "oci-charts").exists()


def test_an_oci_url_without_a_repository_path_stalls(ctx: WorkerContext) -> None:
    key = _helm_repository(ctx, "bare", "oci://127.0.0.1:5000", type="oci")
    reconcile_source(ctx, key, HELM_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["Stalled"][:2] == ("True", "URLInvalid")
    assert conditions["Ready"][:2] == ("False", "URLInvalid")
