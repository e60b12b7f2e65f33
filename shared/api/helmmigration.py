"""Flux v1 to Flux v2: a Helm Operator HelmRelease as a v2 HelmRelease plus its source.

:func:`convert_helm_operator` is the migration Flux's guide ("Migrate to the
Helm Controller") describes, done as a pure function: the chart's repository
URL becomes a HelmRepository (a Git chart, a GitRepository) named after the
URL, and the HelmRelease becomes a ``helm.toolkit.fluxcd.io/v2`` one with a
chart template pointing at it. The operator's defaults that differ from Flux
v2's are written out, so the same Helm release is taken over and behaves as
before:

- ``releaseName``: the operator's ``<targetNamespace>-<name>`` (or
  ``<namespace>-<targetNamespace>-<name>``), not v2's ``[targetNamespace-]name``;
- ``maxHistory``: 10; failed installs are uninstalled and retried
  (``install.remediation.retries: -1``); upgrades leave CRDs alone (Helm 3);
- ``wait``: unset means "wait only with rollback or tests enabled";
  ``resetValues: false`` means reuse the previous values; timeouts are seconds,
  300 for rollback and test whatever ``spec.timeout`` says; a failed test
  never uninstalls a new release;
- ``rollback.enable`` (+ ``retry``, ``maxRetries`` 5, 0 = unlimited) becomes
  upgrade remediation by rollback; ``valueFileSecrets`` lead ``valuesFrom``;
  ``chartFileRef`` becomes ``chart.spec.valuesFiles`` after the chart's own
  values.yaml (v2 replaces the defaults, the operator merged on top of them).

Refused, naming the v1 field: what ``helmsupport`` marks (``helmVersion: v2``,
``externalSourceRef``, values from another namespace, ``rollback.recreate``),
a ``chartFileRef`` after another values source (v2 cannot merge it there), and
credentials or a query in a URL (never echoed back).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from shared.api.errors import FieldError, InvalidObjects, field_errors
from shared.api.helmoperator import OPERATOR_API_VERSION, HelmOperatorRelease
from shared.api.helmrelease import API_VERSION, parse_helmrelease
from shared.api.helmsupport import UNSUPPORTED

__all__ = ["MigratedRelease", "convert_helm_operator", "source_name"]

SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
# The intervals of the example in Flux's migration guide.
RELEASE_INTERVAL = "5m"
SOURCE_INTERVAL = "10m"
OPERATOR_MAX_HISTORY = 10
OPERATOR_MAX_RETRIES = 5
OPERATOR_TIMEOUT = 300  # seconds, of every action
DEFAULT_GIT_REF = "master"
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class MigratedRelease:
    """The documents replacing one Helm Operator HelmRelease."""

    release: dict[str, Any]  # helm.toolkit.fluxcd.io/v2 HelmRelease
    source: dict[str, Any]  # source.toolkit.fluxcd.io/v1 HelmRepository or GitRepository


class _Refused(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def source_name(url: str) -> str:
    """A source name made from a repository URL: host, port and path, as a DNS label.

    ``https://stefanprodan.github.io/podinfo`` -> ``stefanprodan-github-io-podinfo``;
    SSH ``git@github.com:org/repo.git`` -> ``github-com-org-repo``. Past 63
    characters, the first 50 and 12 hex of the URL's sha256.
    """
    if "://" in url:
        parts = urlsplit(url)
        text = f"{parts.hostname or ''}-{parts.port or ''}-{parts.path}"
    else:  # scp-like git@host:path
        text = url.rpartition("@")[2].replace(":", "/")
    text = re.sub(r"\.git/?$", "", text.lower())
    name = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(name) > 63:
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        name = f"{name[:50].rstrip('-')}-{digest}"
    return name


def _check_url(url: str, field: str) -> None:
    parts = urlsplit(url) if "://" in url else None
    # Never echo the URL: it may carry a password or a token.
    if parts is not None and (parts.password or parts.query):
        raise _Refused(
            field,
            "credentials or a query in the URL: put the credentials in a Secret and "
            "reference it (chartPullSecret for a Helm repository, secretRef for Git)",
        )


def _ssh_url(url: str) -> str:
    """scp-like ``git@host:org/repo`` (which the operator took) as ``ssh://git@host/org/repo``."""
    if "://" in url or ":" not in url:
        return url
    user_host, _, path = url.partition(":")
    return f"ssh://{user_host}/{path}"


def _seconds(value: int) -> str:
    return f"{value}s"


def _git_ref(ref: str | None) -> dict[str, str]:
    ref = ref or DEFAULT_GIT_REF
    if _COMMIT.fullmatch(ref):
        return {"commit": ref}
    if ref.startswith("refs/"):
        return {"name": ref}
    return {"branch": ref}


def _source(hr: HelmOperatorRelease) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source document and the chart template's spec for it."""
    chart = hr.spec.chart
    meta = {"namespace": hr.namespace}
    if chart.repository:
        _check_url(chart.repository, "spec.chart.repository")
        name = source_name(chart.repository)
        spec: dict[str, Any] = {"interval": SOURCE_INTERVAL, "url": chart.repository}
        if chart.repository.startswith("oci://"):
            spec["type"] = "oci"
        if chart.chart_pull_secret:
            spec["secretRef"] = {"name": chart.chart_pull_secret.name}
        kind = "HelmRepository"
        template = {"chart": chart.name, "version": chart.version or "*"}
    else:
        url = _ssh_url(chart.git or "")
        _check_url(url, "spec.chart.git")
        name = source_name(url)
        spec = {"interval": SOURCE_INTERVAL, "url": url, "ref": _git_ref(chart.ref)}
        if chart.secret_ref:
            spec["secretRef"] = {"name": chart.secret_ref.name}
        kind = "GitRepository"
        # The operator upgraded on every commit of the chart directory.
        template = {"chart": chart.path, "reconcileStrategy": "Revision"}
    document = {
        "apiVersion": SOURCE_API_VERSION,
        "kind": kind,
        "metadata": {"name": name, **meta},
        "spec": spec,
    }
    return document, {**template, "sourceRef": {"kind": kind, "name": name}}


def _chart_file(hr: HelmOperatorRelease, path: str) -> str:
    """A chart file path as v2's valuesFiles want it: chart root (Helm) or source root (Git)."""
    base = (hr.spec.chart.path or "") if hr.spec.chart.git else ""
    return posixpath.normpath(posixpath.join(base, path)).lstrip("/")


def _values(hr: HelmOperatorRelease) -> tuple[list[dict[str, Any]], list[str], bool]:
    """valuesFrom, values files, and whether missing files are ignored."""
    refs: list[dict[str, Any]] = [
        {"kind": "Secret", "name": s.name} for s in hr.spec.value_file_secrets
    ]
    files: list[str] = []
    optional_files: list[bool] = []
    for index, entry in enumerate(hr.spec.values_from):
        field = f"spec.valuesFrom[{index}]"
        if entry.chart_file_ref is not None:
            if refs:
                raise _Refused(
                    f"{field}.chartFileRef",
                    "a chart file after another values source cannot be converted: Flux v2 "
                    "reads chart files first, so move chartFileRef entries to the top",
                )
            files.append(_chart_file(hr, entry.chart_file_ref.path))
            optional_files.append(bool(entry.chart_file_ref.optional))
            continue
        kind, ref = (
            ("ConfigMap", entry.config_map_key_ref)
            if entry.config_map_key_ref is not None
            else ("Secret", entry.secret_key_ref)
        )
        assert ref is not None  # one of the two, checked by the model
        if ref.namespace not in (None, hr.namespace):
            reference = "configMapKeyRef" if kind == "ConfigMap" else "secretKeyRef"
            raise _Refused(
                f"{field}.{reference}.namespace", UNSUPPORTED["v1:valuesFrom[].namespace"].why
            )
        converted: dict[str, Any] = {"kind": kind, "name": ref.name}
        if ref.key:
            converted["valuesKey"] = ref.key
        if ref.optional:
            converted["optional"] = True
        refs.append(converted)
    if files:
        # The operator merged chart files over the chart's defaults; v2 replaces them.
        files.insert(0, _chart_file(hr, "values.yaml"))
    return refs, files, bool(optional_files) and all(optional_files)


def _release_spec(hr: HelmOperatorRelease, template: dict[str, Any]) -> dict[str, Any]:
    spec = hr.spec
    wait = spec.wait if spec.wait is not None else spec.rollback.enable or spec.test.enable
    refs, files, ignore_missing = _values(hr)
    if files:
        template["valuesFiles"] = files
    if ignore_missing:
        template["ignoreMissingValuesFiles"] = True
    install: dict[str, Any] = {"remediation": {"retries": -1}}
    upgrade: dict[str, Any] = {"crds": "Skip"}
    if spec.skip_crds:
        install["crds"] = "Skip"
    for block in (install, upgrade):
        if not wait:
            block["disableWait"] = True
        if spec.disable_open_api_validation:
            block["disableOpenAPIValidation"] = True
    if spec.reset_values is False:
        upgrade["preserveValues"] = True
    if spec.force_upgrade:
        upgrade["force"] = True
    out: dict[str, Any] = {
        "interval": RELEASE_INTERVAL,
        "releaseName": hr.operator_release_name,
        "chart": {"spec": template},
        "maxHistory": OPERATOR_MAX_HISTORY if spec.max_history is None else spec.max_history,
        "install": install,
        "upgrade": upgrade,
    }
    if spec.target_namespace:
        out["targetNamespace"] = spec.target_namespace
    if spec.timeout is not None:
        out["timeout"] = _seconds(spec.timeout)
    rollback = spec.rollback
    if rollback.enable:
        retries = rollback.max_retries if rollback.max_retries is not None else OPERATOR_MAX_RETRIES
        upgrade["remediation"] = {
            "retries": (retries or -1) if rollback.retry else 0,
            "remediateLastFailure": True,
            "strategy": "rollback",
        }
        # The operator's rollback and test timeouts were their own (300s), never spec.timeout.
        out["rollback"] = {
            "timeout": _seconds(rollback.timeout or OPERATOR_TIMEOUT),
            "disableWait": not rollback.wait,
            "disableHooks": rollback.disable_hooks,
            "force": rollback.force,
        }
    if spec.test.enable:
        test: dict[str, Any] = {
            "enable": True,
            "timeout": _seconds(spec.test.timeout or OPERATOR_TIMEOUT),
        }
        if spec.test.ignore_failures is not None:
            test["ignoreFailures"] = spec.test.ignore_failures
        out["test"] = test
        # A failed test never made the operator uninstall a new release.
        install["remediation"]["ignoreTestFailures"] = True
    if refs:
        out["valuesFrom"] = refs
    if spec.values is not None:
        out["values"] = spec.values
    return out


def _label(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    return f"HelmRelease/{meta.get('namespace') or 'default'}/{meta.get('name')}"


def convert_helm_operator(
    doc: dict[str, Any], *, source: str = "<input>", index: int = 0
) -> MigratedRelease:
    """The v2 HelmRelease and the source it needs for a ``helm.fluxcd.io/v1`` document.

    Raises InvalidObjects naming the v1 field when the document is invalid or
    uses something Flux v2 (or sluice) has no equivalent for.
    """
    obj = _label(doc)
    if doc.get("apiVersion") != OPERATOR_API_VERSION or doc.get("kind") != "HelmRelease":
        message = f"expected a {OPERATOR_API_VERSION} HelmRelease"
        raise InvalidObjects([FieldError(source, index, obj, "apiVersion", message)])
    try:
        hr = HelmOperatorRelease.model_validate(doc, by_name=False)
    except ValidationError as exc:
        errors = field_errors(exc, HelmOperatorRelease, source=source, index=index, obj=obj)
        raise InvalidObjects(errors) from None
    try:
        source_doc, template = _source(hr)
        spec = _release_spec(hr, template)
    except _Refused as refused:
        raise InvalidObjects(
            [FieldError(source, index, obj, refused.field, refused.message)]
        ) from None
    metadata: dict[str, Any] = {"name": hr.name, "namespace": hr.namespace}
    if hr.metadata.labels:
        metadata["labels"] = dict(hr.metadata.labels)
    if hr.metadata.annotations:
        metadata["annotations"] = dict(hr.metadata.annotations)
    release = {"apiVersion": API_VERSION, "kind": "HelmRelease", "metadata": metadata, "spec": spec}
    parse_helmrelease(release, source=source, index=index)  # what v2 refuses, said now
    return MigratedRelease(release=release, source=source_doc)
