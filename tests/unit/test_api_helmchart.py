"""HelmChart documents: what `sluice apply` accepts, refuses and converts from older versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.api import load_file, parse_as, validate
from shared.api.helmchart import HelmChart


def chart(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "chart": "podinfo",
            "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
            **spec,
        },
    }


def test_a_flux_helm_chart_is_accepted_with_flux_defaults() -> None:
    assert validate(chart()) == []
    parsed = parse_as(chart(), HelmChart)
    assert parsed.spec.version == "*"
    assert parsed.spec.reconcile_strategy == "ChartVersion"
    assert parsed.spec.values_files == [] and not parsed.spec.ignore_missing_values_files


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        (
            {"verify": {"provider": "cosign", "secretRef": {"name": "keys"}}},
            "spec.verify",
            "signature verification (cosign) of charts is not supported by sluice yet",
        ),
        ({"version": "not-a-range"}, "spec.version", "expected a semver range"),
        ({"reconcileStrategy": "Always"}, "spec.reconcileStrategy", "ChartVersion"),
        (
            {"sourceRef": {"kind": "OCIRepository", "name": "x"}},
            "spec.sourceRef.kind",
            "HelmRepository",
        ),
        ({"valuesFiles": ["/etc/values.yaml"]}, "spec.valuesFiles", "relative to the source"),
        ({"chart": ""}, "spec.chart", "at least 1 character"),
        ({"interval": None}, "spec.interval", "expected a Go duration string"),
    ],
)
def test_helm_chart_fields_are_checked(spec: dict[str, Any], field: str, says: str) -> None:
    errors = validate(chart(**spec))
    assert [e.field for e in errors] == [field]
    assert says in errors[0].message


def test_a_v1beta2_chart_is_converted_with_its_values_file_first(tmp_path: Path) -> None:
    path = tmp_path / "chart.yaml"
    path.write_text(
        """\
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmChart
metadata: {name: app, namespace: flux-system}
spec:
  interval: 1m
  chart: ./charts/app
  sourceRef: {kind: GitRepository, name: fleet}
  valuesFile: values-base.yaml
  valuesFiles: [values-prod.yaml]
  accessFrom: {namespaceSelectors: [{matchLabels: {a: b}}]}
"""
    )
    (doc,) = load_file(path)
    assert doc["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert doc["spec"]["valuesFiles"] == ["values-base.yaml", "values-prod.yaml"]
    assert "valuesFile" not in doc["spec"] and "accessFrom" not in doc["spec"]
