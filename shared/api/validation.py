"""Reading and validating object documents: the one entry point for files and dicts.

Everything a user brings (``sluice apply -f``) and every toolkit object a
Kustomization build yields passes through :func:`validate`. A document of an
older accepted apiVersion comes back converted to the current one (a Flux v1
Helm Operator HelmRelease as its source and v2 HelmRelease: ``legacy.py``); namespaced
objects get ``metadata.namespace: default`` when they have none; Secret
``stringData`` is folded into ``data``. Nothing else changes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.api.errors import FieldError, InvalidObjects, field_errors
from shared.api.kinds import (
    KindInfo,
    is_flux_group,
    known_kinds,
    lookup_kind,
    split_api_version,
)
from shared.api.legacy import Located, replace_legacy
from shared.api.meta import ApiObject
from shared.jsondoc import load_json
from shared.store.limits import object_size, object_too_big
from shared.yaml import DocumentError, iter_documents

__all__ = [
    "dump_object",
    "load_file",
    "load_path",
    "load_text",
    "object_files",
    "parse_as",
    "parse_documents",
    "parse_object",
    "validate",
]

T = TypeVar("T", bound=ApiObject)

FILE_SUFFIXES = (".yaml", ".yml", ".json")
_KUSTOMIZE_CONFIG = "kustomize.config.k8s.io"


def _read_yaml(text: str, source: str) -> tuple[list[object], list[FieldError]]:
    docs: list[object] = []
    try:
        docs.extend(iter_documents(text, source=source))
    except DocumentError as exc:
        return docs, [FieldError(source, exc.index, None, "", exc.message)]
    return docs, []


def _not_a_mapping(doc: object, source: str, index: int) -> FieldError:
    got = "a list" if isinstance(doc, list) else f"{type(doc).__name__} {str(doc)[:40]!r}"
    return FieldError(
        source,
        index,
        None,
        "",
        f"expected an object (a mapping with apiVersion, kind, metadata), got {got}",
    )


def parse_documents(text: str, *, source: str) -> list[dict[str, Any]]:
    """Split multi-document YAML into mappings, skipping empty documents."""
    docs, errors = _read_yaml(text, source)
    errors += [_not_a_mapping(d, source, i) for i, d in enumerate(docs) if not isinstance(d, dict)]
    if errors:
        raise InvalidObjects(errors)
    return [d for d in docs if isinstance(d, dict)]


def _label(doc: dict[str, Any]) -> str | None:
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        return None
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str):
        return kind
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    return f"{kind}/{namespace if isinstance(namespace, str) else 'default'}/{name}"


def _unknown_kind(kind: str, api_version: object) -> str:
    kinds = known_kinds()
    names = ", ".join(info.kind for info in kinds)
    for info in kinds:
        if kind.lower() in (info.kind.lower(), *info.names):
            return (
                f'unknown kind "{kind}": did you mean "{info.kind}"? '
                "(kind takes the exact, case-sensitive name)"
            )
    group = split_api_version(api_version)[0] if isinstance(api_version, str) else ""
    if is_flux_group(group):
        # A Flux kind goes to the store, never to a cluster: say it is Flux's, not unknown.
        return f'kind "{kind}" of {group} is not supported by sluice (yet): expected one of {names}'
    return f'unknown kind "{kind}": expected one of {names}'


def _wrong_version(info: KindInfo, api_version: str) -> str:
    if split_api_version(api_version)[0] == _KUSTOMIZE_CONFIG:
        return (
            f'"{api_version}" is a kustomize configuration (kustomization.yaml), not a Flux '
            f"Kustomization: expected {info.api_version}"
        )
    older = [v for v in info.api_versions if v != info.api_version]
    also = f" (older versions read: {', '.join(older)})" if older else ""
    return (
        f'unsupported apiVersion "{api_version}" for {info.kind}: expected {info.api_version}{also}'
    )


def _header_errors(doc: dict[str, Any], source: str, index: int) -> list[FieldError]:
    obj = _label(doc)
    errors = []
    for field in ("apiVersion", "kind"):
        value = doc.get(field)
        if value is None:
            errors.append(FieldError(source, index, obj, field, "required field is missing"))
        elif not isinstance(value, str) or not value:
            errors.append(
                FieldError(source, index, obj, field, f"expected a non-empty string, got {value!r}")
            )
    return errors


def _check(
    doc: object, source: str, index: int
) -> tuple[KindInfo | None, dict[str, Any] | None, list[FieldError]]:
    """Validate one document; on success also return its kind and normalized form."""
    if not isinstance(doc, dict):
        return None, None, [_not_a_mapping(doc, source, index)]
    obj = _label(doc)
    errors = _header_errors(doc, source, index)
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    info = lookup_kind(kind) if isinstance(kind, str) else None
    if info is None:
        if isinstance(kind, str) and kind:
            errors.append(FieldError(source, index, obj, "kind", _unknown_kind(kind, api_version)))
        return None, None, errors
    if isinstance(api_version, str) and api_version not in info.api_versions:
        errors.append(
            FieldError(source, index, obj, "apiVersion", _wrong_version(info, api_version))
        )
        if split_api_version(api_version)[0] == _KUSTOMIZE_CONFIG:
            return info, None, errors  # another schema altogether: its fields are not ours
    elif isinstance(api_version, str) and api_version != info.api_version:
        doc = {**info.model.convert_from(api_version, doc), "apiVersion": info.api_version}
    errors += _size_errors(doc, source, index, obj)
    try:
        info.model.model_validate(doc, by_name=False)
    except ValidationError as exc:
        errors += field_errors(
            exc,
            info.model,
            source=source,
            index=index,
            obj=obj,
            skip=("apiVersion", "kind"),
            redact=info.model.redact_values,
        )
    if errors:
        return info, None, errors
    return info, _normalize(info, doc), []


def _size_errors(doc: dict[str, Any], source: str, index: int, obj: str | None) -> list[FieldError]:
    """The store's object size limit, told at validation with the other errors."""
    try:
        problem = object_too_big(object_size({k: v for k, v in doc.items() if k != "status"}))
    except (TypeError, ValueError):
        return []  # not JSON: the model's own errors say which field
    return [FieldError(source, index, obj, "", problem)] if problem else []


def _normalize(info: KindInfo, doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    if info.namespaced and not out["metadata"].get("namespace"):
        out["metadata"]["namespace"] = "default"
    return info.model.normalize(out)


def validate(doc: dict[str, Any], *, source: str = "<input>", index: int = 0) -> list[FieldError]:
    """Every problem of one document; an empty list means it is valid."""
    return _check(doc, source, index)[2]


def parse_object(doc: dict[str, Any], *, source: str = "<input>", index: int = 0) -> ApiObject:
    """The typed model of a document, or InvalidObjects with all its errors."""
    info, normalized, errors = _check(doc, source, index)
    if info is None or normalized is None:
        raise InvalidObjects(errors)
    return info.model.model_validate(normalized, by_name=False)


def parse_as(doc: dict[str, Any], model: type[T], *, source: str = "<input>", index: int = 0) -> T:
    """Like parse_object, for a document of one expected kind: ``parse_as(d, Kustomization)``."""
    obj = parse_object(doc, source=source, index=index)
    if not isinstance(obj, model):
        wanted = next((i.kind for i in known_kinds() if i.model is model), model.__name__)
        raise InvalidObjects(
            [
                FieldError(
                    source, index, str(obj.key), "kind", f'expected kind {wanted}, got "{obj.kind}"'
                )
            ]
        )
    return obj


def dump_object(obj: ApiObject) -> dict[str, Any]:
    """The document of a model: Flux field names, only the fields that were set."""
    return obj.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _duplicates(items: Iterable[tuple[str, int, dict[str, Any]]]) -> list[FieldError]:
    first: dict[tuple[str, str, str], tuple[str, int]] = {}
    errors = []
    for source, index, doc in items:
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        if key in first:
            where = f"{first[key][0]}, document {first[key][1] + 1}"
            errors.append(
                FieldError(
                    source, index, "/".join(key), "", f"duplicate object: also defined in {where}"
                )
            )
        else:
            first[key] = (source, index)
    return errors


def _load_one(path: Path) -> tuple[list[tuple[str, int, dict[str, Any]]], list[FieldError]]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return [], [FieldError(source, None, None, "", f"cannot read file: {reason}")]
    return _load_text(text, source, json=path.suffix == ".json")


def _load_text(
    text: str, source: str, *, json: bool
) -> tuple[list[tuple[str, int, dict[str, Any]]], list[FieldError]]:
    if json:
        try:
            docs: list[object] = [load_json(text, source=source)]
            errors: list[FieldError] = []
        except DocumentError as exc:
            return [], [FieldError(source, exc.index, None, "", exc.message)]
    else:
        docs, errors = _read_yaml(text, source)
    # Flux v1 documents are read as what replaces them in Flux v2.
    entries, doc_errors = replace_legacy([Located(source, i, doc) for i, doc in enumerate(docs)])
    valid = []
    for entry in entries:
        _, normalized, found = _check(entry.doc, source, entry.index)
        doc_errors += found
        if normalized is not None:
            valid.append((source, entry.index, normalized))
    # A syntax error stops parsing, so it belongs after the documents before it.
    return valid, doc_errors + errors


def object_files(root: Path) -> list[Path]:
    """The object files under a directory, in the order they are applied."""
    # Hidden directories (.git, .github workflows) hold YAML that is not objects.
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in FILE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _unreadable(path: Path) -> InvalidObjects:
    what = "is a directory, not a file" if path.is_dir() else "no such file"
    return InvalidObjects([FieldError(str(path), None, None, "", f"cannot read file: {what}")])


def load_file(path: str | Path) -> list[dict[str, Any]]:
    """Validated, normalized documents of one file, or InvalidObjects with all its errors."""
    if not Path(path).is_file():
        raise _unreadable(Path(path))
    return load_path(path)


def load_text(text: str, *, source: str) -> list[dict[str, Any]]:
    """Validated, normalized documents of YAML (or JSON) text, as ``load_file`` of a file."""
    valid, errors = _load_text(text, source, json=False)
    errors += _duplicates(valid)
    if errors:
        raise InvalidObjects(errors)
    return [doc for _, _, doc in valid]


def load_path(path: str | Path) -> list[dict[str, Any]]:
    """Documents of a file, or of every *.yaml, *.yml, *.json under a directory (recursive)."""
    root = Path(path)
    if not root.exists():
        raise _unreadable(root)
    files = [root] if root.is_file() else object_files(root)
    valid: list[tuple[str, int, dict[str, Any]]] = []
    errors: list[FieldError] = []
    for file in files:
        file_valid, file_errors = _load_one(file)
        valid += file_valid
        errors += file_errors
    errors += _duplicates(valid)
    if errors:
        raise InvalidObjects(errors)
    return [doc for _, _, doc in valid]
