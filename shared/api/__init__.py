"""Flux-compatible API objects: kinds, models, validation, conditions.

The kind registry (``kinds.py``) is complete on its own; the models and
validation below, which cost pydantic's model building, are imported on first
use of one of these names (``from shared.api import Kustomization``), so a
command that only needs names or conditions (``sluice get``) never pays for
them. The names below are the surface other packages use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shared.api.kinds import KindInfo, is_store_object, known_kinds, lookup_kind, resolve_kind

if TYPE_CHECKING:
    from shared.api import (
        artifactgenerator,
        bucket,
        core,
        externalartifact,
        fleet,
        kustomize,
        source,
    )
    from shared.api.artifactgenerator import ArtifactGenerator
    from shared.api.bucket import Bucket
    from shared.api.core import ConfigMap, Secret
    from shared.api.errors import FieldError, InvalidObjects
    from shared.api.externalartifact import ExternalArtifact
    from shared.api.fleet import Cluster
    from shared.api.helmchart import HelmChart
    from shared.api.helmrepository import HelmRepository
    from shared.api.imagepolicy import ImagePolicy
    from shared.api.imagerepository import ImageRepository
    from shared.api.imageupdateautomation import ImageUpdateAutomation
    from shared.api.kustomize import Kustomization
    from shared.api.meta import ApiObject
    from shared.api.ocirepository import OCIRepository
    from shared.api.source import GitRepository
    from shared.api.validation import (
        dump_object,
        load_file,
        load_path,
        object_files,
        parse_as,
        parse_documents,
        parse_object,
        validate,
    )

__all__ = [
    "ApiObject",
    "ArtifactGenerator",
    "Bucket",
    "Cluster",
    "ConfigMap",
    "ExternalArtifact",
    "FieldError",
    "GitRepository",
    "HelmChart",
    "HelmRepository",
    "ImagePolicy",
    "ImageRepository",
    "ImageUpdateAutomation",
    "InvalidObjects",
    "KindInfo",
    "Kustomization",
    "OCIRepository",
    "Secret",
    "artifactgenerator",
    "bucket",
    "core",
    "dump_object",
    "externalartifact",
    "fleet",
    "is_store_object",
    "known_kinds",
    "kustomize",
    "load_file",
    "load_path",
    "lookup_kind",
    "object_files",
    "parse_as",
    "parse_documents",
    "parse_object",
    "resolve_kind",
    "source",
    "validate",
]

# Where each lazily imported name lives (a submodule itself when it maps to None).
_LAZY: dict[str, tuple[str, str | None]] = {
    "artifactgenerator": ("shared.api.artifactgenerator", None),
    "bucket": ("shared.api.bucket", None),
    "Bucket": ("shared.api.bucket", "Bucket"),
    "core": ("shared.api.core", None),
    "externalartifact": ("shared.api.externalartifact", None),
    "fleet": ("shared.api.fleet", None),
    "kustomize": ("shared.api.kustomize", None),
    "source": ("shared.api.source", None),
    "ConfigMap": ("shared.api.core", "ConfigMap"),
    "Secret": ("shared.api.core", "Secret"),
    "FieldError": ("shared.api.errors", "FieldError"),
    "InvalidObjects": ("shared.api.errors", "InvalidObjects"),
    "Cluster": ("shared.api.fleet", "Cluster"),
    "Kustomization": ("shared.api.kustomize", "Kustomization"),
    "ApiObject": ("shared.api.meta", "ApiObject"),
    "GitRepository": ("shared.api.source", "GitRepository"),
    "ArtifactGenerator": ("shared.api.artifactgenerator", "ArtifactGenerator"),
    "ExternalArtifact": ("shared.api.externalartifact", "ExternalArtifact"),
    "HelmChart": ("shared.api.helmchart", "HelmChart"),
    "HelmRepository": ("shared.api.helmrepository", "HelmRepository"),
    "ImagePolicy": ("shared.api.imagepolicy", "ImagePolicy"),
    "ImageRepository": ("shared.api.imagerepository", "ImageRepository"),
    "ImageUpdateAutomation": ("shared.api.imageupdateautomation", "ImageUpdateAutomation"),
    "OCIRepository": ("shared.api.ocirepository", "OCIRepository"),
    **{
        name: ("shared.api.validation", name)
        for name in (
            "dump_object",
            "load_file",
            "load_path",
            "object_files",
            "parse_as",
            "parse_documents",
            "parse_object",
            "validate",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # the next lookup is a plain attribute
    return value
