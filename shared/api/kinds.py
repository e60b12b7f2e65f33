"""The kind registry: names, API versions and owning service of every kind sluice knows.

Each kind module (``source.py``, ``kustomize.py``, ...) declares its
:class:`KindInfo` next to its model and calls :func:`register`; importing
``shared.api`` imports them all, so the registry is complete before any
lookup. Adding a kind is one new module plus one import in ``__init__``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.api.meta import ApiObject

__all__ = [
    "CORE_GROUP",
    "FLEET_GROUP",
    "KUSTOMIZE_GROUP",
    "SOURCE_GROUP",
    "KindInfo",
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

_FLUX_SUFFIX = ".toolkit.fluxcd.io"
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
    # The sluice service that reconciles it; None when nothing reconciles it
    # on its own (Cluster, Secret, ConfigMap are read by other services).
    service: str | None
    namespaced: bool
    has_interval: bool
    model: type[ApiObject] = field(repr=False, compare=False)

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


def is_store_object(api_version: str, kind: str) -> bool:
    """Whether a built object goes to sluice's store rather than to the clusters.

    True for every Flux toolkit group and sluice's own groups, known kind or
    not; Secrets and ConfigMaps that sluice objects reference are the caller's
    decision (they usually belong on the cluster too).
    """
    group, _ = split_api_version(api_version)
    return bool(kind) and (group.endswith(_FLUX_SUFFIX) or group.endswith(_SLUICE_SUFFIX))
