"""Flux-compatible API objects: kinds, models, validation, conditions.

Importing this package imports every kind module, and each registers its kind
(see ``kinds.py``), so the registry is complete whichever submodule a caller
imports first. The names below are the surface other packages use.
"""

from shared.api import core, fleet, kustomize, source
from shared.api.core import ConfigMap, Secret
from shared.api.errors import FieldError, InvalidObjects
from shared.api.fleet import Cluster
from shared.api.kinds import KindInfo, is_store_object, known_kinds, lookup_kind, resolve_kind
from shared.api.kustomize import Kustomization
from shared.api.meta import ApiObject
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
    "Cluster",
    "ConfigMap",
    "FieldError",
    "GitRepository",
    "InvalidObjects",
    "KindInfo",
    "Kustomization",
    "Secret",
    "core",
    "dump_object",
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
