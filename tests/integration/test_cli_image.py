"""sluice apply / get of the image kinds against a real redis-server, before any service runs them.

The documents are Flux's v1beta1 image automation example (the apiVersion the
user's articles use): they are stored as v1, and an automation written as
v1beta1 keeps the mark that gives its commit template ``.Updated``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.api.legacy import CONVERTED_FROM
from shared.cli.main import app
from shared.keys import ObjectKey
from shared.redisserver import RedisServer
from shared.store import Store

V1BETA1_EXAMPLE = """\
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  image: ghcr.io/stefanprodan/podinfo
  interval: 1m0s
---
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: 5.0.x
---
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageUpdateAutomation
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  sourceRef:
    kind: GitRepository
    name: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      messageTemplate: '{{range .Updated.Images}}{{println .}}{{end}}'
    push:
      branch: main
  update:
    path: ./clusters/my-cluster
    strategy: Setters
"""


@pytest.fixture
def sluice(redis_server: RedisServer, tmp_path: Path):
    """Run the sluice CLI in-process against the test Redis; returns (exit code, stdout, stderr)."""
    runner = CliRunner()
    env = {"SLUICE_REDIS_URL": redis_server.url, "SLUICE_SECRET_KEY_FILE": str(tmp_path / "key")}

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), env=env, input=stdin)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_the_v1beta1_example_is_applied_and_stored_as_v1(sluice, settings) -> None:
    code, out, err = sluice("apply", "-f", "-", stdin=V1BETA1_EXAMPLE)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "imagerepository.image.toolkit.fluxcd.io/podinfo created",
        "imagepolicy.image.toolkit.fluxcd.io/podinfo created",
        "imageupdateautomation.image.toolkit.fluxcd.io/flux-system created",
    ]
    store = Store.from_settings(settings)
    for kind, name in (
        ("ImageRepository", "podinfo"),
        ("ImagePolicy", "podinfo"),
        ("ImageUpdateAutomation", "flux-system"),
    ):
        doc = store.get(ObjectKey(kind, "flux-system", name))
        assert doc is not None and doc["apiVersion"] == "image.toolkit.fluxcd.io/v1"
    automation = store.get(ObjectKey("ImageUpdateAutomation", "flux-system", "flux-system"))
    assert automation is not None
    assert automation["metadata"]["annotations"][CONVERTED_FROM] == (
        "image.toolkit.fluxcd.io/v1beta1"
    )
    assert sluice("apply", "-f", "-", stdin=V1BETA1_EXAMPLE)[1].count("unchanged") == 3


def test_image_objects_are_listed_by_their_flux_short_names(sluice) -> None:
    sluice("apply", "-f", "-", stdin=V1BETA1_EXAMPLE)
    for name, listed in (("imgrepo", "podinfo"), ("imgpol", "podinfo"), ("iua", "flux-system")):
        code, out, _ = sluice("get", name, "-n", "flux-system", "-o", "json")
        assert code == 0
        assert [item["metadata"]["name"] for item in json.loads(out)["items"]] == [listed]
    code, out, _ = sluice("get", "imagepolicies", "-A")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"] and "READY" in header.split()
    assert row.split()[:2] == ["flux-system", "podinfo"]


def test_a_field_sluice_cannot_honour_refuses_the_file_naming_it(sluice, settings) -> None:
    refused = V1BETA1_EXAMPLE.replace(
        "  interval: 1m0s\n---", "  interval: 1m0s\n  provider: aws\n---", 1
    )
    code, out, err = sluice("apply", "-f", "-", stdin=refused)
    assert code == 1 and out == ""
    assert "ImageRepository/flux-system/podinfo): spec.provider" in err
    assert 'provider "aws" (cloud workload identity) is not supported by sluice yet' in err
    assert Store.from_settings(settings).list("ImagePolicy") == []
