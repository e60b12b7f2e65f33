"""Kubernetes YAML in and out of the build: parse documents, check objects, route them.

The build layer's exceptions form one tree, rooted here because every other
build module parses YAML through this one:

    KustomizeError
    ├── ArtifactPathError      spec.path is missing, not a directory, or escapes the root (build.py)
    └── BuildFailed            generation, kustomize, or an object it produced is invalid
        ├── BuildLimitExceeded kustomize hit its memory, CPU-time or time cap (build.py)
        ├── DecryptionFailed   a SOPS-encrypted object or file cannot be decrypted (decrypt.py)
        └── SubstitutionError  postBuild variables are invalid or not set (substitute.py)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import yaml
from shared.api.kinds import is_store_object
from shared.api.legacy import Located, replace_legacy

__all__ = [
    "SLUICE_GROUP",
    "TOOLKIT_GROUP_SUFFIX",
    "BuildFailed",
    "Classified",
    "KustomizeError",
    "api_group",
    "apply_common_metadata",
    "as_stored",
    "check_object",
    "classify",
    "dump_object",
    "is_toolkit_object",
    "load_documents",
    "object_ref",
    "parse_objects",
]

TOOLKIT_GROUP_SUFFIX = ".toolkit.fluxcd.io"
SLUICE_GROUP = "fleet.sluice.dev"


class KustomizeError(Exception):
    """Base of every error the kustomize build layer raises."""


class BuildFailed(KustomizeError):
    """The revision cannot be built; ``file`` names the offending file when known."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


def load_documents(text: str, *, source: str) -> list[Any]:
    """The non-empty YAML documents of ``text``, read by shared.yaml; else BuildFailed."""
    try:
        return yaml.load_all(text, source=source)
    except yaml.DocumentError as exc:
        raise BuildFailed(str(exc), file=source) from None


def dump_object(obj: Mapping[str, Any]) -> str:
    """One object as block YAML, keys in their original order, long lines never folded."""
    return yaml.dump(dict(obj))


def _plain(obj: Any) -> Any:
    # One JSON round trip gives the same shapes whether objects come from
    # kustomize or from the cache (string keys, lists, no tuples).
    return json.loads(json.dumps(obj, default=str))


def object_ref(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped), as Flux prints objects."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    kind = obj.get("kind") or "<no kind>"
    name = meta.get("name") or "<no name>"
    namespace = meta.get("namespace")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def check_object(obj: Any, *, index: int, source: str) -> dict[str, Any]:
    """Return ``obj`` if it names itself (apiVersion, kind, metadata.name); else BuildFailed."""
    if not isinstance(obj, Mapping):
        raise BuildFailed(
            f"{source}: document {index + 1} is a {type(obj).__name__}, "
            "expected a Kubernetes object (a YAML mapping)"
        )
    meta = obj.get("metadata")
    missing = [
        field
        for field, value in (
            ("apiVersion", obj.get("apiVersion")),
            ("kind", obj.get("kind")),
            ("metadata.name", meta.get("name") if isinstance(meta, Mapping) else None),
        )
        if not isinstance(value, str) or not value
    ]
    if missing:
        raise BuildFailed(
            f"{source}: object {index + 1} ({object_ref(obj)}) has no {', '.join(missing)}: "
            "every object needs apiVersion, kind and metadata.name"
        )
    return dict(obj)


def parse_objects(text: str, *, source: str) -> list[dict[str, Any]]:
    """Split multi-document YAML into checked objects in document order."""
    docs = load_documents(text, source=source)
    return [_plain(check_object(doc, index=i, source=source)) for i, doc in enumerate(docs)]


def api_group(api_version: str) -> str:
    """The group of ``group/version``; the core group (``v1``) is ``""``."""
    group, slash, _ = api_version.rpartition("/")
    return group if slash else ""


def is_toolkit_object(obj: Mapping[str, Any]) -> bool:
    """True for every Flux API group's kinds and sluice's own: those live in the sluice store.

    The one rule is ``shared.api.is_store_object``; a Flux kind sluice lacks is
    then refused by validation with its kind and group, never sent to a cluster.
    """
    return is_store_object(str(obj.get("apiVersion", "")), str(obj.get("kind") or ""))


@dataclass(frozen=True)
class Classified:
    """A build's objects split by destination, each keeping build order."""

    store: tuple[dict[str, Any], ...]
    clusters: tuple[dict[str, Any], ...]


def classify(objects: Iterable[Mapping[str, Any]]) -> Classified:
    """Toolkit objects go to the sluice store; everything else to the target clusters."""
    store: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    for index, obj in enumerate(objects):
        checked = check_object(obj, index=index, source="build output")
        (store if is_toolkit_object(checked) else clusters).append(checked)
    return Classified(store=tuple(store), clusters=tuple(clusters))


def as_stored(
    objects: Sequence[Mapping[str, Any]], *, namespace: str, source: str
) -> list[dict[str, Any]]:
    """``objects`` with their toolkit objects as the store will hold them; else BuildFailed.

    A toolkit object without a namespace gets ``namespace`` (the
    Kustomization's targetNamespace, or its own namespace); a Flux v1 Helm
    Operator HelmRelease becomes its chart source and v2 HelmRelease, in its
    place (``shared.api.legacy``), so they are owned and pruned like any
    object of the build. Other objects are left as they are, in build order.
    """
    entries = []
    for index, obj in enumerate(objects):
        doc = dict(obj)
        if is_toolkit_object(doc):
            doc["metadata"] = {**doc["metadata"]}
            doc["metadata"].setdefault("namespace", namespace)
        entries.append(Located(source, index, doc))
    replaced, errors = replace_legacy(entries)
    if errors:
        raise BuildFailed("; ".join(str(e) for e in errors))
    return [dict(entry.doc) for entry in replaced if isinstance(entry.doc, dict)]


def apply_common_metadata(
    objects: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Copies of ``objects`` with ``labels``/``annotations`` set on each, overriding old keys."""
    if not labels and not annotations:
        return [dict(obj) for obj in objects]
    result: list[dict[str, Any]] = []
    for obj in objects:
        meta = dict(obj.get("metadata") or {})
        # Only the object's own metadata, unlike kustomize's commonLabels,
        # which would also rewrite selectors and pod templates.
        if labels:
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
        if annotations:
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        result.append({**obj, "metadata": meta})
    return result
