"""Flux's commit template data as Go values: ``TemplateData`` and the types it holds.

Field for field the Go types image-automation-controller hands its template
(``source.TemplateData``, ``update.Result``, kyaml's ``ResourceIdentifier``
...), so fields, methods, map order and fmt printing are Go's. ``template_data``
builds them from a :class:`SetterResult`: v1's, or with ``legacy`` the
v1beta1/v1beta2 controllers' (``.Updated``, ``.Changed.ImageResult``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from services.image.gotemplate import GoMap, GoStruct
from services.image.markers import ObjectId
from services.image.setters import PolicyImage, SetterResult

__all__ = [
    "Change",
    "ImageRef",
    "LegacyTemplateData",
    "NamespacedName",
    "ObjectIdentifier",
    "Result",
    "TemplateData",
    "template_data",
]


def template_data(
    result: SetterResult,
    *,
    namespace: str,
    name: str,
    values: Mapping[str, str] | None = None,
    legacy: bool = False,
) -> GoStruct:
    """Flux's ``TemplateData`` for ``result`` (v1's, or v1beta1/v1beta2's with ``legacy``)."""
    automation = NamespacedName(namespace=namespace, name=name)
    file_changes: dict[str, ObjectChanges] = {}
    for change in result.changes:
        objects = file_changes.setdefault(change.path, ObjectChanges())
        objects.setdefault(_identifier(change.object), []).append(
            Change(old_value=change.old_value, new_value=change.new_value, setter=change.setter)
        )
    values = dict(values or {})
    if not legacy:
        return TemplateData(automation=automation, changed=Result(file_changes), values=values)
    files: dict[str, FileResult] = {}
    for change in result.changes:
        file_objects = files.setdefault(change.path, FileResult(GoMap())).objects
        images = file_objects.setdefault(_identifier(change.object), [])
        image = ImageRef.of(change.image)
        if image not in images:
            images.append(image)
    updated = LegacyResult(files)
    return LegacyTemplateData(
        automation=automation,
        updated=updated,
        changed=ResultV2(updated, file_changes),
        values=values,
    )


def _identifier(obj: ObjectId) -> ObjectIdentifier:
    return ObjectIdentifier(
        ResourceIdentifier(TypeMeta(obj.api_version, obj.kind), NameMeta(obj.name, obj.namespace))
    )


# Go's types, field for field (see services.image.gotemplate.values.GoStruct).


@dataclass(frozen=True)
class NamespacedName(GoStruct):
    namespace: str
    name: str

    go_type: ClassVar[str] = "types.NamespacedName"
    go_fields = (("Namespace", "namespace"), ("Name", "name"))
    go_methods: ClassVar[Mapping[str, str]] = {"String": "go_string"}
    go_stringer = True

    def go_string(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class TypeMeta(GoStruct):
    api_version: str
    kind: str

    go_type: ClassVar[str] = "yaml.TypeMeta"
    go_fields = (("APIVersion", "api_version"), ("Kind", "kind"))


@dataclass(frozen=True, order=True)
class NameMeta(GoStruct):
    name: str
    namespace: str

    go_type: ClassVar[str] = "yaml.NameMeta"
    go_fields = (("Name", "name"), ("Namespace", "namespace"))


@dataclass(frozen=True, order=True)
class ResourceIdentifier(GoStruct):
    type_meta: TypeMeta
    name_meta: NameMeta

    go_type: ClassVar[str] = "yaml.ResourceIdentifier"
    go_fields = (("TypeMeta", "type_meta"), ("NameMeta", "name_meta"))

    def go_field(self, name: str) -> tuple[bool, Any]:
        found, value = super().go_field(name)
        if found:
            return found, value
        found, value = self.type_meta.go_field(name)  # promoted through embedding
        return (found, value) if found else self.name_meta.go_field(name)


@dataclass(frozen=True, order=True)
class ObjectIdentifier(GoStruct):
    resource: ResourceIdentifier

    go_type: ClassVar[str] = "update.ObjectIdentifier"
    go_fields = (("ResourceIdentifier", "resource"),)

    def go_field(self, name: str) -> tuple[bool, Any]:
        found, value = super().go_field(name)
        return (found, value) if found else self.resource.go_field(name)


@dataclass(frozen=True)
class Change(GoStruct):
    old_value: str
    new_value: str
    setter: str

    go_type: ClassVar[str] = "update.Change"
    go_fields = (("OldValue", "old_value"), ("NewValue", "new_value"), ("Setter", "setter"))


class ObjectChanges(GoMap):
    go_type: ClassVar[str] = "update.ObjectChanges"


def _unique_changes(file_changes: Mapping[str, ObjectChanges]) -> list[Change]:
    seen: list[Change] = []
    for objects in file_changes.values():
        for changes in objects.values():
            seen.extend(change for change in changes if change not in seen)
    return seen


def _merged_objects(file_changes: Mapping[str, ObjectChanges]) -> ObjectChanges:
    merged = ObjectChanges()
    for objects in file_changes.values():
        for obj, changes in objects.items():
            merged.setdefault(obj, []).extend(changes)
    return merged


@dataclass(frozen=True)
class Result(GoStruct):
    """v1's ``update.Result``."""

    file_changes: dict[str, ObjectChanges]

    go_type: ClassVar[str] = "update.Result"
    go_fields = (("FileChanges", "file_changes"),)
    go_methods: ClassVar[Mapping[str, str]] = {"Changes": "changes", "Objects": "objects"}

    def changes(self) -> list[Change]:
        return _unique_changes(self.file_changes)

    def objects(self) -> ObjectChanges:
        return _merged_objects(self.file_changes)


@dataclass(frozen=True)
class TemplateData(GoStruct):
    automation: NamespacedName
    changed: Result
    values: dict[str, str]

    go_type: ClassVar[str] = "source.TemplateData"
    go_fields = (
        ("AutomationObject", "automation"),
        ("Changed", "changed"),
        ("Values", "values"),
    )


# The v1beta1/v1beta2 controllers' data.


@dataclass(frozen=True)
class ImageRef(GoStruct):
    """A policy's image as go-containerregistry parses ``name:tag[@digest]`` (weakly)."""

    reference: str
    registry: str
    repository: str
    identifier: str
    full_name: str
    policy: NamespacedName

    go_type: ClassVar[str] = "update.imageRef"
    go_methods: ClassVar[Mapping[str, str]] = {
        "String": "go_string",
        "Identifier": "get_identifier",
        "Repository": "get_repository",
        "Registry": "get_registry",
        "Name": "get_name",
        "Policy": "get_policy",
    }
    go_stringer = True

    @classmethod
    def of(cls, image: PolicyImage) -> ImageRef:
        registry, repository = _split_name(image.name)
        identifier = image.digest or image.tag
        separator = "@" if image.digest else ":"
        return cls(
            reference=image.reference,
            registry=registry,
            repository=repository,
            identifier=identifier,
            full_name=f"{registry}/{repository}{separator}{identifier}",
            policy=NamespacedName(namespace=image.namespace, name=image.policy),
        )

    def go_string(self) -> str:
        return self.reference

    def get_identifier(self) -> str:
        return self.identifier

    def get_repository(self) -> str:
        return self.repository

    def get_registry(self) -> str:
        return self.registry

    def get_name(self) -> str:
        return self.full_name

    def get_policy(self) -> NamespacedName:
        return self.policy


def _split_name(name: str) -> tuple[str, str]:
    """go-containerregistry's registry/repository split, with Docker Hub's defaults."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "", name
    registry = "index.docker.io" if registry in ("", "docker.io") else registry
    if registry == "index.docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


@dataclass(frozen=True)
class FileResult(GoStruct):
    objects: GoMap

    go_type: ClassVar[str] = "update.FileResult"
    go_fields = (("Objects", "objects"),)


@dataclass(frozen=True)
class LegacyResult(GoStruct):
    """v1beta1's ``update.Result``: file -> object -> images."""

    files: dict[str, FileResult]

    go_type: ClassVar[str] = "update.Result"
    go_fields = (("Files", "files"),)
    go_methods: ClassVar[Mapping[str, str]] = {"Images": "images", "Objects": "objects"}

    def images(self) -> list[ImageRef]:
        return _unique(
            ref for f in self.files.values() for refs in f.objects.values() for ref in refs
        )

    def objects(self) -> GoMap:
        merged = GoMap()
        for file in self.files.values():
            for obj, refs in file.objects.items():
                merged.setdefault(obj, []).extend(refs)
        return merged


def _unique(items: Iterable[ImageRef]) -> list[ImageRef]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class ResultV2(GoStruct):
    """v1beta2's ``update.ResultV2``: the image result and the file changes."""

    image_result: LegacyResult
    file_changes: dict[str, ObjectChanges]

    go_type: ClassVar[str] = "update.ResultV2"
    go_fields = (("ImageResult", "image_result"), ("FileChanges", "file_changes"))
    go_methods: ClassVar[Mapping[str, str]] = {"Changes": "changes", "Objects": "objects"}

    def changes(self) -> list[Change]:
        return _unique_changes(self.file_changes)

    def objects(self) -> ObjectChanges:
        return _merged_objects(self.file_changes)


@dataclass(frozen=True)
class LegacyTemplateData(GoStruct):
    automation: NamespacedName
    updated: LegacyResult
    changed: ResultV2
    values: dict[str, str]

    go_type: ClassVar[str] = "source.TemplateData"
    go_fields = (
        ("AutomationObject", "automation"),
        ("Updated", "updated"),
        ("Changed", "changed"),
        ("Values", "values"),
    )
