"""Flux's own example fleet repository (flux2-kustomize-helm-example, 2.7 layout): its sources.

The repository is vendored unchanged in tests/data; test_flux_example_helm.py
bootstraps its staging cluster all the way. The example's sources fetch the
real charts it names: podinfo from its HelmRepository, cert-manager and
gateway-helm from their OCIRepositories.
There is no internet here, so tests.servers.examplecharts serves the charts of
tests/data/charts locally and the example's URLs are moved to those servers
(the one change made to the repository's files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import GitOps, sluice
from tests.fluxexample import EXAMPLE, condition
from tests.servers.examplecharts import (
    CERT_MANAGER,
    GATEWAY_HELM,
    PODINFO,
    ServedCharts,
    serve_example_charts,
)
from tests.servers.registry import OciRegistry
from tests.sources import downloaded_files

FS = "flux-system"
SCOPE = "staging"


@pytest.fixture
def example_charts(tmp_path: Path, oci_registry: OciRegistry) -> Iterator[ServedCharts]:
    with serve_example_charts(tmp_path / "example-charts", oci_registry) as served:
        yield served


def _sources(charts: ServedCharts) -> list[dict[str, Any]]:
    """The example's chart sources (its HelmRepository, its OCIRepositories), URLs moved here."""
    found = []
    for path in sorted(EXAMPLE.rglob("*.yaml")):
        for doc in yaml.safe_load_all(charts.rewrite(path.read_text())):
            if isinstance(doc, dict) and doc.get("kind") in ("HelmRepository", "OCIRepository"):
                found.append(doc)
    return found


def test_the_sources_of_flux_example_repository_fetch_the_charts_it_names(
    gitops: GitOps, sandbox_cluster: ClusterInfo, example_charts: ServedCharts
) -> None:
    gitops.register_cluster(sandbox_cluster, SCOPE)
    docs = _sources(example_charts)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert kinds == {
        ("HelmRepository", "podinfo"),
        ("OCIRepository", "cert-manager"),
        ("OCIRepository", "gateway-helm"),
    }
    applied = sluice(gitops, "-c", SCOPE, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert applied.returncode == 0, applied.stdout + applied.stderr

    # Each OCIRepository, as written (only the registry moved), takes the chart at the
    # version its semver range picks; its layerSelector copies the chart itself.
    for chart in (CERT_MANAGER, GATEWAY_HELM):
        meta = next(d for d in docs if d["metadata"]["name"] == chart.name)["metadata"]
        key = ObjectKey("OCIRepository", meta["namespace"], chart.name, SCOPE)
        condition(gitops, key, "True")
        doc = gitops.store.get(key) or {}
        revision = doc["status"]["artifact"]["revision"]
        assert revision.startswith(f"{chart.version}@sha256:"), revision
        packed = yaml.safe_load(downloaded_files(doc)[f"{chart.name}/Chart.yaml"])
        assert (packed["name"], packed["version"]) == (chart.name, chart.version)

    # The HelmRepository's index lists podinfo at the version served.
    key = ObjectKey("HelmRepository", "podinfo", "podinfo", SCOPE)
    condition(gitops, key, "True")
    url = (gitops.store.get(key) or {})["status"]["artifact"]["url"]
    index = yaml.safe_load(httpx.get(url).text)
    assert [entry["version"] for entry in index["entries"]["podinfo"]] == [PODINFO.version]
