"""HelmRelease documents: what sluice reads, refuses, and converts (v2beta*, helm.fluxcd.io/v1)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from shared import yaml
from shared.api import validate
from shared.api.errors import InvalidObjects
from shared.api.helmmigration import convert_helm_operator, source_name
from shared.api.helmrelease import HelmRelease, parse_helmrelease, shorten_release_name
from shared.api.helmsupport import UNSUPPORTED

EXAMPLE = Path(__file__).parents[1] / "data" / "flux2-kustomize-helm-example"


def release(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": {
            "interval": "10m",
            "chart": {
                "spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "p"}}
            },
            **spec,
        },
    }


def errors_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidObjects) as caught:
        parse_helmrelease(doc)
    return [(e.field, e.message) for e in caught.value.errors]


def example_releases(path: str) -> list[dict[str, Any]]:
    text = (EXAMPLE / path).read_text()
    return [d for d in yaml.load_all(text, source=path) if d and d["kind"] == "HelmRelease"]


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


# Flux's example repository -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "chart_ref"),
    [
        ("infrastructure/controllers/envoy-gateway.yaml", "gateway-helm"),
        ("infrastructure/controllers/cert-manager.yaml", "cert-manager"),
    ],
)
def test_the_example_infrastructure_releases_parse(path: str, chart_ref: str) -> None:
    (doc,) = example_releases(path)
    hr = parse_helmrelease(doc, source=path)
    assert hr.spec.chart_ref is not None and hr.spec.chart_ref.kind == "OCIRepository"
    assert hr.spec.chart_ref.name == chart_ref
    assert hr.spec.install_or_default.strategy is not None
    assert hr.spec.install_or_default.strategy.name == "RetryOnFailure"
    assert hr.spec.upgrade_or_default.strategy is not None
    assert hr.spec.upgrade_or_default.strategy.retry_interval_seconds == 300
    assert hr.helm_chart_namespace is None


def test_the_example_podinfo_release_parses_with_flux_defaults() -> None:
    (doc,) = example_releases("apps/base/podinfo/release.yaml")
    hr = parse_helmrelease(doc)
    assert hr.release_name == "podinfo" and hr.release_namespace == "podinfo"
    assert hr.storage_namespace == "podinfo"
    assert hr.helm_chart_name == "podinfo-podinfo" and hr.helm_chart_namespace == "podinfo"
    assert hr.spec.chart is not None and hr.spec.chart.spec.version == "*"
    assert hr.spec.values is not None and hr.spec.values["redis"]["tag"] == "8.6.2"
    assert hr.spec.interval_seconds == 3000 and hr.spec.timeout_seconds == 300
    assert hr.spec.history_limit == 5 and hr.spec.drift.mode == "disabled"
    assert hr.spec.uses_persistent_client
    assert hr.spec.install_or_default.crds_policy == "Create"
    assert hr.spec.upgrade_or_default.crds_policy == "Create"
    assert hr.spec.upgrade_or_default.remediation is None


@pytest.mark.parametrize(
    ("overlay", "version", "hostname"),
    [
        ("staging", ">=1.0.0-alpha", "podinfo.staging"),
        ("production", ">=1.0.0", "podinfo.production"),
    ],
)
def test_the_example_overlays_patch_into_valid_releases(
    overlay: str, version: str, hostname: str
) -> None:
    (base,) = example_releases("apps/base/podinfo/release.yaml")
    (patch,) = example_releases(f"apps/{overlay}/podinfo-values.yaml")
    hr = parse_helmrelease(merge(base, patch))
    assert hr.spec.chart is not None and hr.spec.chart.spec.version == version
    assert hr.spec.values is not None
    assert hr.spec.values["httpRoute"]["hostnames"] == [hostname]


DOCS = Path(__file__).parents[1] / "data" / "helm-controller-docs" / "helmreleases.yaml"
DOC_EXAMPLES = list(yaml.load_all(DOCS.read_text(), source=str(DOCS)))


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(d, id=f"{i}-{d['metadata']['name']}")
        for i, d in enumerate(DOC_EXAMPLES)
        if d["metadata"]["name"] != "sealed-secrets"
    ],
)
def test_flux_s_documented_examples_parse(doc: dict[str, Any]) -> None:
    hr = parse_helmrelease(doc)
    assert (hr.spec.chart is None) != (hr.spec.chart_ref is None)
    assert hr.spec.interval_seconds > 0


def test_the_documented_health_check_example_is_refused_as_unsupported() -> None:
    (doc,) = [d for d in DOC_EXAMPLES if d["metadata"]["name"] == "sealed-secrets"]
    assert errors_of(doc) == [("spec.healthCheckExprs", UNSUPPORTED["healthCheckExprs"].why)]


def test_documented_fields_keep_their_meaning() -> None:
    first = parse_helmrelease(DOC_EXAMPLES[0])
    assert first.spec.drift.mode == "enabled"
    (rule,) = first.spec.drift.ignore
    assert rule.paths == ["/spec/replicas"] and rule.target is not None
    assert rule.target.kind == "Deployment"
    assert first.spec.test is not None and first.spec.test.enable
    webapp = parse_helmrelease(next(d for d in DOC_EXAMPLES if d["metadata"]["name"] == "webapp"))
    assert webapp.spec.upgrade is not None and webapp.spec.upgrade.crds_policy == "CreateReplace"
    assert [v.kind for v in webapp.spec.values_from] == ["ConfigMap", "Secret"]


# Defaults and derived names ------------------------------------------------


def test_the_default_release_name_is_target_namespace_dash_name() -> None:
    hr = parse_helmrelease(release(targetNamespace="web"))
    assert hr.release_name == "web-podinfo"
    assert hr.release_namespace == "web" and hr.storage_namespace == "web"


def test_a_long_default_release_name_is_shortened_as_helm_controller_does() -> None:
    doc = release(targetNamespace="a" * 50)
    hr = parse_helmrelease(doc)
    long_name = "a" * 50 + "-podinfo"
    assert len(hr.release_name) == 53
    assert hr.release_name == shorten_release_name(long_name)
    assert hr.release_name.startswith("a" * 40 + "-")
    assert shorten_release_name("short") == "short"


def test_upgrade_remediation_defaults_follow_flux() -> None:
    hr = parse_helmrelease(
        release(upgrade={"remediation": {"retries": 3}}, install={"remediation": {"retries": 3}})
    )
    assert hr.spec.upgrade is not None and hr.spec.upgrade.remediation is not None
    assert hr.spec.upgrade.remediation.remediates_last_failure
    assert hr.spec.upgrade.remediation.strategy == "rollback"
    assert hr.spec.install is not None and hr.spec.install.remediation is not None
    assert not hr.spec.install.remediation.remediates_last_failure


def test_every_supported_field_is_accepted() -> None:
    doc = release(
        releaseName="web",
        targetNamespace="web",
        storageNamespace="web",
        serviceAccountName="deployer",
        clusters=["eu-1", "us-1"],
        dependsOn=[{"name": "cert-manager", "namespace": "cert-manager"}],
        timeout="2m",
        maxHistory=0,
        persistentClient=False,
        suspend=False,
        driftDetection={"mode": "enabled", "ignore": [{"paths": ["/spec/replicas"]}]},
        install={
            "timeout": "3m",
            "remediation": {"retries": -1, "ignoreTestFailures": True},
            "createNamespace": True,
            "crds": "CreateReplace",
            "replace": True,
            "disableWait": True,
            "disableWaitForJobs": True,
            "disableHooks": True,
            "disableOpenAPIValidation": True,
            "disableSchemaValidation": False,
        },
        upgrade={
            "strategy": {"name": "RetryOnFailure", "retryInterval": "1m"},
            "remediation": {"retries": 2, "remediateLastFailure": False, "strategy": "uninstall"},
            "crds": "Skip",
            "force": True,
            "preserveValues": True,
            "cleanupOnFail": True,
        },
        test={
            "enable": True,
            "ignoreFailures": True,
            "filters": [{"name": "smoke", "exclude": True}],
        },
        rollback={"timeout": "1m", "force": True, "cleanupOnFail": True, "disableHooks": True},
        uninstall={"keepHistory": True, "deletionPropagation": "foreground", "disableWait": True},
        valuesFrom=[
            {"kind": "ConfigMap", "name": "common"},
            {
                "kind": "Secret",
                "name": "creds",
                "valuesKey": "pw",
                "targetPath": "db.auth[0].password",
            },
            {"kind": "Secret", "name": "extra", "optional": True},
        ],
        values={"replicaCount": 2},
        commonMetadata={"labels": {"team": "web"}},
        postRenderers=[
            {
                "kustomize": {
                    "patches": [{"patch": "- op: add\n  path: /metadata/labels/x\n  value: y\n"}],
                    "images": [{"name": "podinfo", "newTag": "6.0.0"}],
                }
            }
        ],
        waitStrategy={"name": "poller"},
    )
    doc["spec"]["chart"]["metadata"] = {"labels": {"a": "b"}}
    doc["spec"]["chart"]["spec"] |= {
        "version": "6.x",
        "interval": "1h",
        "reconcileStrategy": "Revision",
        "valuesFiles": ["values-prod.yaml"],
        "ignoreMissingValuesFiles": True,
    }
    hr = parse_helmrelease(doc)
    assert hr.spec.clusters == ["eu-1", "us-1"]
    assert hr.spec.values_from[1].target_path == "db.auth[0].password"
    assert hr.spec.upgrade is not None and hr.spec.upgrade.crds_policy == "Skip"
    assert hr.spec.history_limit == 0 and hr.spec.drift.detects
    assert not hr.spec.uses_persistent_client


# Validation: each error names its field ------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ({"chart": None}, "spec", "either spec.chart"),
        (
            {"chartRef": {"kind": "OCIRepository", "name": "o"}},
            "spec.chartRef",
            "cannot be combined with spec.chart",
        ),
        ({"releaseName": "r" * 54}, "spec.releaseName", "at most 53 characters"),
        ({"interval": None}, "spec.interval", "required field is missing"),
        ({"interval": 5}, "spec.interval", "quote it with a unit"),
        ({"interval": "0s"}, "spec.interval", "greater than zero"),
        ({"timeout": "5 minutes"}, "spec.timeout", "Go duration"),
        ({"targetNamespace": "Web"}, "spec.targetNamespace", "DNS-1123 label"),
        ({"storageNamespace": "n" * 64}, "spec.storageNamespace", "at most 63"),
        ({"serviceAccountName": "Deployer"}, "spec.serviceAccountName", "invalid name"),
        ({"maxHistory": "5"}, "spec.maxHistory", "expected an integer"),
        ({"values": ["a"]}, "spec.values", "expected a mapping"),
        (
            {"install": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}},
            "spec.install.strategy",
            "retryInterval can only be set when .name is 'RetryOnFailure'",
        ),
        (
            {"upgrade": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}},
            "spec.upgrade.strategy",
            "retryInterval can only be set when .name is 'RetryOnFailure'",
        ),
        (
            {"install": {"strategy": {"name": "Retry"}}},
            "spec.install.strategy.name",
            "RetryOnFailure",
        ),
        ({"install": {"crds": "Replace"}}, "spec.install.crds", "CreateReplace"),
        (
            {"upgrade": {"remediation": {"strategy": "delete"}}},
            "spec.upgrade.remediation.strategy",
            "rollback",
        ),
        (
            {"install": {"remediation": {"strategy": "rollback"}}},
            "spec.install.remediation.strategy",
            "unknown field",
        ),
        (
            {"upgrade": {"remediation": {"retries": "3"}}},
            "spec.upgrade.remediation.retries",
            "expected an integer",
        ),
        (
            {"test": {"filters": [{"name": ""}]}},
            "spec.test.filters[0].name",
            "at least 1 character",
        ),
        (
            {"uninstall": {"deletionPropagation": "cascade"}},
            "spec.uninstall.deletionPropagation",
            "orphan",
        ),
        ({"driftDetection": {"mode": "on"}}, "spec.driftDetection.mode", "warn"),
        (
            {"driftDetection": {"ignore": [{"paths": ["spec"]}]}},
            "spec.driftDetection.ignore[0].paths",
            "JSON pointer",
        ),
        ({"valuesFrom": [{"kind": "Vault", "name": "v"}]}, "spec.valuesFrom[0].kind", "ConfigMap"),
        (
            {"valuesFrom": [{"kind": "Secret", "name": "s", "valuesKey": "a b"}]},
            "spec.valuesFrom[0].valuesKey",
            "invalid valuesKey",
        ),
        (
            {"valuesFrom": [{"kind": "Secret", "name": "s", "targetPath": "a b"}]},
            "spec.valuesFrom[0].targetPath",
            "Helm --set path",
        ),
        (
            {"dependsOn": [{"name": "db", "readyExpr": "self."}]},
            "spec.dependsOn[0].readyExpr",
            "CEL expression",
        ),
        (
            {"kubeConfig": {"secretRef": {"name": "k"}}, "clusters": ["a"]},
            "spec.clusters",
            "cannot be combined with spec.kubeConfig",
        ),
        ({"kubeConfig": {}}, "spec.kubeConfig", "exactly one of secretRef or configMapRef"),
        (
            {"clusters": ["a"], "clusterSelector": {"matchLabels": {"env": "prod"}}},
            "spec.clusterSelector",
            "cannot be combined with spec.clusters",
        ),
        (
            {"postRenderers": [{"kustomize": {"patches": [{"patch": ""}]}}]},
            "spec.postRenderers[0].kustomize.patches[0].patch",
            "at least 1 character",
        ),
        ({"upgrades": {}}, "spec.upgrades", 'did you mean "upgrade"'),
    ],
)
def test_helm_release_fields_are_checked(spec: dict[str, Any], field: str, says: str) -> None:
    doc = release(**spec)
    doc["spec"] = {k: v for k, v in doc["spec"].items() if v is not None}
    found = errors_of(doc)
    assert [f for f, _ in found] == [field], found
    assert says in found[0][1]


@pytest.mark.parametrize(
    ("chart", "field", "says"),
    [
        (
            {"sourceRef": {"kind": "OCIRepository", "name": "x"}},
            "spec.chart.spec.sourceRef.kind",
            "HelmRepository",
        ),
        ({"version": "not-a-range"}, "spec.chart.spec.version", "expected a semver range"),
        (
            {"valuesFiles": ["/etc/values.yaml"]},
            "spec.chart.spec.valuesFiles",
            "relative to the source",
        ),
        ({"chart": "c" * 2049}, "spec.chart.spec.chart", "at most 2048"),
        ({"reconcileStrategy": "Always"}, "spec.chart.spec.reconcileStrategy", "ChartVersion"),
    ],
)
def test_the_chart_template_is_checked(chart: dict[str, Any], field: str, says: str) -> None:
    doc = release()
    doc["spec"]["chart"]["spec"] |= chart
    found = errors_of(doc)
    assert [f for f, _ in found] == [field] and says in found[0][1]


def test_chart_ref_kinds_are_flux_s_three() -> None:
    doc = release(chartRef={"kind": "GitRepository", "name": "g"})
    del doc["spec"]["chart"]
    ((field, message),) = errors_of(doc)
    assert field == "spec.chartRef.kind" and "ExternalArtifact" in message
    for kind in ("OCIRepository", "HelmChart", "ExternalArtifact"):
        doc["spec"]["chartRef"]["kind"] = kind
        assert parse_helmrelease(doc).spec.chart_ref is not None


# Refusals: one row of helmsupport.UNSUPPORTED each ------------------------

REFUSED: dict[str, dict[str, Any]] = {
    "chart.spec.verify": {
        "chart": {
            "spec": {
                "chart": "c",
                "sourceRef": {"kind": "HelmRepository", "name": "p"},
                "verify": {"provider": "cosign"},
            }
        }
    },
    "valuesFrom[].literal": {"valuesFrom": [{"kind": "Secret", "name": "s", "literal": True}]},
    "healthCheckExprs": {
        "healthCheckExprs": [{"apiVersion": "v1", "kind": "Pod", "current": "true"}]
    },
    "postRenderStrategy": {"postRenderStrategy": "nohooks"},
    "upgrade.chartNameChangeStrategy": {"upgrade": {"chartNameChangeStrategy": "InPlaceUpdate"}},
    "install.skipCRDs": {"install": {"skipCRDs": True}},
    "rollback.recreate": {"rollback": {"recreate": True}},
}


def _field(key: str) -> str:
    return "spec." + key.replace("[]", "[0]")


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_each_unsupported_field_is_refused_with_what_to_do(key: str) -> None:
    found = errors_of(release(**REFUSED[key]))
    assert found == [(_field(key), UNSUPPORTED[key].why)]


def test_every_v2_row_of_the_refusal_table_is_tested() -> None:
    assert sorted(REFUSED) == sorted(k for k in UNSUPPORTED if not k.startswith("v1:"))


def test_refused_fields_at_flux_s_default_value_pass() -> None:
    hr = parse_helmrelease(
        release(
            install={"skipCRDs": False},
            upgrade={"chartNameChangeStrategy": "Reinstall"},
            rollback={"recreate": False},
            postRenderStrategy="combined",
            healthCheckExprs=[],
            valuesFrom=[{"kind": "Secret", "name": "s", "literal": False}],
        )
    )
    assert hr.spec.post_render_strategy == "combined"


def test_fields_helm_4_maps_to_flags_are_accepted() -> None:
    # Once refused; now each one is an action option (services/helm/options.py).
    hr = parse_helmrelease(
        release(
            install={
                "disableSchemaValidation": True,
                "disableTakeOwnership": True,
                "serverSideApply": False,
            },
            upgrade={
                "disableSchemaValidation": True,
                "disableTakeOwnership": True,
                "serverSideApply": "disabled",
            },
            rollback={"serverSideApply": "enabled"},
            waitStrategy={"name": "legacy"},
        )
    )
    spec = hr.spec
    assert spec.install is not None and spec.install.server_side_apply is False
    assert spec.install.disable_schema_validation and spec.install.disable_take_ownership
    assert spec.upgrade is not None and spec.upgrade.server_side_apply == "disabled"
    assert spec.upgrade.disable_schema_validation and spec.upgrade.disable_take_ownership
    assert spec.rollback is not None and spec.rollback.server_side_apply == "enabled"
    assert spec.wait_strategy is not None and spec.wait_strategy.name == "legacy"


# Older apiVersions ---------------------------------------------------------


def test_a_v2beta1_release_is_read_as_v2() -> None:
    doc = release(
        postRenderers=[
            {
                "kustomize": {
                    "patchesStrategicMerge": [{"kind": "Deployment", "metadata": {"name": "web"}}],
                    "patchesJson6902": [
                        {
                            "target": {"kind": "Deployment", "name": "web"},
                            "patch": [{"op": "add", "path": "/spec/replicas", "value": 2}],
                        }
                    ],
                    "images": [{"name": "nginx", "newTag": "1.25"}],
                }
            }
        ]
    )
    doc["apiVersion"] = "helm.toolkit.fluxcd.io/v2beta1"
    doc["spec"]["chart"]["spec"] |= {"valuesFile": "values-base.yaml", "valuesFiles": ["prod.yaml"]}
    hr = parse_helmrelease(doc)
    assert hr.api_version == "helm.toolkit.fluxcd.io/v2"
    assert hr.spec.chart is not None
    assert hr.spec.chart.spec.values_files == ["values-base.yaml", "prod.yaml"]
    kustomize = hr.spec.post_renderers[0].kustomize
    assert kustomize is not None
    assert [yaml.load(p.patch, source="patch") for p in kustomize.patches] == [
        {"kind": "Deployment", "metadata": {"name": "web"}},
        [{"op": "add", "path": "/spec/replicas", "value": 2}],
    ]
    assert kustomize.patches[1].target is not None and kustomize.patches[1].target.name == "web"
    assert kustomize.images[0].new_tag == "1.25"


def test_a_v2beta2_release_is_read_as_v2() -> None:
    doc = release(driftDetection={"mode": "warn"}, test={"enable": True, "filters": []})
    doc["apiVersion"] = "helm.toolkit.fluxcd.io/v2beta2"
    hr = parse_helmrelease(doc)
    assert hr.api_version == "helm.toolkit.fluxcd.io/v2" and hr.spec.drift.mode == "warn"


@pytest.mark.parametrize(
    ("api_version", "says"),
    [
        ("helm.toolkit.fluxcd.io/v3", "expected helm.toolkit.fluxcd.io/v2"),
        ("helm.fluxcd.io/v1", "convert_helm_operator"),
    ],
)
def test_other_api_versions_are_refused(api_version: str, says: str) -> None:
    doc = release()
    doc["apiVersion"] = api_version
    ((field, message),) = errors_of(doc)
    assert field == "apiVersion" and says in message


def test_helm_release_is_a_served_kind_that_sluice_apply_validates() -> None:
    assert validate(release()) == []
    (error,) = validate(release(maxHistory="five"))
    assert error.field == "spec.maxHistory", error
    assert isinstance(parse_helmrelease(release()), HelmRelease)


# helm.fluxcd.io/v1 (Helm Operator) -----------------------------------------


def operator(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default", "labels": {"team": "web"}},
        "spec": {
            "chart": {
                "repository": "https://stefanprodan.github.io/podinfo",
                "name": "podinfo",
                "version": "5.0.3",
            },
            **spec,
        },
    }


def test_the_migration_guide_example_converts_to_a_release_and_a_helm_repository() -> None:
    migrated = convert_helm_operator(operator(values={"replicaCount": 1}))
    assert migrated.source == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "stefanprodan-github-io-podinfo", "namespace": "default"},
        "spec": {"interval": "10m", "url": "https://stefanprodan.github.io/podinfo"},
    }
    assert validate(migrated.source) == []
    assert migrated.release == {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default", "labels": {"team": "web"}},
        "spec": {
            "interval": "5m",
            "releaseName": "default-podinfo",
            "chart": {
                "spec": {
                    "chart": "podinfo",
                    "version": "5.0.3",
                    "sourceRef": {
                        "kind": "HelmRepository",
                        "name": "stefanprodan-github-io-podinfo",
                    },
                }
            },
            "maxHistory": 10,
            "install": {"remediation": {"retries": -1}, "disableWait": True},
            "upgrade": {"crds": "Skip", "disableWait": True},
            "values": {"replicaCount": 1},
        },
    }
    hr = parse_helmrelease(migrated.release)
    assert hr.release_name == "default-podinfo"


def test_a_git_chart_converts_to_a_git_repository_and_a_chart_path() -> None:
    doc = operator(
        targetNamespace="web",
        chart={
            "git": "git@github.com:org/charts.git",
            "ref": "main",
            "path": "./charts/app",
            "secretRef": {"name": "git-creds"},
        },
        valuesFrom=[{"chartFileRef": {"path": "values-prod.yaml", "optional": True}}],
    )
    doc["metadata"] |= {"uid": "1234", "resourceVersion": "42", "generation": 3}
    doc["status"] = {"phase": "Succeeded", "releaseName": "default-web-podinfo", "revision": "1"}
    migrated = convert_helm_operator(doc)
    assert migrated.source["kind"] == "GitRepository"
    assert migrated.source["metadata"]["name"] == "github-com-org-charts"
    assert migrated.source["spec"] == {
        "interval": "10m",
        "url": "ssh://git@github.com/org/charts.git",
        "ref": {"branch": "main"},
        "secretRef": {"name": "git-creds"},
    }
    assert validate(migrated.source) == []
    hr = parse_helmrelease(migrated.release)
    assert hr.release_name == "default-web-podinfo" and hr.release_namespace == "web"
    assert "status" not in migrated.release and migrated.release["metadata"].keys() == {
        "name",
        "namespace",
        "labels",
    }
    assert hr.spec.chart is not None
    template = hr.spec.chart.spec
    assert template.chart == "./charts/app" and template.reconcile_strategy == "Revision"
    assert template.source_ref.kind == "GitRepository"
    assert template.values_files == ["charts/app/values.yaml", "charts/app/values-prod.yaml"]
    assert template.ignore_missing_values_files


def test_operator_behaviour_is_written_out_in_v2_terms() -> None:
    doc = operator(
        releaseName="web",
        maxHistory=3,
        timeout=600,
        resetValues=False,
        forceUpgrade=True,
        skipCRDs=True,
        disableOpenAPIValidation=True,
        rollback={
            "enable": True,
            "retry": True,
            "maxRetries": 0,
            "timeout": 120,
            "wait": True,
            "force": True,
        },
        test={"enable": True, "ignoreFailures": True, "timeout": 60, "cleanup": False},
        valueFileSecrets=[{"name": "legacy"}],
        valuesFrom=[
            {"configMapKeyRef": {"name": "common", "key": "common.yaml"}},
            {"secretKeyRef": {"name": "creds", "namespace": "default", "optional": True}},
        ],
    )
    hr = parse_helmrelease(convert_helm_operator(doc).release)
    spec = hr.spec
    assert hr.release_name == "web" and spec.history_limit == 3 and spec.timeout == "600s"
    assert spec.install is not None and spec.upgrade is not None and spec.rollback is not None
    assert spec.install.crds_policy == "Skip" and spec.upgrade.crds_policy == "Skip"
    assert not spec.install.disable_wait  # rollback and tests on: the operator waited
    assert spec.install.disable_open_api_validation and spec.upgrade.disable_open_api_validation
    assert spec.upgrade.preserve_values and spec.upgrade.force
    assert spec.upgrade.remediation is not None
    assert spec.upgrade.remediation.retries == -1  # maxRetries 0 was unlimited
    assert spec.upgrade.remediation.remediates_last_failure
    assert (
        spec.rollback.timeout == "120s" and not spec.rollback.disable_wait and spec.rollback.force
    )
    assert spec.test is not None and spec.test.enable and spec.test.ignore_failures
    assert spec.test.timeout == "60s"
    assert spec.install.remediation is not None and spec.install.remediation.retries == -1
    assert spec.install.remediation.ignore_test_failures
    assert [(v.kind, v.name, v.values_key, v.optional) for v in spec.values_from] == [
        ("Secret", "legacy", "values.yaml", False),
        ("ConfigMap", "common", "common.yaml", False),
        ("Secret", "creds", "values.yaml", True),
    ]


def test_rollback_without_retry_remediates_once() -> None:
    hr = parse_helmrelease(convert_helm_operator(operator(rollback={"enable": True})).release)
    assert hr.spec.upgrade is not None and hr.spec.upgrade.remediation is not None
    assert hr.spec.upgrade.remediation.retries == 0
    assert hr.spec.upgrade.remediation.remediates_last_failure
    assert hr.spec.rollback is not None and hr.spec.rollback.disable_wait
    assert hr.spec.rollback.timeout == "300s"


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ({"helmVersion": "v2"}, "spec.helmVersion", UNSUPPORTED["v1:helmVersion"].why),
        (
            {"valuesFrom": [{"externalSourceRef": {"url": "https://x/values.yaml"}}]},
            "spec.valuesFrom[0].externalSourceRef",
            UNSUPPORTED["v1:valuesFrom[].externalSourceRef"].why,
        ),
        (
            {"valuesFrom": [{"configMapKeyRef": {"name": "c", "namespace": "other"}}]},
            "spec.valuesFrom[0].configMapKeyRef.namespace",
            UNSUPPORTED["v1:valuesFrom[].namespace"].why,
        ),
        (
            {"rollback": {"enable": True, "recreate": True}},
            "spec.rollback.recreate",
            UNSUPPORTED["v1:rollback.recreate"].why,
        ),
        (
            {
                "valuesFrom": [
                    {"secretKeyRef": {"name": "s"}},
                    {"chartFileRef": {"path": "prod.yaml"}},
                ]
            },
            "spec.valuesFrom[1].chartFileRef",
            "move chartFileRef entries to the top",
        ),
        ({"valuesFrom": [{}]}, "spec.valuesFrom[0]", "exactly one of configMapKeyRef"),
        ({"chart": {"name": "podinfo"}}, "spec.chart", "exactly one of repository"),
        ({"chart": {"repository": "https://charts.example.com"}}, "spec.chart", "needs name"),
        ({"chart": {"git": "https://example.com/charts"}}, "spec.chart", "needs path"),
        ({"timeout": "300"}, "spec.timeout", "expected an integer"),
        ({"releaseName": "r" * 54}, "spec.releaseName", "at most 53 characters"),
        ({"wiat": True}, "spec.wiat", 'did you mean "wait"'),
    ],
)
def test_operator_fields_without_a_v2_equivalent_are_refused(
    spec: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidObjects) as caught:
        convert_helm_operator(operator(**spec))
    found = [(e.field, e.message) for e in caught.value.errors]
    assert [f for f, _ in found] == [field], found
    assert says in found[0][1]


def test_credentials_in_a_chart_url_are_refused_without_echoing_them() -> None:
    doc = operator(chart={"repository": "https://u:s3cret@charts.example.com", "name": "app"})
    with pytest.raises(InvalidObjects) as caught:
        convert_helm_operator(doc)
    assert caught.value.errors[0].field == "spec.chart.repository"
    assert "s3cret" not in str(caught.value) and "put the credentials in a Secret" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://stefanprodan.github.io/podinfo", "stefanprodan-github-io-podinfo"),
        ("https://charts.example.com:8443/stable/", "charts-example-com-8443-stable"),
        ("oci://ghcr.io/org/charts", "ghcr-io-org-charts"),
        ("git@github.com:org/repo.git", "github-com-org-repo"),
        ("ssh://git@example.com:2222/org/repo.git", "example-com-2222-org-repo"),
    ],
)
def test_sources_are_named_after_their_url(url: str, name: str) -> None:
    assert source_name(url) == name


def test_a_long_url_gives_a_name_of_at_most_63_characters() -> None:
    name = source_name("https://charts.example.com/" + "deep/" * 20)
    assert len(name) <= 63 and name.startswith("charts-example-com-deep")


def test_a_storage_namespace_apart_from_the_release_is_refused_naming_the_field() -> None:
    assert validate(release(targetNamespace="web", storageNamespace="web")) == []
    (error,) = validate(release(targetNamespace="web", storageNamespace="apps"))
    assert "spec.storageNamespace 'apps' differs from the release namespace 'web'" in error.message
