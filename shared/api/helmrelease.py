"""HelmRelease (``helm.toolkit.fluxcd.io/v2``), FLUX-API §4, plus sluice fan-out.

The model is split by concept: where the chart comes from (``spec.chart`` or
``spec.chartRef``) is ``helmchartref``; the per-action blocks (install,
upgrade, test, rollback, uninstall) are ``helmactions``; the fields sluice
refuses are one table in ``helmsupport``; fan-out (``clusters``,
``clusterSelector``, ``kubeConfig``) is ``fleet.FanOutSpec``. The Helm
Operator's ``helm.fluxcd.io/v1`` kind is modelled in ``helmoperator`` and
converted to this one in ``helmmigration``.

v2beta2 and v2beta1 documents are read as v2 (:meth:`HelmRelease.convert_from`):
``chart.spec.valuesFile`` leads ``valuesFiles``, and the post-renderers'
``patchesStrategicMerge`` / ``patchesJson6902`` become ``patches``, as Flux 2.3
did when it removed them.

:func:`parse_helmrelease` reads one document with errors that name its fields.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.api.durations import parse_duration
from shared.api.errors import FieldError, InvalidObjects, field_errors
from shared.api.fleet import FanOutSpec
from shared.api.helmactions import Install, Rollback, Test, Uninstall, Upgrade
from shared.api.helmchartref import ChartReference, HelmChartTemplate
from shared.api.helmsupport import unsupported
from shared.api.kustomize import (
    CommonMetadata,
    CustomHealthCheck,
    DependencyReference,
    IgnoreRule,
    Image,
    Patch,
    fold_legacy_patches,
)
from shared.api.meta import (
    ApiModel,
    ApiObject,
    Duration,
    Interval,
    Name,
    Namespace,
)
from shared.kube.driftignore import InvalidIgnoreRule, parse_pointer

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_HISTORY",
    "DEFAULT_TIMEOUT",
    "HELM_GROUP",
    "OLDER_API_VERSIONS",
    "DriftDetection",
    "DriftIgnoreRule",
    "HelmRelease",
    "HelmReleaseSpec",
    "PostRenderer",
    "PostRendererKustomize",
    "ValuesReference",
    "WaitStrategy",
    "parse_helmrelease",
    "shorten_release_name",
]

HELM_GROUP = "helm.toolkit.fluxcd.io"
API_VERSION = f"{HELM_GROUP}/v2"
OLDER_API_VERSIONS = (f"{HELM_GROUP}/v2beta2", f"{HELM_GROUP}/v2beta1")
DEFAULT_TIMEOUT = "5m0s"
DEFAULT_MAX_HISTORY = 5
MAX_RELEASE_NAME = 53  # Helm's limit: release Secrets are named sh.helm.release.v1.<name>.v<N>
_SHORT_HASH = 12


def shorten_release_name(name: str) -> str:
    """Helm-controller's ShortenName: past 53 characters, the first 40, ``-``, 12 hex of sha256."""
    if len(name) <= MAX_RELEASE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_SHORT_HASH]
    return f"{name[: MAX_RELEASE_NAME - _SHORT_HASH - 1]}-{digest}"


_VALUES_KEY = re.compile(r"[\-._a-zA-Z0-9]{1,253}")
_TARGET_PATH = re.compile(r"([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+")


def _values_key(text: str) -> str:
    if not _VALUES_KEY.fullmatch(text):
        raise ValueError(
            f'invalid valuesKey "{text}": expected a ConfigMap or Secret key of letters, '
            'digits, "-", "_" and ".", at most 253 characters, e.g. "values.yaml"'
        )
    return text


def _target_path(text: str) -> str:
    # Flux's CRD pattern: Helm --set path characters, list indexes in brackets.
    if len(text) > 250 or not _TARGET_PATH.fullmatch(text):
        raise ValueError(
            f'invalid targetPath "{text}": expected a Helm --set path such as '
            '"image.tag" or "hosts[0].name" (letters, digits, "_-./\\" and [index]), '
            "at most 250 characters"
        )
    return text


ValuesKey = Annotated[str, AfterValidator(_values_key)]
TargetPath = Annotated[str, AfterValidator(_target_path)]


class ValuesReference(ApiModel):
    """``spec.valuesFrom[]``: values from a key of a ConfigMap or Secret of the HR's namespace."""

    kind: Literal["ConfigMap", "Secret"]
    name: Name
    values_key: ValuesKey = "values.yaml"
    target_path: TargetPath | None = None
    optional: bool = False
    literal: Annotated[bool, unsupported("valuesFrom[].literal")] = False


class PostRendererKustomize(ApiModel):
    """``postRenderers[].kustomize``: patches and image overrides of the rendered objects."""

    patches: list[Patch] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)


class PostRenderer(ApiModel):
    """``spec.postRenderers[]``."""

    kustomize: PostRendererKustomize | None = None


class DriftIgnoreRule(IgnoreRule):
    """``driftDetection.ignore[]``: as ``spec.ignore[]``, and ``""`` ignores the whole object."""

    @field_validator("paths")
    @classmethod
    def _pointers(cls, value: list[str]) -> list[str]:
        for pointer in value:
            if pointer == "":
                continue  # Flux's root pointer (jsondiff.IgnorePathRoot)
            try:
                parse_pointer(pointer)
            except InvalidIgnoreRule as err:
                raise ValueError(str(err)) from err
        return value


class DriftDetection(ApiModel):
    """``spec.driftDetection``: compare the cluster with the release manifest."""

    mode: Literal["enabled", "warn", "disabled"] = "disabled"
    ignore: list[DriftIgnoreRule] = Field(default_factory=list)

    @property
    def detects(self) -> bool:
        """Whether drift is looked for at all (enabled or warn)."""
        return self.mode != "disabled"


class WaitStrategy(ApiModel):
    """``spec.waitStrategy``."""

    name: Literal["poller", "legacy"]


class HelmReleaseSpec(FanOutSpec):
    """``HelmRelease.spec``; the fan-out fields come from ``FanOutSpec``."""

    chart: HelmChartTemplate | None = None
    chart_ref: ChartReference | None = None
    interval: Interval
    suspend: bool = False
    release_name: str | None = Field(default=None, min_length=1, max_length=MAX_RELEASE_NAME)
    target_namespace: Namespace | None = None
    storage_namespace: Namespace | None = None
    depends_on: list[DependencyReference] = Field(default_factory=list)
    timeout: Duration | None = None
    max_history: int | None = None
    persistent_client: bool | None = None
    drift_detection: DriftDetection | None = None
    install: Install | None = None
    upgrade: Upgrade | None = None
    test: Test | None = None
    rollback: Rollback | None = None
    uninstall: Uninstall | None = None
    values_from: list[ValuesReference] = Field(default_factory=list)
    values: dict[str, Any] | None = None
    common_metadata: CommonMetadata | None = None
    post_renderers: list[PostRenderer] = Field(default_factory=list)
    post_render_strategy: Annotated[
        Literal["nohooks", "combined", "separate"], unsupported("postRenderStrategy")
    ] = "combined"
    wait_strategy: WaitStrategy | None = None
    health_check_exprs: Annotated[list[CustomHealthCheck], unsupported("healthCheckExprs")] = Field(
        default_factory=list
    )

    @field_validator("chart_ref")
    @classmethod
    def _one_chart(
        cls, value: ChartReference | None, info: ValidationInfo
    ) -> ChartReference | None:
        if value is not None and info.data.get("chart") is not None:
            raise ValueError("cannot be combined with spec.chart: use one of them")
        return value

    @model_validator(mode="after")
    def _some_chart(self) -> Self:
        # Flux's CEL rule: exactly one of chart or chartRef.
        if self.chart is None and self.chart_ref is None:
            raise ValueError(
                "either spec.chart (a chart from a HelmRepository, GitRepository or Bucket) "
                "or spec.chartRef (an OCIRepository, HelmChart or ExternalArtifact) must be set"
            )
        return self

    @property
    def interval_seconds(self) -> float:
        """``interval`` in seconds."""
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds, 5 minutes when unset (Flux's default for every action)."""
        return parse_duration(self.timeout or DEFAULT_TIMEOUT)

    @property
    def history_limit(self) -> int:
        """``maxHistory``, 5 when unset; 0 keeps every revision."""
        return DEFAULT_MAX_HISTORY if self.max_history is None else self.max_history

    @property
    def uses_persistent_client(self) -> bool:
        """``persistentClient``, true when unset (one client per reconcile, not per action)."""
        return self.persistent_client is not False

    @property
    def drift(self) -> DriftDetection:
        """``driftDetection``, disabled when unset."""
        return self.drift_detection or DriftDetection()

    @property
    def install_or_default(self) -> Install:
        """``install``, Flux's defaults when unset."""
        return self.install or Install()

    @property
    def upgrade_or_default(self) -> Upgrade:
        """``upgrade``, Flux's defaults when unset."""
        return self.upgrade or Upgrade()


class HelmRelease(ApiObject):
    """A Helm release of a chart, installed and kept up to date on clusters."""

    spec: HelmReleaseSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _storage_with_release(self) -> Self:
        # helm (the CLI sluice runs) keeps a release's storage in the namespace it
        # installs into: another storage namespace cannot be honoured.
        storage = self.spec.storage_namespace
        if storage is not None and storage != self.release_namespace:
            raise ValueError(
                f"spec.storageNamespace {storage!r} differs from the release namespace "
                f"{self.release_namespace!r} (spec.targetNamespace, else the HelmRelease's): "
                "sluice keeps Helm's storage with the release; remove storageNamespace or set "
                "it to the release namespace"
            )
        return self

    @property
    def release_name(self) -> str:
        """The Helm release name: ``releaseName``, else ``[targetNamespace-]name``, shortened."""
        spec = self.spec
        name = spec.release_name or (
            f"{spec.target_namespace}-{self.name}" if spec.target_namespace else self.name
        )
        return shorten_release_name(name)

    @property
    def release_namespace(self) -> str:
        """Where the chart's objects go: ``targetNamespace``, else the HelmRelease's namespace."""
        return self.spec.target_namespace or self.namespace

    @property
    def storage_namespace(self) -> str:
        """Where Helm keeps the release Secrets: with the release (``_storage_with_release``)."""
        return self.release_namespace

    @property
    def helm_chart_name(self) -> str:
        """Name of the HelmChart created from ``spec.chart``: ``<namespace>-<name>``."""
        return f"{self.namespace}-{self.name}"

    @property
    def helm_chart_namespace(self) -> str | None:
        """Namespace of that HelmChart (the source's), None with ``chartRef``."""
        if self.spec.chart is None:
            return None
        return self.spec.chart.spec.source_ref.namespace or self.namespace

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v2beta2/v2beta1 -> v2: ``valuesFile`` leads ``valuesFiles``; legacy patches fold."""
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            return doc
        spec = dict(spec)
        chart = spec.get("chart")
        if isinstance(chart, dict) and isinstance(chart.get("spec"), dict):
            template = dict(chart["spec"])
            single = template.pop("valuesFile", None)
            if isinstance(single, str) and single:
                template["valuesFiles"] = [single, *(template.get("valuesFiles") or [])]
            spec["chart"] = {**chart, "spec": template}
        renderers = spec.get("postRenderers")
        if isinstance(renderers, list):
            spec["postRenderers"] = [
                {**r, "kustomize": fold_legacy_patches(r["kustomize"])}
                if isinstance(r, dict) and isinstance(r.get("kustomize"), dict)
                else r
                for r in renderers
            ]
        return {**doc, "spec": spec}


def _label(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    return f"HelmRelease/{meta.get('namespace') or 'default'}/{meta.get('name')}"


def parse_helmrelease(
    doc: dict[str, Any], *, source: str = "<input>", index: int = 0
) -> HelmRelease:
    """The typed HelmRelease of a v2, v2beta2 or v2beta1 document, or InvalidObjects.

    Every error names its field (``spec.install.remediation.retries``) and says
    what was expected; an older apiVersion is converted first.
    """
    obj = _label(doc)
    api_version = doc.get("apiVersion")
    if api_version in OLDER_API_VERSIONS:
        doc = {**HelmRelease.convert_from(str(api_version), doc), "apiVersion": API_VERSION}
    elif api_version != API_VERSION:
        also = ", ".join(OLDER_API_VERSIONS)
        hint = (
            ": a Helm Operator (Flux v1) HelmRelease, read with helmmigration.convert_helm_operator"
            if api_version == "helm.fluxcd.io/v1"
            else ""
        )
        message = (
            f'unsupported apiVersion "{api_version}" for HelmRelease: expected {API_VERSION} '
            f"(older versions read: {also}){hint}"
        )
        raise InvalidObjects([FieldError(source, index, obj, "apiVersion", message)])
    if doc.get("kind") != "HelmRelease":
        message = f'expected kind HelmRelease, got "{doc.get("kind")}"'
        raise InvalidObjects([FieldError(source, index, obj, "kind", message)])
    try:
        release = HelmRelease.model_validate(doc, by_name=False)
    except ValidationError as exc:
        raise InvalidObjects(
            field_errors(exc, HelmRelease, source=source, index=index, obj=obj)
        ) from None
    return release
