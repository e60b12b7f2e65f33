"""The CRDs of a packaged chart: its crds/ and those of the subcharts its values enable."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from services.helm.crds import ChartCrdsError, chart_crds
from tests.helmcharts import crd_yaml


def tgz(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def package(tmp_path: Path, files: dict[str, str | bytes], top: str = "app") -> Path:
    path = tmp_path / f"{top}.tgz"
    path.write_bytes(tgz({f"{top}/{name}": content for name, content in files.items()}))
    return path


def names(chart: Path, values: dict[str, Any] | None = None) -> list[str]:
    return [c["metadata"]["name"] for c in chart_crds(chart, values=values)]


_SUB = {
    "charts/db/Chart.yaml": "apiVersion: v2\nname: db\nversion: 1.0.0\n",
    "charts/db/crds/db.yaml": crd_yaml("Database"),
}


def test_the_crds_of_crds_dir_in_order_and_other_kinds_left_out(tmp_path: Path) -> None:
    chart = package(
        tmp_path,
        {
            "Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
            "crds/b.yaml": crd_yaml("Backup") + "---\napiVersion: v1\nkind: ConfigMap\n"
            "metadata: {name: misplaced}\n",
            "crds/a.yml": crd_yaml("Apple"),
            "crds/nested/c.json": '{"apiVersion": "apiextensions.k8s.io/v1", '
            '"kind": "CustomResourceDefinition", "metadata": {"name": "cs.example.com"}}',
            "crds/README.md": "not a manifest",
            "templates/crd.yaml": crd_yaml("Templated"),
        },
    )
    assert names(chart) == ["apples.example.com", "backups.example.com", "cs.example.com"]


def test_a_chart_without_crds_has_none(tmp_path: Path) -> None:
    chart = package(tmp_path, {"Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n"})
    assert chart_crds(chart) == []


@pytest.mark.parametrize(
    ("chart_yaml", "defaults", "values", "expected"),
    [
        # A subchart Chart.yaml does not list is always part of the chart.
        ("", "", None, ["databases.example.com"]),
        ("dependencies: [{name: db, version: 1.0.0}]\n", "", None, ["databases.example.com"]),
        # condition: the first path set to a bool decides; the release's values win.
        ("dependencies: [{name: db, condition: db.enabled}]\n", "db: {enabled: false}\n", None, []),
        (
            "dependencies: [{name: db, condition: db.enabled}]\n",
            "db: {enabled: false}\n",
            {"db": {"enabled": True}},
            ["databases.example.com"],
        ),
        (
            "dependencies: [{name: db, condition: 'nope.enabled,db.on'}]\n",
            "",
            {"db": {"on": False}},
            [],
        ),
        # An alias renames the subchart, in values too.
        (
            "dependencies: [{name: db, alias: store, condition: store.enabled}]\n",
            "",
            {"store": {"enabled": False}, "db": {"enabled": True}},
            [],
        ),
        # tags: all false disables; one true enables; the condition overrides them.
        ("dependencies: [{name: db, tags: [x, y]}]\n", "tags: {x: false}\n", None, []),
        (
            "dependencies: [{name: db, tags: [x, y]}]\n",
            "tags: {x: false, y: true}\n",
            None,
            ["databases.example.com"],
        ),
        (
            "dependencies: [{name: db, tags: [x], condition: db.enabled}]\n",
            "tags: {x: false}\ndb: {enabled: true}\n",
            None,
            ["databases.example.com"],
        ),
    ],
)
def test_subchart_crds_follow_conditions_and_tags(
    tmp_path: Path,
    chart_yaml: str,
    defaults: str,
    values: dict[str, Any] | None,
    expected: list[str],
) -> None:
    files: dict[str, str | bytes] = {
        "Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n" + chart_yaml,
        "values.yaml": defaults,
        **_SUB,
    }
    assert names(package(tmp_path, files), values) == expected


def test_a_subchart_s_own_default_decides_its_condition(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n"
        "dependencies: [{name: db, condition: db.enabled}]\n",
        **_SUB,
        "charts/db/values.yaml": "enabled: false\n",
    }
    assert names(package(tmp_path, files)) == []
    assert names(package(tmp_path, files), {"db": {"enabled": True}}) == ["databases.example.com"]


def test_packaged_subcharts_and_their_subcharts_are_read(tmp_path: Path) -> None:
    inner = tgz(
        {
            "cache/Chart.yaml": "apiVersion: v2\nname: cache\nversion: 1.0.0\n",
            "cache/crds/c.yaml": crd_yaml("Cache"),
        }
    )
    middle = tgz(
        {
            "db/Chart.yaml": "apiVersion: v2\nname: db\nversion: 1.0.0\n"
            "dependencies: [{name: cache, condition: cache.enabled}]\n",
            "db/crds/db.yaml": crd_yaml("Database"),
            "db/charts/cache-1.0.0.tgz": inner,
        }
    )
    files: dict[str, str | bytes] = {
        "Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
        "charts/db-1.0.0.tgz": middle,
    }
    chart = package(tmp_path, files)
    assert names(chart) == ["databases.example.com", "caches.example.com"]
    # The nested condition is read under the subchart's key.
    assert names(chart, {"db": {"cache": {"enabled": False}}}) == ["databases.example.com"]


def test_an_entry_escaping_the_chart_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "evil.tgz"
    chart.write_bytes(tgz({"app/Chart.yaml": "name: app\n", "../../escape.yaml": crd_yaml("X")}))
    with pytest.raises(ChartCrdsError, match=r"cannot read evil\.tgz"):
        chart_crds(chart)
    assert not (tmp_path.parent / "escape.yaml").exists()


def test_not_a_chart_and_bad_yaml_are_errors(tmp_path: Path) -> None:
    chart = tmp_path / "plain.tgz"
    chart.write_bytes(tgz({"README.md": "hello"}))
    with pytest.raises(ChartCrdsError, match="holds no single chart"):
        chart_crds(chart)
    broken = package(
        tmp_path, {"Chart.yaml": "name: app\n", "crds/x.yaml": "a: [unclosed\n"}, top="broken"
    )
    with pytest.raises(ChartCrdsError, match=r"crds/x\.yaml"):
        chart_crds(broken)


def test_packaged_subcharts_count_against_the_chart_s_size_limit(tmp_path: Path) -> None:
    big = tgz({"db/Chart.yaml": "name: db\n", "db/crds/db.yaml": crd_yaml("Database") + "#" * 5000})
    files: dict[str, str | bytes] = {"Chart.yaml": "name: app\n", "charts/db-1.0.0.tgz": big}
    chart = package(tmp_path, files)
    assert len(chart_crds(chart, max_bytes=20_000)) == 1
    # The parent alone fits; its subchart's content does not.
    with pytest.raises(ChartCrdsError, match=r"cannot read subchart db-1\.0\.0\.tgz"):
        chart_crds(chart, max_bytes=len(big) + 1000)
