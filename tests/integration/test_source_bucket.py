"""A Bucket's reconcile in-process, against a real S3 server (versitygw) and Redis.

What a user checks: the artifact holds the bucket's objects at Flux's
revision, each change to the bucket becomes a new artifact, an unchanged
interval downloads no object body and a change downloads only the changed
object (both counted in the server's access log), and wrong keys or a
missing bucket fail with Flux's reason without showing the secret.
"""

from __future__ import annotations

import base64
import hashlib
import tarfile
from pathlib import Path
from typing import Any

import pytest

from services.source.bucket.bucket import BUCKET
from services.source.reconcile import reconcile_source, storage_for
from shared.keys import ObjectKey
from shared.settings import Settings
from shared.worker import WorkerContext
from tests import sources
from tests.fixtures.workers import worker_context
from tests.leaks import redis_bytes
from tests.servers.s3 import S3Server
from tests.sources import NS, apply_secret, apply_source, conditions, stored

NAME = "fleet-bucket"
APP = {
    "apps/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
    "apps/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n",
    "README.md": "# fleet\n",
}


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "source")


def _bucket(ctx: WorkerContext, server: S3Server, bucket: str, **spec: Any) -> ObjectKey:
    apply_secret(ctx, "s3-keys", {"accesskey": server.access_key, "secretkey": server.secret_key})
    spec = {
        "interval": "5m",
        "endpoint": server.endpoint,
        "bucketName": bucket,
        "insecure": not server.tls,
        "secretRef": {"name": "s3-keys"},
        **spec,
    }
    return apply_source(ctx, "Bucket", NAME, spec, tracked=True)


def _reconciled_bucket(ctx: WorkerContext, server: S3Server, objects: dict[str, str]) -> ObjectKey:
    """Bucket ``fleet`` on ``server`` holding ``objects``; its Bucket object, reconciled once."""
    server.create_bucket("fleet")
    server.put_all("fleet", objects)
    key = _bucket(ctx, server, "fleet")
    reconcile_source(ctx, key, BUCKET)
    return key


def _conditions(ctx: WorkerContext, key: ObjectKey) -> dict[str, tuple[str, str, str]]:
    return conditions(stored(ctx, key))


def _artifact_files(ctx: WorkerContext, key: ObjectKey) -> dict[str, str]:
    artifact = sources.status(ctx, key)["artifact"]
    path = storage_for(ctx).local_path(artifact["path"])
    with tarfile.open(path) as tar:
        return {
            member.name: tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }


def _flux_revision(server: S3Server, bucket: str, *, prefix: str | None = None) -> str:
    """What source-controller computes: sha256 of sorted "<key> <etag>" lines."""
    listing = server.client().list_objects(bucket, prefix=prefix, recursive=True)
    indexed = [o for o in listing if o.object_name != ".sourceignore"]
    lines = sorted(f"{o.object_name} {o.etag}\n" for o in indexed)
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def test_a_bucket_becomes_ready_with_its_objects_at_fluxs_revision(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    key = _reconciled_bucket(ctx, s3_server, APP)
    conditions = _conditions(ctx, key)
    assert conditions["Ready"][:2] == ("True", "Succeeded")
    assert conditions["ArtifactInStorage"][:2] == ("True", "Succeeded")
    artifact = sources.status(ctx, key)["artifact"]
    revision = _flux_revision(s3_server, "fleet")
    assert artifact["revision"] == revision
    assert artifact["path"].endswith(f"/{revision.removeprefix('sha256:')}.tar.gz")
    assert _artifact_files(ctx, key) == APP
    assert [e.type for _, e in ctx.events.read()] == ["revision-changed", "artifact-ready"]


def test_an_unchanged_interval_downloads_no_object_body(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    key = _reconciled_bucket(ctx, s3_server, {**APP, ".sourceignore": "*.md\n"})
    first = s3_server.body_gets("fleet")
    assert first == 3  # two manifests and the .sourceignore; README.md is ignored
    revision = sources.status(ctx, key)["artifact"]["revision"]

    for _ in range(2):
        reconcile_source(ctx, key, BUCKET)
    assert s3_server.body_gets("fleet") == first
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "ArtifactUpToDate")
    assert sources.status(ctx, key)["artifact"]["revision"] == revision
    assert len(ctx.events.read()) == 2  # only the first run's revision-changed and artifact-ready


def test_each_change_is_a_new_revision_and_only_the_changed_object_is_downloaded(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    key = _reconciled_bucket(ctx, s3_server, APP)
    seen = {sources.status(ctx, key)["artifact"]["revision"]}

    def run_after(change: str) -> dict[str, str]:
        reconcile_source(ctx, key, BUCKET)
        revision = sources.status(ctx, key)["artifact"]["revision"]
        assert revision not in seen, f"{change}: no new revision"
        assert revision == _flux_revision(s3_server, "fleet")
        seen.add(revision)
        return _artifact_files(ctx, key)

    s3_server.put("fleet", "apps/config.yaml", APP["apps/config.yaml"] + "data:\n  v: '2'\n")
    files = run_after("changed object")
    assert files["apps/config.yaml"].endswith("v: '2'\n")
    assert s3_server.body_gets("fleet", "apps/config.yaml") == 2
    assert s3_server.body_gets("fleet", "apps/service.yaml") == 1
    assert s3_server.body_gets("fleet", "README.md") == 1

    s3_server.put("fleet", "apps/new.yaml", "kind: ConfigMap\n")
    assert run_after("new object")["apps/new.yaml"] == "kind: ConfigMap\n"
    assert s3_server.body_gets("fleet") == 5  # 3 first, the changed one, the new one

    s3_server.delete("fleet", "apps/service.yaml")
    assert "apps/service.yaml" not in run_after("deleted object")
    assert s3_server.body_gets("fleet") == 5
    events = [e for _, e in ctx.events.read() if e.type == "revision-changed"]
    assert len(events) == 4
    assert events[-1].message == f"new upstream revision '{events[-1].revision}'"


def test_a_key_that_became_a_folder_is_archived_as_the_folder(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    key = _reconciled_bucket(ctx, s3_server, {"conf": "flat", "apps/a.yaml": "a"})
    assert _artifact_files(ctx, key) == {"conf": "flat", "apps/a.yaml": "a"}
    s3_server.delete("fleet", "conf")
    s3_server.delete("fleet", "apps/a.yaml")
    s3_server.put_all("fleet", {"conf/app.yaml": "nested", "apps": "now a file"})
    reconcile_source(ctx, key, BUCKET)
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "Succeeded")
    assert _artifact_files(ctx, key) == {"conf/app.yaml": "nested", "apps": "now a file"}


def test_two_bucket_objects_on_one_bucket_download_each_object_once(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    first = _reconciled_bucket(ctx, s3_server, APP)
    ctx.store.apply({**ctx.store.get(first), "metadata": {"name": "again", "namespace": NS}})
    second = ObjectKey("Bucket", NS, "again")
    reconcile_source(ctx, second, BUCKET)
    assert _conditions(ctx, second)["Ready"][:2] == ("True", "Succeeded")
    assert _artifact_files(ctx, second) == APP
    assert s3_server.body_gets("fleet") == len(APP)


def test_prefix_sourceignore_and_spec_ignore_choose_the_objects(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    s3_server.create_bucket("fleet")
    s3_server.put_all(
        "fleet",
        {
            ".sourceignore": "*.md\nstaging/\n",
            "prod/app.yaml": "a",
            "prod/notes.md": "b",
            "prod/staging/x.yaml": "c",
            "prod/secret.enc": "d",
            "dev/app.yaml": "e",
        },
    )
    key = _bucket(ctx, s3_server, "fleet", prefix="prod/", ignore="*.enc\n!notes.md\n")
    reconcile_source(ctx, key, BUCKET)
    assert _artifact_files(ctx, key) == {"prod/app.yaml": "a", "prod/notes.md": "b"}
    status = sources.status(ctx, key)
    assert status["observedIgnore"] == "*.enc\n!notes.md\n"
    gets = s3_server.body_gets("fleet")

    # A rule that selects other objects is a new revision; one that changes nothing is not.
    _bucket(ctx, s3_server, "fleet", prefix="prod/", ignore="*.enc\n")
    reconcile_source(ctx, key, BUCKET)
    assert _artifact_files(ctx, key) == {"prod/app.yaml": "a"}
    assert sources.status(ctx, key)["artifact"]["revision"] != status["artifact"]["revision"]
    _bucket(ctx, s3_server, "fleet", prefix="prod/", ignore="*.enc\n*.tgz\n")
    reconcile_source(ctx, key, BUCKET)
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "ArtifactUpToDate")
    assert sources.status(ctx, key)["observedIgnore"] == "*.enc\n*.tgz\n"
    assert s3_server.body_gets("fleet") == gets


def test_wrong_keys_fail_with_fluxs_reason_and_never_show_the_secret(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    s3_server.create_bucket("fleet")
    key = _bucket(ctx, s3_server, "fleet")
    wrong = "wr0ng-" + s3_server.secret_key[:12]
    apply_secret(ctx, "s3-keys", {"accesskey": s3_server.access_key, "secretkey": wrong})
    reconcile_source(ctx, key, BUCKET)
    conditions = _conditions(ctx, key)
    assert conditions["FetchFailed"][:2] == ("True", "BucketOperationFailed")
    assert conditions["Ready"][:2] == ("False", "BucketOperationFailed")
    assert conditions["Ready"][2].startswith("failed to confirm existence of 'fleet' bucket: ")
    assert "Stalled" not in conditions
    stored = redis_bytes(ctx.client)
    assert wrong.encode() not in stored.replace(base64.b64encode(wrong.encode()), b"")
    (event,) = [e for _, e in ctx.events.read()]
    assert event.severity == "error" and wrong not in event.message


def test_a_missing_bucket_fails_with_fluxs_message(ctx: WorkerContext, s3_server: S3Server) -> None:
    key = _bucket(ctx, s3_server, "nowhere")
    reconcile_source(ctx, key, BUCKET)
    conditions = _conditions(ctx, key)
    assert conditions["Ready"] == ("False", "BucketOperationFailed", "bucket 'nowhere' not found")


def test_a_secret_without_the_keys_is_an_authentication_failure(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    s3_server.create_bucket("fleet")
    key = _bucket(ctx, s3_server, "fleet")
    apply_secret(ctx, "s3-keys", {"username": "x"})
    reconcile_source(ctx, key, BUCKET)
    assert _conditions(ctx, key)["Ready"] == (
        "False",
        "AuthenticationFailed",
        "invalid 's3-keys' secret data: required fields 'accesskey' and 'secretkey'",
    )


def test_an_https_endpoint_is_trusted_through_cert_secret_ref(
    ctx: WorkerContext, s3_tls_server: S3Server
) -> None:
    key = _reconciled_bucket(ctx, s3_tls_server, APP)
    ready = _conditions(ctx, key)["Ready"]
    assert ready[:2] == ("False", "BucketOperationFailed")
    assert "certificate verify failed" in ready[2]

    apply_secret(ctx, "s3-ca", {"ca.crt": "not a certificate"})
    _bucket(ctx, s3_tls_server, "fleet", certSecretRef={"name": "s3-ca"})
    reconcile_source(ctx, key, BUCKET)
    ready = _conditions(ctx, key)["Ready"]
    assert ready[:2] == ("False", "AuthenticationFailed")
    assert ready[2].startswith("failed to get TLS config: secret 's3-ca': ")
    assert "not a certificate" not in ready[2]

    apply_secret(ctx, "s3-ca", {"ca.crt": s3_tls_server.ca_cert.read_bytes()})
    reconcile_source(ctx, key, BUCKET)
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "Succeeded")
    assert _artifact_files(ctx, key) == APP


def test_a_deleted_bucket_object_removes_its_artifacts(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    key = _reconciled_bucket(ctx, s3_server, APP)
    path = storage_for(ctx).local_path(sources.status(ctx, key)["artifact"]["path"])
    assert path.exists()
    ctx.store.delete(key)
    reconcile_source(ctx, key, BUCKET)
    assert not path.exists()


def test_a_bucket_of_more_objects_than_an_artifact_may_hold_is_refused_before_any_download(
    ctx: WorkerContext, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit (250,000 entries, what consumers extract) made small.
    monkeypatch.setattr("services.source.bucket.bucket.MAX_BUCKET_OBJECTS", 2)
    key = _reconciled_bucket(ctx, s3_server, {"a.yaml": "a", "b.yaml": "b", "c.yaml": "c"})
    ready = _conditions(ctx, key)["Ready"]
    assert ready[:2] == ("False", "BucketOperationFailed")
    assert "holds more than 2 objects" in ready[2] and "narrow spec.prefix" in ready[2]
    assert s3_server.body_gets("fleet") == 0
    assert "artifact" not in sources.status(ctx, key)


def test_a_bucket_larger_than_an_artifact_may_be_is_refused_before_any_download(
    ctx: WorkerContext, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit (1 GiB, what consumers accept) made small, so the test needs no gigabyte.
    monkeypatch.setattr("services.source.bucket.bucket.MAX_BUCKET_BYTES", 100)
    key = _reconciled_bucket(ctx, s3_server, {"big.yaml": "x" * 80, "more.yaml": "y" * 40})
    ready = _conditions(ctx, key)["Ready"]
    assert ready[:2] == ("False", "BucketOperationFailed")
    assert "hold 120 bytes, more than the 100 an artifact may hold" in ready[2]
    assert s3_server.body_gets("fleet") == 0
    assert "artifact" not in sources.status(ctx, key)

    # Ignoring one object brings the artifact under the limit.
    _bucket(ctx, s3_server, "fleet", ignore="more.yaml\n")
    reconcile_source(ctx, key, BUCKET)
    assert _conditions(ctx, key)["Ready"][:2] == ("True", "Succeeded")
    assert _artifact_files(ctx, key) == {"big.yaml": "x" * 80}
