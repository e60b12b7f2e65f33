"""HelmRelease drift detection, the pure parts: exclusion, ignore rules, field changes, texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from services.helm.drift import DriftError, release_objects
from services.helm.driftreport import (
    DriftReport,
    ObjectDrift,
    corrected_message,
    correction_failed_message,
    drifted_message,
)
from services.helm.driftrules import (
    InvalidIgnoreRule,
    compile_drift_rules,
    disabled_by_metadata,
)
from services.helm.fieldchanges import FieldChange, Op, field_changes
from shared.api.helmrelease import DriftDetection
from shared.api.kustomize import Selector
from shared.kube.driftignore import ignored_paths
from shared.kube.inventory import Action, Change, ChangeSet, ObjectError, ObjectRef
from shared.kube.plan import ApplyError


@dataclass(frozen=True)
class Rule:
    """An ``ignore[]`` entry; a plain value, since the API model refuses the root pointer."""

    paths: Sequence[str]
    target: Selector | None = None


def obj(
    kind: str = "Deployment",
    name: str = "web",
    *,
    api_version: str = "apps/v1",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "apps"}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


KEY = "helm.toolkit.fluxcd.io/driftDetection"


@pytest.mark.parametrize(
    ("target", "disabled"),
    [
        (obj(annotations={KEY: "disabled"}), True),
        (obj(labels={KEY: "disabled"}), True),
        (obj(annotations={KEY: "Disabled"}), True),  # compared case-insensitively, as Flux
        (obj(annotations={KEY: "enabled"}), False),
        (obj(annotations={"other/driftDetection": "disabled"}), False),
        (obj(), False),
        (None, False),
    ],
)
def test_an_object_opts_out_of_drift_detection_by_label_or_annotation(
    target: dict[str, Any] | None, disabled: bool
) -> None:
    assert disabled_by_metadata(target) is disabled


DEPLOYMENTS = Selector(kind="Deployment")


@pytest.mark.parametrize(
    ("rules", "target", "why"),
    [
        ([], obj(), ""),
        ([], obj(annotations={KEY: "disabled"}), f"{KEY} is disabled"),
        ([Rule([""])], obj(), "an ignore rule covers the whole object"),
        ([Rule([""], DEPLOYMENTS)], obj(), "an ignore rule covers the whole object"),
        ([Rule([""], DEPLOYMENTS)], obj("ConfigMap", api_version="v1"), ""),
        ([Rule(["", "/spec/replicas"], Selector(name="other"))], obj(), ""),
        # A field pointer leaves the object in: only that field is left out.
        ([Rule(["/spec/replicas"])], obj(), ""),
    ],
)
def test_an_object_is_excluded_by_metadata_or_by_a_root_ignore_rule(
    rules: list[Rule], target: dict[str, Any], why: str
) -> None:
    assert compile_drift_rules(rules).excludes(target) == why


def test_a_helmrelease_ignores_a_whole_object_with_the_root_pointer() -> None:
    spec = {"mode": "enabled", "ignore": [{"paths": [""], "target": {"kind": "Secret"}}]}
    rules = compile_drift_rules(DriftDetection.model_validate(spec).ignore)

    assert rules.excludes(obj("Secret", "token", api_version="v1")) != ""
    assert rules.excludes(obj("ConfigMap", "token", api_version="v1")) == ""
    with pytest.raises(ValidationError, match="invalid JSON pointer 'spec'"):
        DriftDetection.model_validate({"ignore": [{"paths": ["spec"]}]})


def test_field_rules_keep_their_pointers_without_the_root_one() -> None:
    rules = compile_drift_rules([Rule(["", "/spec/replicas"], DEPLOYMENTS), Rule([""])])

    assert ignored_paths(rules.fields, obj()) == ("/spec/replicas",)
    assert ignored_paths(rules.fields, obj("ConfigMap", api_version="v1")) == ()
    assert len(rules.whole) == 2


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([Rule(["/a"]), Rule(["spec"])], "ignore[1]."),
        ([Rule(["/a"]), Rule([""], Selector(kind="("))], "ignore[1].target.kind"),
        ([Rule([""]), Rule(["/a"], Selector(name="["))], "ignore[1].target.name"),
    ],
)
def test_a_bad_rule_is_named_by_its_index(rules: list[Rule], message: str) -> None:
    with pytest.raises(InvalidIgnoreRule) as caught:
        compile_drift_rules(rules)
    assert str(caught.value).startswith(message)


def cm(data: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return obj("ConfigMap", "settings", api_version="v1", data=data, **meta)


def changes(*pairs: tuple[str, str]) -> tuple[FieldChange, ...]:
    return tuple(FieldChange(Op(op), path) for op, path in pairs)


HTTP = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http-server"}
LONG_ARG = "--config=/etc/web/config.yaml --listen-address=0.0.0.0:8080 --log-level=info"
SPEC = {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}


@pytest.mark.parametrize(
    ("live", "desired", "expected"),
    [
        (obj(spec=SPEC), obj(spec=SPEC), ()),
        (obj(spec={**SPEC, "replicas": 3}), obj(spec=SPEC), changes(("replace", "/spec/replicas"))),
        (
            cm({"greeting": "edited by hand", "b": "2"}),
            cm({"greeting": "hello", "b": "2"}),
            changes(("replace", "/data/greeting")),
        ),
        (cm({"a": "1", "b": "2"}), cm({"a": "1"}), changes(("remove", "/data/b"))),
        (cm({"a": "1"}), cm({"a": "1", "b": "2"}), changes(("add", "/data/b"))),
        # Keys with "/" are escaped as JSON pointers are.
        (
            cm({"a/b": "1", "c": "3"}),
            cm({"a/b": "2", "c": "3"}),
            changes(("replace", "/data/a~1b")),
        ),
        # Status and the metadata the API server keeps are never drift.
        (
            cm({"a": "1"}, status={"x": 1}) | {"metadata": {"name": "settings", "uid": "u"}},
            cm({"a": "1"}),
            (),
        ),
        # Labels another controller added live are no drift; labels the release wants are.
        (
            cm({"a": "1"}, labels={"app": "web", "extra": "x"}),
            cm({"a": "1"}, labels={"app": "web"}),
            (),
        ),
        (
            cm({"a": "1"}, labels={"app": "old"}),
            cm({"a": "1"}, labels={"app": "web"}),
            changes(("replace", "/metadata/labels/app")),
        ),
        (
            cm({"a": "1"}),
            cm({"a": "1"}, annotations={"note": "x"}),
            changes(("add", "/metadata/annotations")),
        ),
        # A value of another type is replaced whole.
        (cm({"a": "1"}) | {"data": None}, cm({"a": "1"}), changes(("replace", "/data"))),
        # Lists are compared index by index: extra items go from the end or are appended.
        (
            obj(spec={"ports": [HTTP | {"port": 80}, HTTP | {"name": "https"}]}),
            obj(spec={"ports": [HTTP | {"port": 81}]}),
            changes(("replace", "/spec/ports/0/port"), ("remove", "/spec/ports/1")),
        ),
        (
            obj(spec={"args": [LONG_ARG]}),
            obj(spec={"args": [LONG_ARG, "-v", "-q"]}),
            changes(("add", "/spec/args/-"), ("add", "/spec/args/-")),
        ),
        # Rationalized: many small operations under one node become one replacement.
        (
            cm({f"key-{i}": "old" for i in range(8)}),
            cm({f"key-{i}": "new" for i in range(8)}),
            changes(("replace", "/data")),
        ),
    ],
)
def test_field_changes_are_the_json_patch_flux_counts(
    live: dict[str, Any], desired: dict[str, Any], expected: tuple[FieldChange, ...]
) -> None:
    assert field_changes(live, desired) == expected


DEPLOYMENT = ObjectRef("apps", "Deployment", "apps", "web", "v1")
SETTINGS = ObjectRef("", "ConfigMap", "apps", "web-settings", "v1")
ROLE = ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "web-reader", "v1")
REPORT = DriftReport(
    (
        ObjectDrift(DEPLOYMENT, Action.CONFIGURED, changes(("replace", "/spec/replicas"))),
        ObjectDrift(SETTINGS, Action.CREATED),
        ObjectDrift(ROLE, Action.UNCHANGED),
        ObjectDrift(ObjectRef("", "Secret", "apps", "token"), Action.SKIPPED, reason="x"),
    )
)


def test_the_drifted_message_reads_as_flux_event() -> None:
    assert drifted_message("apps/web.v1", REPORT) == (
        "Cluster state of release apps/web.v1 has drifted from the desired state:\n"
        "Deployment/apps/web changed (0 additions, 1 changes, 0 removals)\n"
        "ConfigMap/apps/web-settings removed\n"
        "Secret/apps/token excluded"
    )
    assert REPORT.brief() == "removed: 1, changed: 1, excluded: 1"
    assert REPORT.drifted
    assert [o.ref for o in REPORT.changed] == [DEPLOYMENT, SETTINGS]
    assert REPORT.excluded == (ObjectRef("", "Secret", "apps", "token"),)


@pytest.mark.parametrize(
    ("drift", "line"),
    [
        (
            ObjectDrift(
                DEPLOYMENT,
                Action.CONFIGURED,
                changes(("add", "/a"), ("replace", "/b"), ("remove", "/c"), ("remove", "/d")),
            ),
            "Deployment/apps/web changed (1 additions, 1 changes, 2 removals) "
            "[add /a, replace /b, remove /c, remove /d]",
        ),
        (ObjectDrift(SETTINGS, Action.CREATED), "ConfigMap/apps/web-settings removed"),
        (ObjectDrift(ROLE, Action.UNCHANGED), "ClusterRole/web-reader unchanged"),
    ],
)
def test_a_log_line_names_the_changed_fields_without_values(drift: ObjectDrift, line: str) -> None:
    assert drift.detail() == line


def test_a_report_without_changes_is_not_drift() -> None:
    clean = DriftReport(
        (ObjectDrift(ROLE, Action.UNCHANGED), ObjectDrift(SETTINGS, Action.SKIPPED))
    )

    assert not clean.drifted
    assert clean.changed == ()
    assert clean.summary() == "ConfigMap/apps/web-settings excluded"
    assert not DriftReport().drifted


def test_the_correction_messages_read_as_flux_events() -> None:
    done = ChangeSet((Change(SETTINGS, Action.CREATED), Change(DEPLOYMENT, Action.CONFIGURED)))
    assert corrected_message("apps/web.v1", done) == (
        "Cluster state of release apps/web.v1 has been corrected:\n"
        "ConfigMap/apps/web-settings created\n"
        "Deployment/apps/web configured"
    )
    refused = ObjectError(DEPLOYMENT, "Invalid", "spec.replicas: must be >= 0", "apply")
    partial = ApplyError([refused], changes=ChangeSet((Change(SETTINGS, Action.CREATED),)))
    assert correction_failed_message("apps/web.v1", partial) == (
        "Failed to partially correct cluster state of release apps/web.v1:\n"
        "Deployment/apps/web apply failed (Invalid): spec.replicas: must be >= 0\n"
        "\n"
        "Successful corrections:\n"
        "ConfigMap/apps/web-settings created"
    )
    assert correction_failed_message("apps/web.v1", ApplyError([refused])) == (
        "Failed to correct cluster state of release apps/web.v1:\n"
        "Deployment/apps/web apply failed (Invalid): spec.replicas: must be >= 0"
    )


MANIFEST = """\
---
# Source: webapp/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
  labels: {app: web}
data: {greeting: hello}
---
# Source: webapp/templates/role.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: web-reader
  annotations: {note: kept}
"""


def test_release_objects_carry_the_metadata_helm_sets_when_it_applies() -> None:
    objects = release_objects(MANIFEST, release="web", namespace="apps")

    assert [o["metadata"] for o in objects] == [
        {
            "name": "web-settings",
            "labels": {"app": "web", "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "web",
                "meta.helm.sh/release-namespace": "apps",
            },
        },
        {
            "name": "web-reader",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "note": "kept",
                "meta.helm.sh/release-name": "web",
                "meta.helm.sh/release-namespace": "apps",
            },
        },
    ]
    assert release_objects("", release="web", namespace="apps") == []


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("- a\n- b\n", "document #0 is not an object"),
        ("kind: A\nmetadata: [1]\n", "document #0 has a metadata that is not a map"),
        ("a: [\n", "manifest of release apps/web"),
    ],
)
def test_a_manifest_that_is_not_objects_is_an_error(manifest: str, message: str) -> None:
    with pytest.raises(DriftError, match=message):
        release_objects(manifest, release="web", namespace="apps")
