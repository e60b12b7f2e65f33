"""The kustomization.yaml a Flux Kustomization builds: found or generated, then overlaid.

Generation follows kustomize-controller: when ``spec.path`` has no kustomization file, every
``*.yaml``/``*.yml`` below it becomes a resource, except that a subdirectory with its own
kustomization file is one resource and is not descended. The spec overlay then sets
``namespace``, ``namePrefix``, ``nameSuffix``, appends ``patches`` and ``components``, merges
``images`` by name and sets ``buildMetadata``. ``check_references`` keeps every file a
kustomization reaches inside the artifact root, symlinks included.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from services.kustomize.manifests import BuildFailed, load_documents
from shared import yaml

__all__ = [
    "KUSTOMIZATION_FILES",
    "BuildSpec",
    "Image",
    "Patch",
    "PatchSelector",
    "check_references",
    "find_kustomization_file",
    "generate_kustomization",
    "is_empty_kustomization",
    "load_kustomization",
    "overlay",
    "prepare_kustomization",
    "render_kustomization",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_HEADER = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
# Fields whose entries may be directories holding kustomizations of their own.
_NESTED_FIELDS = ("resources", "bases", "components", "generators", "transformers", "validators")
_FILE_FIELDS = ("crds", "configurations", "patchesStrategicMerge")


@dataclass(frozen=True)
class PatchSelector:
    """``spec.patches[].target``: which objects a patch applies to (regexes, as in kustomize)."""

    group: str = ""
    version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    label_selector: str = ""
    annotation_selector: str = ""

    def to_kustomize(self) -> dict[str, str]:
        """The kustomization.yaml form, set fields only."""
        values = {_camel(f.name): getattr(self, f.name) for f in fields(self)}
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class Patch:
    """``spec.patches[]``: an inline strategic-merge or JSON6902 patch and its target."""

    patch: str
    target: PatchSelector | None = None


@dataclass(frozen=True)
class Image:
    """``spec.images[]``: a kustomize image override."""

    name: str
    new_name: str = ""
    new_tag: str = ""
    digest: str = ""


@dataclass(frozen=True)
class BuildSpec:
    """The Kustomization spec fields that change what a build renders."""

    target_namespace: str = ""
    name_prefix: str = ""
    name_suffix: str = ""
    patches: tuple[Patch, ...] = ()
    images: tuple[Image, ...] = ()
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    build_metadata: tuple[str, ...] = ()
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BuildSpec:
        """Read the build fields of a Flux ``Kustomization.spec`` mapping (camelCase)."""
        meta = spec.get("commonMetadata") or {}
        return cls(
            target_namespace=spec.get("targetNamespace") or "",
            name_prefix=spec.get("namePrefix") or "",
            name_suffix=spec.get("nameSuffix") or "",
            patches=tuple(
                Patch(
                    patch=p.get("patch") or "",
                    target=_from_camel(PatchSelector, p["target"]) if p.get("target") else None,
                )
                for p in spec.get("patches") or ()
            ),
            images=tuple(_from_camel(Image, i) for i in spec.get("images") or ()),
            components=tuple(spec.get("components") or ()),
            ignore_missing_components=bool(spec.get("ignoreMissingComponents")),
            build_metadata=tuple(spec.get("buildMetadata") or ()),
            common_labels=dict(meta.get("labels") or {}),
            common_annotations=dict(meta.get("annotations") or {}),
        )

    def cache_key(self) -> dict[str, Any]:
        """Every field as plain JSON data, for the build cache key."""
        return asdict(self)


_Camel = TypeVar("_Camel", PatchSelector, Image)


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _from_camel(cls: type[_Camel], data: Mapping[str, Any]) -> _Camel:
    """A string-field dataclass from its Flux form: ``labelSelector`` fills ``label_selector``."""
    names = {_camel(f.name): f.name for f in fields(cls)}
    return cls(**{names[key]: str(value) for key, value in data.items() if key in names and value})


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.name


def _inside(path: Path | None, root: Path) -> bool:
    return path is not None and (path == root or path.is_relative_to(root))


def _resolve(path: Path) -> Path | None:
    """``path`` with symlinks resolved; None for a symlink loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _contained(path: Path, root: Path) -> Path:
    """The real path of ``path``; BuildFailed when a symlink takes it outside ``root``."""
    real = _resolve(path)
    if real is None or not _inside(real, root):
        shown = _display(path, root)
        raise BuildFailed(f"{shown}: symlink points outside the artifact root", file=shown)
    return real


def find_kustomization_file(directory: Path) -> Path | None:
    """The kustomization file of ``directory`` under any name kustomize accepts, or None."""
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def _read_text(path: Path, *, root: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        shown = _display(path, root)
        raise BuildFailed(f"{shown}: cannot read as UTF-8 text: {exc}", file=shown) from exc


def _check_kubernetes_yaml(path: Path, *, root: Path) -> None:
    shown = _display(path, root)
    try:
        docs = load_documents(_read_text(path, root=root), source=shown)
    except BuildFailed as exc:
        raise BuildFailed(f"failed to decode Kubernetes YAML from {exc}", file=shown) from exc
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise BuildFailed(
                f"failed to decode Kubernetes YAML from {shown}: document {index + 1} is a "
                f"{type(doc).__name__}, expected a Kubernetes object (a YAML mapping)",
                file=shown,
            )


def _scan(base: Path, current: Path, root: Path, found: list[str]) -> None:
    # Lexical order, files and directories interleaved, as Go's filepath.Walk.
    with os.scandir(current) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        relative = "./" + path.relative_to(base).as_posix()
        if entry.is_dir(follow_symlinks=False):
            if find_kustomization_file(path):
                found.append(relative)
            else:
                _scan(base, path, root, found)
            continue
        if path.suffix not in (".yaml", ".yml"):
            continue
        real = _contained(path, root) if entry.is_symlink() else path
        if not real.is_file():
            continue
        _check_kubernetes_yaml(path, root=root)
        found.append(relative)


def generate_kustomization(directory: Path, *, root: Path) -> dict[str, Any]:
    """A kustomization listing the YAML under ``directory``; invalid YAML names its file."""
    resources: list[str] = []
    _scan(directory, directory, root, resources)
    return {**_HEADER, "resources": resources} if resources else dict(_HEADER)


def load_kustomization(path: Path, *, root: Path) -> dict[str, Any]:
    """Parse an existing kustomization file; an empty file is an empty kustomization."""
    shown = _display(path, root)
    docs = load_documents(_read_text(path, root=root), source=shown)
    if len(docs) > 1 or (docs and not isinstance(docs[0], dict)):
        raise BuildFailed(f"{shown}: expected one YAML mapping (a Kustomization)", file=shown)
    return {**_HEADER, **(docs[0] if docs else {})}


def _merge_image(images: list[dict[str, Any]], image: Image) -> None:
    entry = next((i for i in images if i.get("name") == image.name), None)
    if entry is None:
        entry = {"name": image.name}
        images.append(entry)
    if image.new_name:
        entry["newName"] = image.new_name
    # Tag and digest are replaced together so an old tag never outlives a new digest.
    if image.new_tag or image.digest:
        entry.pop("newTag", None)
        entry.pop("digest", None)
        entry.update({k: v for k, v in (("newTag", image.new_tag), ("digest", image.digest)) if v})


def _components(spec: BuildSpec, directory: Path | None) -> list[str]:
    kept: list[str] = []
    for index, component in enumerate(spec.components):
        if not component or "://" in component or os.path.isabs(component):
            raise BuildFailed(
                f"spec.components[{index}]: {component!r} must be a local path "
                "relative to spec.path"
            )
        if directory is not None and not (directory / component).exists():
            if spec.ignore_missing_components:
                continue
            raise BuildFailed(
                f"spec.components[{index}]: {component!r} not found relative to spec.path "
                "(set ignoreMissingComponents to skip missing components)"
            )
        kept.append(component)
    return kept


def overlay(
    doc: Mapping[str, Any], spec: BuildSpec, *, directory: Path | None = None
) -> dict[str, Any]:
    """``doc`` with the spec overlaid; with ``directory``, missing components are checked."""
    result: dict[str, Any] = {**_HEADER, **doc}
    if spec.target_namespace:
        result["namespace"] = spec.target_namespace
    if spec.name_prefix:
        result["namePrefix"] = spec.name_prefix
    if spec.name_suffix:
        result["nameSuffix"] = spec.name_suffix
    if spec.patches:
        patches = [dict(p) for p in result.get("patches") or ()]
        for patch in spec.patches:
            entry: dict[str, Any] = {"patch": patch.patch}
            if patch.target is not None:
                entry["target"] = patch.target.to_kustomize()
            patches.append(entry)
        result["patches"] = patches
    if spec.images:
        images = [dict(i) for i in result.get("images") or ()]
        for image in spec.images:
            _merge_image(images, image)
        result["images"] = images
    components = _components(spec, directory)
    if components:
        result["components"] = [*(result.get("components") or ()), *components]
    if spec.build_metadata:
        result["buildMetadata"] = list(spec.build_metadata)
    return result


def is_empty_kustomization(doc: Mapping[str, Any]) -> bool:
    """True when ``doc`` has only apiVersion/kind: kustomize refuses it, Flux builds nothing."""
    return not any(value for key, value in doc.items() if key not in _HEADER)


def prepare_kustomization(
    root: Path, directory: Path, spec: BuildSpec
) -> tuple[str, dict[str, Any]]:
    """The file name to write in ``directory`` and the overlaid kustomization to write there."""
    existing = find_kustomization_file(directory)
    if existing is None:
        doc = generate_kustomization(directory, root=root)
        name = KUSTOMIZATION_FILES[0]
    else:
        doc = load_kustomization(_contained(existing, root), root=root)
        name = existing.name
    return name, overlay(doc, spec, directory=directory)


def render_kustomization(doc: Mapping[str, Any]) -> str:
    """The YAML text of a kustomization."""
    return yaml.dump(dict(doc))


def _references(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(field, local path or URL, may nest a kustomization) for every file ``doc`` names."""

    def strings(value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value]
        return [item for item in items if isinstance(item, str) and item]

    def records(name: str) -> list[dict[str, Any]]:
        value = doc.get(name)
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    for name in _NESTED_FIELDS:
        for entry in strings(doc.get(name) or []):
            if "\n" not in entry:  # generators may be inline YAML
                yield name, entry, True
    for name in _FILE_FIELDS:
        for entry in strings(doc.get(name) or []):
            if "\n" not in entry and ": " not in entry:
                yield name, entry, False
    for name in ("patches", "patchesJson6902", "replacements"):
        for index, item in enumerate(records(name)):
            for entry in strings(item.get("path")):
                yield f"{name}[{index}].path", entry, False
    for name in ("configMapGenerator", "secretGenerator"):
        for index, item in enumerate(records(name)):
            for entry in strings(item.get("files") or []):
                yield f"{name}[{index}].files", entry.partition("=")[2] or entry, False
            for entry in [*strings(item.get("envs") or []), *strings(item.get("env"))]:
                yield f"{name}[{index}].envs", entry, False
    openapi = doc.get("openapi")
    if isinstance(openapi, dict):
        for entry in strings(openapi.get("path")):
            yield "openapi.path", entry, False


def check_references(
    root: Path,
    directory: Path,
    doc: Mapping[str, Any],
    *,
    file_name: str = KUSTOMIZATION_FILES[0],
    allow_remote: bool = False,
) -> None:
    """Refuse any file ``doc`` (and the kustomizations it nests) names outside ``root``."""
    root, directory = root.resolve(), directory.resolve()
    queue = deque([(directory, doc, _display(directory / file_name, root))])
    seen = {directory}
    while queue:
        base, kustomization, label = queue.popleft()
        for where, entry, nests in _references(kustomization):
            scheme = entry.partition("://")[0] if "://" in entry else ""
            if scheme:
                if scheme == "file" or not allow_remote:
                    raise BuildFailed(
                        f"{label}: {where} entry {entry!r} is a remote reference, "
                        f"which {'is never' if scheme == 'file' else 'is not'} allowed",
                        file=label,
                    )
                continue
            target = _resolve(base / entry)
            if target is None or not _inside(target, root):
                raise BuildFailed(
                    f"{label}: {where} entry {entry!r} resolves outside the artifact root",
                    file=label,
                )
            if not target.exists():
                if nests and not allow_remote:
                    raise BuildFailed(f"{label}: {where} entry {entry!r} not found", file=label)
                continue
            nested = find_kustomization_file(target) if nests and target.is_dir() else None
            if nested is None or target in seen:
                continue
            seen.add(target)
            nested_doc = load_kustomization(_contained(nested, root), root=root)
            queue.append((target, nested_doc, _display(nested, root)))
