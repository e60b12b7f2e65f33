"""Helm 4's release storage decoded from a Secret that helm 4.3.2 wrote, and Flux's digest of it.

``tests/data/helmstorage/demo.v2.secret.json`` is revision 2 of a release
"demo" (chart demo 0.1.0, appVersion 1.2.3, a pre-install/pre-upgrade hook),
upgraded with values that Go writes unlike Python (1e-7, 1e+21, a large int,
``<>&``, U+2028, a control character). The expected digests were computed by
``tests/data/helmstorage/fluxdigest.go.txt``: helm-controller's Observation of
the stored release, encoded by Go with Helm 4.3.2's own types.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import urllib3

from services.helm import gojson
from services.helm.digest import values_digest
from services.helm.release_state import HelmStatus, HookPhase, TestHook
from services.helm.storage import ReleaseStorage, StorageError, release_digest, release_from_secret
from shared.kube.client import KubeClient

DATA = Path(__file__).parent.parent / "data" / "helmstorage"
# Flux's digest of the captured revision, as Go computes it.
CAPTURED_DIGEST = "sha256:60aa7a9707268c59c7394c2079236282c114a828eb77b5d081ec16db30ebf1ef"


def captured_secret() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "demo.v2.secret.json").read_text())
    return loaded


def stored_json(secret: dict[str, Any]) -> bytes:
    return gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"])))


def as_secret(doc: Any) -> dict[str, Any]:
    packed = gzip.compress(gojson.dumps(doc))
    release = base64.b64encode(base64.b64encode(packed)).decode()
    return {"metadata": {"name": "sh.helm.release.v1.demo.v2"}, "data": {"release": release}}


def test_a_secret_written_by_helm_4_reads_as_its_revision() -> None:
    release = release_from_secret(captured_secret())

    assert (release.name, release.namespace, release.version) == ("demo", "exp", 2)
    assert release.status == HelmStatus.DEPLOYED
    assert (release.chart_name, release.chart_version, release.app_version) == (
        "demo",
        "0.1.0",
        "1.2.3",
    )
    assert release.test_hooks is None
    assert release.first_deployed == datetime(2026, 12, 7, 19, 7, 29, 202693, tzinfo=UTC)
    assert release.last_deployed == datetime(2026, 12, 7, 19, 7, 36, 630337, tzinfo=UTC)
    assert release.deleted is None
    # The config digest of the values helm stored, as the HelmRelease would compute it.
    config = json.loads(stored_json(captured_secret()))["config"]
    assert release.config_digest == values_digest(config)
    assert config["g"] == 1e-7


def test_the_digest_is_the_one_flux_computes_for_the_same_revision() -> None:
    assert release_from_secret(captured_secret()).digest == CAPTURED_DIGEST


def test_stored_json_is_written_back_byte_for_byte_as_go_wrote_it() -> None:
    stored = stored_json(captured_secret())

    assert gojson.dumps(gojson.loads(stored)) == stored


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("a<b>&c", '"a\\u003cb\\u003e\\u0026c"'),
        ("x\u2028y\u2029", '"x\\u2028y\\u2029"'),
        ("tab\there\n\x01", '"tab\\there\\n\\u0001"'),
        ("héllo ☃", '"héllo ☃"'),
        (gojson.GoNumber("1e-7"), "1e-7"),
        (gojson.GoNumber("1e+21"), "1e+21"),
        ({"b": 1, "a": [True, None]}, '{"b":1,"a":[true,null]}'),
    ],
)
def test_go_json_writes_values_as_go_does(value: Any, written: str) -> None:
    assert gojson.dumps(value).decode() == written


def test_a_test_hooks_run_does_not_change_the_digest() -> None:
    doc = gojson.loads(stored_json(captured_secret()))
    smoke = {
        "name": "demo-smoke",
        "kind": "Job",
        "events": ["test"],
        "last_run": {"phase": ""},
    }
    tested = copy.deepcopy(doc)
    doc["hooks"].append(smoke)
    tested["hooks"].append(
        {
            **smoke,
            "last_run": {
                "started_at": "2026-12-07T19:08:00Z",
                "completed_at": "2026-12-07T19:08:05Z",
                "phase": "Succeeded",
            },
            "delete_policies": ["before-hook-creation"],
        }
    )

    assert release_digest(tested) == release_digest(doc) == CAPTURED_DIGEST
    release = release_from_secret(as_secret(tested))
    assert release.test_hooks == (TestHook(name="demo-smoke", phase=HookPhase.SUCCEEDED),)
    assert release.digest == CAPTURED_DIGEST


def test_a_change_to_the_stored_revision_changes_the_digest() -> None:
    doc = gojson.loads(stored_json(captured_secret()))
    doc["info"]["description"] = "Upgraded by hand"

    assert release_digest(doc) != CAPTURED_DIGEST


def test_unset_times_helm_3_wrote_as_go_zero_times_digest_as_flux_reads_them() -> None:
    doc = gojson.loads(stored_json(captured_secret()))
    doc["info"]["deleted"] = "0001-01-01T00:00:00Z"
    doc["hooks"][0]["last_run"] = {
        "started_at": "0001-01-01T00:00:00Z",
        "completed_at": "",
        "phase": "",
    }
    doc["hooks"].append({**doc["hooks"][0], "name": "t", "events": ["test"]})
    doc["info"]["description"] = "x"

    # Computed by fluxdigest.go.txt for the same document.
    expected = "sha256:887d62a596d1c1e36f4bba1e3b0ac7875c931fce61b0c3af95e272b5dcac83d2"
    assert release_digest(doc) == expected
    assert release_from_secret(as_secret(doc)).deleted is None


@pytest.mark.parametrize(
    "release",
    [
        "not base64 at all!",
        base64.b64encode(b"not base64 either!").decode(),
        base64.b64encode(base64.b64encode(b"\x1f\x8b\x08 my-password broken gzip")).decode(),
        base64.b64encode(base64.b64encode(b'{"config": {"password": "my-password"')).decode(),
        base64.b64encode(base64.b64encode(b'["my-password"]')).decode(),
        base64.b64encode(base64.b64encode(b'{"version": "my-password"}')).decode(),
        base64.b64encode(base64.b64encode(b'{"hooks": ["my-password"]}')).decode(),
        base64.b64encode(base64.b64encode(b'{"info": "my-password"}')).decode(),
    ],
)
def test_a_secret_that_cannot_be_decoded_is_refused_without_quoting_it(release: str) -> None:
    secret = {"metadata": {"name": "sh.helm.release.v1.demo.v9"}, "data": {"release": release}}

    with pytest.raises(StorageError) as refused:
        release_from_secret(secret)

    assert "sh.helm.release.v1.demo.v9" in str(refused.value)
    assert "my-password" not in str(refused.value)


@pytest.mark.parametrize("name", ["", "web,owner!=helm", "web name", "x" * 64, "-web"])
def test_a_name_that_is_no_label_value_is_refused_before_any_request(name: str) -> None:
    # No server listens there: a request would fail with UnreachableError, not ValueError.
    storage = ReleaseStorage(KubeClient("http://127.0.0.1:9", urllib3.PoolManager()), "default")

    with pytest.raises(ValueError, match="not a valid Helm release name"):
        storage.history(name)
