"""OCIRepository reconciles in-process against a real docker-registry and Redis.

Artifacts come from ``sluice push artifact`` (the CLI, as a user runs it),
from a manifest, config and layer written by hand in Flux's layout, and from
``helm push``; each test checks what a user would: the revision, the files
in the artifact, the registry's own count of downloads, the condition.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.source.oci.ocirepository import OCI_REPOSITORY
from services.source.reconcile import reconcile_source
from shared.archive import extract_tarball
from shared.keys import ObjectKey
from shared.scheduler import DUE
from shared.settings import Settings
from shared.worker import WorkerContext
from tests import sources
from tests.fixtures.workers import worker_context
from tests.servers.registry import OciRegistry
from tests.sluicecli import run_sluice, sluice_env
from tests.sources import NOT_DUE, NS, apply_secret, apply_source, push_chart

FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "source")


@pytest.fixture
def registry(tmp_path: Path) -> Any:
    """docker-registry logging every request, so tests can count downloads."""
    server = OciRegistry(tmp_path / "registry", access_log=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_registry(tmp_path: Path) -> Any:
    server = OciRegistry(tmp_path / "private", username="bot", password="s3cret-pass")
    server.start()
    yield server
    server.stop()


def _oci_repository(ctx: WorkerContext, url: str, name: str = "app", **spec: Any) -> ObjectKey:
    spec = {"interval": "5m", "url": url, **spec}
    return apply_source(ctx, "OCIRepository", name, spec, tracked=True)


def _artifact_files(ctx: WorkerContext, key: ObjectKey, into: Path) -> dict[str, str]:
    artifact = sources.status(ctx, key)["artifact"]
    extract_tarball(ctx.settings.artifact_dir / artifact["path"], into)
    return {
        p.relative_to(into).as_posix(): p.read_text()
        for p in sorted(into.rglob("*"))
        if p.is_file()
    }


def _sluice_push(tmp_path: Path, registry: OciRegistry, tag: str, tree: dict[str, str]) -> str:
    """``sluice push artifact`` of a directory holding ``tree``; the digest it prints."""
    src = tmp_path / f"src-{tag}"
    for name, text in tree.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    env = sluice_env("redis://127.0.0.1:1/0", tmp_path)
    result = run_sluice(
        env,
        "push",
        "artifact",
        f"oci://{registry.host}/fleet/apps:{tag}",
        "--path",
        str(src),
        "--source",
        "https://github.com/org/fleet",
        "--revision",
        f"main@sha1:{'a' * 40}",
    )
    assert result.returncode == 0, result.stderr
    digest = result.stdout.strip()
    assert digest.startswith("sha256:")
    return digest


def _tar_gz(entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return gzip.compress(buffer.getvalue(), mtime=0)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_by_hand(registry: OciRegistry, repo: str, tag: str, layer: bytes) -> str:
    """A manifest, config and layer in Flux's layout, pushed with the registry API alone."""
    config = b'{"architecture":"","created":"2025-01-01T00:00:00Z","os":"","rootfs":{}}'
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": FLUX_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": FLUX_CONTENT, "digest": _digest(layer), "size": len(layer)}],
            "annotations": {
                "org.opencontainers.image.created": "2025-01-01T00:00:00Z",
                "org.opencontainers.image.source": "https://github.com/org/by-hand",
                "org.opencontainers.image.revision": f"v1@sha1:{'b' * 40}",
            },
        }
    ).encode()
    with httpx.Client(base_url=registry.url) as client:
        for blob in (config, layer):
            started = client.post(f"/v2/{repo}/blobs/uploads/")
            assert started.status_code == 202
            location = httpx.URL(registry.url).join(started.headers["Location"])
            put = client.put(location.copy_merge_params({"digest": _digest(blob)}), content=blob)
            assert put.status_code == 201
        put = client.put(
            f"/v2/{repo}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201
    return _digest(manifest)


def test_an_artifact_pushed_by_sluice_is_ready_with_flux_revision_and_content(
    ctx: WorkerContext, registry: OciRegistry, tmp_path: Path
) -> None:
    digest = _sluice_push(
        tmp_path,
        registry,
        "v1.0.0",
        {"apps/cm.yaml": "kind: ConfigMap\n", ".sourceignore": "secret/\n", "secret/x": "no"},
    )
    key = _oci_repository(ctx, f"oci://{registry.host}/fleet/apps", ref={"tag": "v1.0.0"})
    reconcile_source(ctx, key, OCI_REPOSITORY)
    assert sources.ready(ctx, key)["status"] == "True"
    status = sources.status(ctx, key)
    artifact = status["artifact"]
    assert artifact["revision"] == f"v1.0.0@{digest}"
    assert artifact["path"] == f"ocirepository/{NS}/app/{digest.removeprefix('sha256:')}.tar.gz"
    assert artifact["metadata"]["org.opencontainers.image.source"] == "https://github.com/org/fleet"
    assert artifact["metadata"]["org.opencontainers.image.revision"] == f"main@sha1:{'a' * 40}"
    assert status["url"] == artifact["url"].rsplit("/", 1)[0] + "/latest.tar.gz"
    latest = ctx.settings.artifact_dir / f"ocirepository/{NS}/app/latest.tar.gz"
    assert latest.read_bytes() == (ctx.settings.artifact_dir / artifact["path"]).read_bytes()
    files = _artifact_files(ctx, key, tmp_path / "out")
    assert files == {"apps/cm.yaml": "kind: ConfigMap\n", ".sourceignore": "secret/\n"}


def test_an_artifact_built_by_hand_in_flux_layout_is_read(
    ctx: WorkerContext, registry: OciRegistry, tmp_path: Path
) -> None:
    layer = _tar_gz({"deploy/app.yaml": b"kind: Deployment\n", "logo.png": b"\x89PNG"})
    digest = _push_by_hand(registry, "by/hand", "latest", layer)
    key = _oci_repository(ctx, f"oci://{registry.host}/by/hand", ignore="*.png\n")
    reconcile_source(ctx, key, OCI_REPOSITORY)
    status = sources.status(ctx, key)
    assert status["artifact"]["revision"] == f"latest@{digest}"
    assert status["observedIgnore"] == "*.png\n"
    assert _artifact_files(ctx, key, tmp_path / "out") == {"deploy/app.yaml": "kind: Deployment\n"}


def test_a_new_semver_tag_and_a_new_push_to_the_same_tag_are_new_artifacts(
    ctx: WorkerContext, registry: OciRegistry, tmp_path: Path
) -> None:
    _sluice_push(tmp_path, registry, "1.0.0", {"a.yaml": "v: 1\n"})
    _sluice_push(tmp_path, registry, "2.0.0", {"a.yaml": "v: 2\n"})
    key = _oci_repository(
        ctx, f"oci://{registry.host}/fleet/apps", ref={"semver": "1.x", "tag": "2.0.0"}
    )
    reconcile_source(ctx, key, OCI_REPOSITORY)
    assert sources.status(ctx, key)["artifact"]["revision"].startswith("1.0.0@sha256:")
    newer = _sluice_push(tmp_path, registry, "1.1.0", {"a.yaml": "v: 1.1\n"})
    reconcile_source(ctx, key, OCI_REPOSITORY)
    assert sources.status(ctx, key)["artifact"]["revision"] == f"1.1.0@{newer}"
    again = _sluice_push(tmp_path, registry, "1.1.0", {"a.yaml": "v: 1.1.1\n"})
    assert again != newer
    reconcile_source(ctx, key, OCI_REPOSITORY)
    assert sources.status(ctx, key)["artifact"]["revision"] == f"1.1.0@{again}"
    assert _artifact_files(ctx, key, tmp_path / "out") == {"a.yaml": "v: 1.1.1\n"}
    events = [e.type for _, e in ctx.events.read() if e.object == key]
    assert events.count("artifact-ready") == 3


def test_an_unchanged_interval_downloads_no_blob(
    ctx: WorkerContext, registry: OciRegistry, tmp_path: Path
) -> None:
    _sluice_push(tmp_path, registry, "stable", {"a.yaml": "v: 1\n"})
    key = _oci_repository(ctx, f"oci://{registry.host}/fleet/apps", ref={"tag": "stable"})
    reconcile_source(ctx, key, OCI_REPOSITORY)
    blobs, manifests = registry.requests("GET", "/blobs/"), registry.requests("GET", "/manifests/")
    assert blobs == 1  # the layer, once
    before = sources.status(ctx, key)["artifact"]
    for _ in range(3):
        reconcile_source(ctx, key, OCI_REPOSITORY)
    assert registry.requests("GET", "/blobs/") == blobs
    assert registry.requests("GET", "/manifests/") == manifests
    assert registry.requests("HEAD", "/manifests/stable") >= 4
    assert sources.status(ctx, key)["artifact"] == before
    assert sources.ready(ctx, key)["reason"] == "ArtifactUpToDate"


def test_credentials_from_a_dockerconfigjson_secret_and_wrong_ones_never_shown(
    ctx: WorkerContext, private_registry: OciRegistry
) -> None:
    private_registry.push_image("private/app", "latest")

    def secret(name: str, password: str) -> None:
        auth = base64.b64encode(f"bot:{password}".encode()).decode()
        config = json.dumps({"auths": {private_registry.host: {"auth": auth}}}).encode()
        data = {".dockerconfigjson": config}
        apply_secret(ctx, name, data, type="kubernetes.io/dockerconfigjson")

    secret("good", "s3cret-pass")
    secret("bad", "not-the-pass")
    url = f"oci://{private_registry.host}/private/app"
    good = _oci_repository(ctx, url, "good", secretRef={"name": "good"})
    reconcile_source(ctx, good, OCI_REPOSITORY)
    assert sources.ready(ctx, good)["status"] == "True"
    bad = _oci_repository(ctx, url, "bad", secretRef={"name": "bad"})
    reconcile_source(ctx, bad, OCI_REPOSITORY)
    ready = sources.ready(ctx, bad)
    assert (ready["status"], ready["reason"]) == ("False", "OCIArtifactPullFailed")
    assert "UNAUTHORIZED" in ready["message"] or "401" in ready["message"]
    conditions = {c["type"]: c for c in sources.status(ctx, bad)["conditions"]}
    assert conditions["FetchFailed"]["reason"] == "OCIArtifactPullFailed"
    shown = json.dumps(sources.status(ctx, bad)) + "".join(e.message for _, e in ctx.events.read())
    assert (
        "not-the-pass" not in shown and base64.b64encode(b"bot:not-the-pass").decode() not in shown
    )
    anonymous = _oci_repository(ctx, url, "anonymous")
    reconcile_source(ctx, anonymous, OCI_REPOSITORY)
    assert sources.ready(ctx, anonymous)["reason"] == "OCIArtifactPullFailed"


def test_a_layer_entry_escaping_its_root_is_refused(
    ctx: WorkerContext, registry: OciRegistry, tmp_path: Path
) -> None:
    layer = _tar_gz({"ok.yaml": b"a: 1\n", "../../escape.yaml": b"pwned: true\n"})
    _push_by_hand(registry, "evil/app", "latest", layer)
    key = _oci_repository(ctx, f"oci://{registry.host}/evil/app")
    reconcile_source(ctx, key, OCI_REPOSITORY)
    ready = sources.ready(ctx, key)
    assert (ready["status"], ready["reason"]) == ("False", "OCIArtifactLayerOperationFailed")
    assert "leaves the destination" in ready["message"]
    assert "artifact" not in sources.status(ctx, key)
    assert not list(tmp_path.rglob("escape.yaml"))
    env = sluice_env("redis://127.0.0.1:1/0", tmp_path)
    pulled = run_sluice(env, "pull", "artifact", f"oci://{registry.host}/evil/app:latest",
                        "--output", str(tmp_path / "pulled"))  # fmt: skip
    assert pulled.returncode == 1 and "leaves the destination" in pulled.stderr
    assert not list(tmp_path.rglob("escape.yaml"))
    linked = _tar_gz({"ok.yaml": b"a: 1\n"}, links={"passwd": "/etc/passwd"})
    _push_by_hand(registry, "evil/link", "latest", linked)
    key = _oci_repository(ctx, f"oci://{registry.host}/evil/link", "link")
    reconcile_source(ctx, key, OCI_REPOSITORY)
    assert sources.ready(ctx, key)["reason"] == "OCIArtifactLayerOperationFailed"


def test_a_helm_chart_pushed_by_helm_is_copied_by_its_layer_media_type(
    ctx: WorkerContext, registry: OciRegistry, tmp_path: Path
) -> None:
    to = f"oci://{registry.host}/charts"
    tgz = push_chart(tmp_path, name="podinfo", version="6.5.0", to=to)
    key = _oci_repository(
        ctx,
        f"oci://{registry.host}/charts/podinfo",
        ref={"semver": ">=6.0.0"},
        layerSelector={"mediaType": HELM_CHART, "operation": "copy"},
    )
    reconcile_source(ctx, key, OCI_REPOSITORY)
    status = sources.status(ctx, key)
    assert status["artifact"]["revision"].startswith("6.5.0@sha256:")
    stored = ctx.settings.artifact_dir / status["artifact"]["path"]
    assert stored.read_bytes() == tgz.read_bytes()
    assert status["observedLayerSelector"] == {"mediaType": HELM_CHART, "operation": "copy"}


EXAMPLE = Path(__file__).parents[1] / "data" / "flux2-kustomize-helm-example"


@pytest.mark.parametrize(
    ("document", "registry_path", "chart", "versions", "expected"),
    [
        ("cert-manager.yaml", "quay.io/jetstack/charts", "cert-manager",
         ["v1.18.2", "v1.19.1", "v2.0.0-alpha.1"], "v1.19.1"),
        ("envoy-gateway.yaml", "docker.io/envoyproxy", "gateway-helm",
         ["0.0.0-latest", "v1.7.2", "v1.8.0-rc.1", "v1.8.0"], "v1.8.0"),
    ],
)  # fmt: skip
def test_the_flux_example_repository_oci_repositories_read_helm_pushed_charts(
    ctx: WorkerContext,
    registry: OciRegistry,
    tmp_path: Path,
    document: str,
    registry_path: str,
    chart: str,
    versions: list[str],
    expected: str,
) -> None:
    """The example's exact documents, their public registry swapped for the local one."""
    namespace_of = registry_path.split("/", 1)[1]
    for version in versions:
        push_chart(
            tmp_path, name=chart, version=version, to=f"oci://{registry.host}/{namespace_of}"
        )
    text = (EXAMPLE / "infrastructure" / "controllers" / document).read_text()
    (doc,) = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "OCIRepository"]
    doc["spec"]["url"] = doc["spec"]["url"].replace(
        f"oci://{registry_path}", f"oci://{registry.host}/{namespace_of}"
    )
    ctx.store.apply(doc)
    key = ObjectKey("OCIRepository", doc["metadata"]["namespace"], doc["metadata"]["name"])
    ctx.client.zadd(DUE, {str(key): NOT_DUE})
    reconcile_source(ctx, key, OCI_REPOSITORY)
    status = sources.status(ctx, key)
    assert sources.ready(ctx, key)["status"] == "True", sources.ready(ctx, key)
    assert status["artifact"]["revision"].startswith(f"{expected}@sha256:")
    stored = ctx.settings.artifact_dir / status["artifact"]["path"]
    with tarfile.open(stored) as chart_tgz:
        assert f"{chart}/Chart.yaml" in chart_tgz.getnames()
