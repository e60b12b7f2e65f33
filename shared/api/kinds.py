"""The kind registry: names and API versions of every kind sluice knows.

Every kind is one row of :data:`KINDS` below, naming its model as
``"module:Class"``: the registry is complete as soon as this module is
imported, without importing pydantic or any model (``sluice get`` only needs
names), and ``KindInfo.model`` imports the model on first use. Adding a kind is
one model module plus one row here; the service that reconciles it says so in
its own declaration (``shared/plugins.py``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.api.meta import ApiObject

__all__ = [
    "CORE_GROUP",
    "FLEET_GROUP",
    "FLUX_DOMAIN",
    "GENERATOR_GROUP",
    "IMAGE_GROUP",
    "KINDS",
    "KUSTOMIZE_GROUP",
    "NOTIFICATION_GROUP",
    "SOURCE_GROUP",
    "KindInfo",
    "is_flux_group",
    "is_store_object",
    "known_kinds",
    "lookup_kind",
    "register",
    "resolve_kind",
    "split_api_version",
]

CORE_GROUP = ""
SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
FLEET_GROUP = "fleet.sluice.dev"

FLUX_DOMAIN = "fluxcd.io"
GENERATOR_GROUP = "source.extensions.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
_SLUICE_SUFFIX = ".sluice.dev"


@dataclass(frozen=True)
class KindInfo:
    """What sluice knows about one kind. ``versions[0]`` is the current (stored) version;
    the others are older versions still read and converted on load."""

    kind: str
    group: str
    versions: tuple[str, ...]
    plural: str
    singular: str
    short_names: tuple[str, ...]
    namespaced: bool
    has_interval: bool
    model_ref: str  # "module:Class" of its pydantic model

    @property
    def model(self) -> type[ApiObject]:
        """The pydantic model (imported on first use)."""
        module, _, name = self.model_ref.partition(":")
        model: type[ApiObject] = getattr(importlib.import_module(module), name)
        return model

    @property
    def api_version(self) -> str:
        """The current apiVersion, e.g. ``kustomize.toolkit.fluxcd.io/v1``."""
        return self.api_versions[0]

    @property
    def api_versions(self) -> tuple[str, ...]:
        """Every accepted apiVersion, current first."""
        return tuple(f"{self.group}/{v}" if self.group else v for v in self.versions)

    @property
    def names(self) -> tuple[str, ...]:
        """Lower-case names a user may type: singular, plural, short names."""
        return (self.singular, self.plural, *self.short_names)


_REGISTRY: dict[str, KindInfo] = {}

KINDS = (
    KindInfo(
        kind="GitRepository",
        group=SOURCE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="gitrepositories",
        singular="gitrepository",
        short_names=("gitrepo",),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.source:GitRepository",
    ),
    KindInfo(
        kind="ExternalArtifact",
        group=SOURCE_GROUP,
        versions=("v1",),
        plural="externalartifacts",
        singular="externalartifact",
        short_names=("ea",),
        namespaced=True,
        has_interval=False,
        model_ref="shared.api.externalartifact:ExternalArtifact",
    ),
    KindInfo(
        kind="ArtifactGenerator",
        group=GENERATOR_GROUP,
        versions=("v1beta1",),
        plural="artifactgenerators",
        singular="artifactgenerator",
        short_names=("ag",),
        namespaced=True,
        has_interval=True,  # hourly, as source-watcher (no spec.interval field)
        model_ref="shared.api.artifactgenerator:ArtifactGenerator",
    ),
    KindInfo(
        kind="HelmRelease",
        group=HELM_GROUP,
        versions=("v2", "v2beta2", "v2beta1"),
        plural="helmreleases",
        singular="helmrelease",
        short_names=("hr",),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.helmrelease:HelmRelease",
    ),
    KindInfo(
        kind="HelmChart",
        group=SOURCE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="helmcharts",
        singular="helmchart",
        short_names=("hc",),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.helmchart:HelmChart",
    ),
    KindInfo(
        kind="Bucket",
        group=SOURCE_GROUP,
        versions=("v1", "v1beta2"),
        plural="buckets",
        singular="bucket",
        short_names=(),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.bucket:Bucket",
    ),
    KindInfo(
        kind="HelmRepository",
        group=SOURCE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="helmrepositories",
        singular="helmrepository",
        short_names=("helmrepo",),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.helmrepository:HelmRepository",
    ),
    KindInfo(
        kind="OCIRepository",
        group=SOURCE_GROUP,
        versions=("v1", "v1beta2"),
        plural="ocirepositories",
        singular="ocirepository",
        short_names=("ocirepo",),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.ocirepository:OCIRepository",
    ),
    KindInfo(
        kind="Kustomization",
        group=KUSTOMIZE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="kustomizations",
        singular="kustomization",
        short_names=("ks",),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.kustomize:Kustomization",
    ),
    KindInfo(
        kind="Provider",
        group=NOTIFICATION_GROUP,
        versions=("v1beta3", "v1beta2", "v1beta1"),
        plural="providers",
        singular="provider",
        short_names=("alert-provider", "alert-providers"),
        namespaced=True,
        has_interval=False,
        model_ref="shared.api.provider:Provider",
    ),
    KindInfo(
        kind="Alert",
        group=NOTIFICATION_GROUP,
        versions=("v1beta3", "v1beta2", "v1beta1"),
        plural="alerts",
        singular="alert",
        short_names=(),
        namespaced=True,
        has_interval=False,
        model_ref="shared.api.alert:Alert",
    ),
    KindInfo(
        kind="ImageRepository",
        group=IMAGE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="imagerepositories",
        singular="imagerepository",
        short_names=("imgrepo", "imagerepo"),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.imagerepository:ImageRepository",
    ),
    KindInfo(
        kind="ImagePolicy",
        group=IMAGE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="imagepolicies",
        singular="imagepolicy",
        short_names=("imgpol", "imagepol"),
        namespaced=True,
        # Only with digestReflectionPolicy: Always (spec.interval_seconds is None otherwise):
        # a policy otherwise runs when its ImageRepository's tags change.
        has_interval=True,
        model_ref="shared.api.imagepolicy:ImagePolicy",
    ),
    KindInfo(
        kind="ImageUpdateAutomation",
        group=IMAGE_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="imageupdateautomations",
        singular="imageupdateautomation",
        short_names=("iua", "imgupd", "imgauto"),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.imageupdateautomation:ImageUpdateAutomation",
    ),
    KindInfo(
        kind="Cluster",
        group=FLEET_GROUP,
        versions=("v1alpha1",),
        plural="clusters",
        singular="cluster",
        short_names=(),
        namespaced=True,
        has_interval=False,
        model_ref="shared.api.fleet:Cluster",
    ),
    KindInfo(
        kind="Secret",
        group=CORE_GROUP,
        versions=("v1",),
        plural="secrets",
        singular="secret",
        short_names=(),
        namespaced=True,
        has_interval=False,
        model_ref="shared.api.core:Secret",
    ),
    KindInfo(
        kind="ConfigMap",
        group=CORE_GROUP,
        versions=("v1",),
        plural="configmaps",
        singular="configmap",
        short_names=("cm",),
        namespaced=True,
        has_interval=False,
        model_ref="shared.api.core:ConfigMap",
    ),
    KindInfo(
        kind="Receiver",
        group=NOTIFICATION_GROUP,
        versions=("v1", "v1beta2", "v1beta1"),
        plural="receivers",
        singular="receiver",
        short_names=(),
        namespaced=True,
        has_interval=True,
        model_ref="shared.api.receiver:Receiver",
    ),
)


def register(info: KindInfo) -> KindInfo:
    """Add a kind to the registry; its names must not clash with a known kind."""
    taken = {n for other in _REGISTRY.values() for n in (other.kind.lower(), *other.names)}
    clash = sorted(taken & {info.kind.lower(), *info.names})
    if info.kind in _REGISTRY or clash:
        raise ValueError(f"kind {info.kind}: names already registered: {', '.join(clash)}")
    _REGISTRY[info.kind] = info
    return info


def known_kinds() -> tuple[KindInfo, ...]:
    """Every registered kind, by name."""
    return tuple(sorted(_REGISTRY.values(), key=lambda info: info.kind))


def lookup_kind(kind: str) -> KindInfo | None:
    """The kind with exactly this ``kind`` value (case-sensitive, as in a document)."""
    return _REGISTRY.get(kind)


def resolve_kind(name: str) -> KindInfo:
    """Map a kubectl-style name (``ks``, ``gitrepositories``, ``GitRepository``) to its kind."""
    wanted = name.strip().lower()
    resource, _, group = wanted.partition(".")
    for info in _REGISTRY.values():
        if resource in (info.kind.lower(), *info.names) and group in ("", info.group):
            return info
    known = ", ".join(f"{info.kind} ({', '.join(info.names)})" for info in known_kinds())
    raise ValueError(f'unknown kind "{name}": expected one of {known}')


def split_api_version(api_version: str) -> tuple[str, str]:
    """``group/version`` -> ``(group, version)``; the core group is ``""``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def is_flux_group(group: str) -> bool:
    """Whether ``group`` is one of Flux's API groups (``*.fluxcd.io``: toolkit, extensions)."""
    return group.endswith(f".{FLUX_DOMAIN}")


def is_store_object(api_version: str, kind: str) -> bool:
    """Whether a built object goes to sluice's store rather than to the clusters.

    True for every Flux API group (``*.fluxcd.io``: the toolkit's and
    ``source.extensions.fluxcd.io``) and sluice's own groups, known kind or not:
    an unknown one is then refused by validation, never sent to a cluster.
    Secrets and ConfigMaps that sluice objects reference are the caller's
    decision (they usually belong on the cluster too).
    """
    group, _ = split_api_version(api_version)
    return bool(kind) and (is_flux_group(group) or group.endswith(_SLUICE_SUFFIX))


for _info in KINDS:
    register(_info)
