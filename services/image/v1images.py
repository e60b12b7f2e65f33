"""Where Flux v1 found images in a YAML file, and the file with new tags written in place.

fluxd automated the containers of workloads (``Deployment``, ``StatefulSet``,
``DaemonSet``, ``CronJob``: ``containers`` and ``initContainers`` of the pod
template) and the images of a ``HelmRelease``'s ``spec.values``
(``pkg/cluster/kubernetes/resource/helmrelease.go``):

- the values themselves, container ``chart-image``, and each top-level key
  whose value is a mapping, container ``<key>``, are read the same way:
  ``image: repo:tag`` (with optional sibling ``registry:`` and ``tag:``), or
  ``image:`` a mapping of ``repository`` (with optional ``registry``, ``tag``);
  values that are not strings (``tag: 1.10`` is a float to YAML) are ignored,
  as fluxd's type switch ignores them;
- annotations ``repository.fluxcd.io/<alias>`` (required),
  ``registry.fluxcd.io/<alias>``, ``tag.fluxcd.io/<alias>`` name dotted paths
  under ``spec.values`` for container ``<alias>``.

Where a tag has its own field, that field is written; otherwise the field that
holds ``name:tag`` gets ``name:<new tag>``, the name kept as written. An
image pinned by digest (``@sha256:...``) is left alone. Every write splices the
new scalar over the old one's exact span (quote style kept, quoted when YAML
1.1 would read it as a non-string, as ``markers.py`` does): every other byte
of the file stays. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import yaml

from services.image.markers import ObjectId, UnreadableYAML
from services.image.v1rules import V1Policies, policies_from_annotations
from services.image.yamlvalues import render_scalar

__all__ = [
    "CHART_IMAGE",
    "WORKLOAD_KINDS",
    "ImageField",
    "V1Container",
    "V1Object",
    "find_objects",
    "set_tags",
]

CHART_IMAGE = "chart-image"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob"})
_HELM_RELEASE = "HelmRelease"
_MAPPED = {
    "registry.fluxcd.io/": "registry",
    "repository.fluxcd.io/": "repository",
    "tag.fluxcd.io/": "tag",
}
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class ImageField:
    """The scalar a new tag is written into: its span in the text, style, and how to write it."""

    start: int
    end: int
    line: int  # 1-based
    value: str
    style: str  # "" plain, "'" or '"'
    tag_only: bool  # the field is the tag alone; else it holds "name:tag" (name kept as written)

    def written(self, tag: str) -> str:
        """The field's new value for ``tag``."""
        if self.tag_only:
            return tag
        return f"{_split(self.value)[0]}:{tag}"


@dataclass(frozen=True)
class V1Container:
    """One container's image as fluxd saw it: the repository to scan and the current tag."""

    name: str
    image: str  # the repository, registry included: what is scanned
    tag: str  # "" when the reference has none
    field: ImageField


@dataclass(frozen=True)
class V1Object:
    """A workload or HelmRelease of the file, its v1 policies and its containers (in fluxd's
    order: containers then init containers; for a HelmRelease chart-image, then by name)."""

    id: ObjectId
    policies: V1Policies
    containers: tuple[V1Container, ...]


def find_objects(text: str) -> list[V1Object]:
    """The workloads and HelmReleases of ``text`` (automated or not), with their images.

    Raises UnreadableYAML when the text is not YAML.
    """
    found: list[V1Object] = []
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise UnreadableYAML(str(err)) from err
    for root in documents:
        if not isinstance(root, yaml.MappingNode):
            continue
        kind = _string(_get(root, "kind"))
        if kind not in WORKLOAD_KINDS and kind != _HELM_RELEASE:
            continue
        annotations = _string_map(_get(root, "metadata", "annotations"))
        obj = ObjectId(
            api_version=_string(_get(root, "apiVersion")),
            kind=kind,
            name=_string(_get(root, "metadata", "name")),
            namespace=_string(_get(root, "metadata", "namespace")),
        )
        if kind == _HELM_RELEASE:
            containers = _release_containers(text, root, annotations)
        else:
            containers = list(_workload_containers(text, root, kind))
        found.append(V1Object(obj, policies_from_annotations(annotations), tuple(containers)))
    return found


def set_tags(text: str, writes: Iterable[tuple[ImageField, str]]) -> str:
    """``text`` with each field set for its new tag; every other byte as it was."""
    out = text
    for image_field, tag in sorted(writes, key=lambda write: write[0].start, reverse=True):
        # Plain stays plain inside a flow collection too: the name was plain there already,
        # and a tag's characters ([A-Za-z0-9_.-]) are no flow indicators.
        new = render_scalar(image_field.written(tag), style=image_field.style)
        out = out[: image_field.start] + new + out[image_field.end :]
    return out


def _split(reference: str) -> tuple[str, str]:
    """``name:tag`` -> (name, tag); the tag is what follows the last colon after the last slash."""
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, ""


def _get(node: yaml.Node | None, *path: str) -> yaml.Node | None:
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next(
            (value for k, value in node.value if isinstance(k, yaml.ScalarNode) and k.value == key),
            None,
        )
    return node


def _string(node: yaml.Node | None) -> str:
    """A scalar's text if YAML reads it as a string, else ""."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
        return str(node.value)
    return ""


def _string_map(node: yaml.Node | None) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        str(k.value): str(v.value)
        for k, v in node.value
        if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)
    }


def _field(text: str, node: yaml.Node | None, *, tag_only: bool) -> ImageField | None:
    """The span of a string scalar that can be rewritten in place (not a block scalar)."""
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
        return None
    if node.style in ("|", ">") or node.start_mark is None or node.end_mark is None:
        return None
    end = node.end_mark.index
    start = _value_start(text, node.start_mark.index, end)
    return ImageField(
        start=start,
        end=end,
        line=node.start_mark.line + 1,
        value=str(node.value),
        style=node.style or "",
        tag_only=tag_only,
    )


def _value_start(text: str, start: int, end: int) -> int:
    """Where the scalar itself starts: a node's start includes its anchor and tag."""
    index = start
    while index < end and text[index] in "&!":
        while index < end and text[index] not in " \t\r\n":
            index += 1
        while index < end and text[index] in " \t\r\n":
            index += 1
    return index


def _container(
    text: str, name: str, ref_node: yaml.Node | None, *, registry: str = ""
) -> V1Container | None:
    """A container whose image reference (``name[:tag]``) is the one scalar ``ref_node``."""
    image_field = _field(text, ref_node, tag_only=False)
    if image_field is None or "@" in image_field.value:
        return None
    repo, tag = _split(image_field.value)
    if not repo:
        return None
    full = f"{registry}/{repo}" if registry else repo
    return V1Container(name=name, image=full, tag=tag, field=image_field)


def _workload_containers(text: str, root: yaml.MappingNode, kind: str) -> Iterator[V1Container]:
    spec_path = ("spec", "jobTemplate", "spec", "template", "spec")
    pod = _get(root, *(spec_path if kind == "CronJob" else ("spec", "template", "spec")))
    for key in ("containers", "initContainers"):
        listed = _get(pod, key)
        if not isinstance(listed, yaml.SequenceNode):
            continue
        for item in listed.value:
            name = _string(_get(item, "name"))
            image = _get(item, "image")
            found = _container(text, name, image) if name else None
            if found is not None:
                yield found


def _release_containers(
    text: str, root: yaml.MappingNode, annotations: Mapping[str, str]
) -> list[V1Container]:
    values = _get(root, "spec", "values")
    if not isinstance(values, yaml.MappingNode):
        return []
    found: dict[str, V1Container] = {}
    top = _as_container(text, CHART_IMAGE, values)
    if top is not None:
        found[CHART_IMAGE] = top
    for key, value in values.value:
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.MappingNode):
            nested = _as_container(text, str(key.value), value)
            if nested is not None:
                found[str(key.value)] = nested
    for alias, paths in _mappings(annotations).items():
        mapped = _mapped_container(text, alias, values, paths)
        if mapped is not None:
            found[alias] = mapped
    order = sorted(found, key=lambda name: (name != CHART_IMAGE, name))
    return [found[name] for name in order]


def _as_container(text: str, name: str, node: yaml.MappingNode) -> V1Container | None:
    """fluxd's ``interpretAsContainer``: ``image`` (+ ``registry``, ``tag``), or ``image`` as a
    mapping of ``repository`` (+ ``registry``, ``tag``)."""
    image = _get(node, "image")
    if isinstance(image, yaml.MappingNode):
        return _parts(text, name, image, repo_key="repository")
    if _string(image):
        return _parts(text, name, node, repo_key="image")
    return None


def _parts(text: str, name: str, node: yaml.MappingNode, *, repo_key: str) -> V1Container | None:
    repo = _get(node, repo_key)
    registry = _string(_get(node, "registry"))
    tag = _get(node, "tag")
    if _string(tag):
        repo_text = _string(repo)
        tag_field = _field(text, tag, tag_only=True)
        if not repo_text or tag_field is None or "@" in repo_text:
            return None
        full = f"{registry}/{repo_text}" if registry else repo_text
        return V1Container(name=name, image=full, tag=tag_field.value, field=tag_field)
    return _container(text, name, repo, registry=registry)


def _mappings(annotations: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``<part>.fluxcd.io/<alias>: <path>`` annotations, by alias (only those with a repository)."""
    found: dict[str, dict[str, str]] = {}
    for key, path in annotations.items():
        for prefix, part in _MAPPED.items():
            if key.startswith(prefix):
                found.setdefault(key.removeprefix(prefix), {})[part] = path
    return {alias: paths for alias, paths in found.items() if paths.get("repository")}


def _mapped_container(
    text: str, alias: str, values: yaml.MappingNode, paths: Mapping[str, str]
) -> V1Container | None:
    """fluxd's ``interpretMappedContainerImage``: the parts at the annotated dotted paths."""

    def at(part: str) -> yaml.Node | None:
        path = paths.get(part)
        return _get(values, *path.split(".")) if path else None

    repo_node, registry_node, tag_node = at("repository"), at("registry"), at("tag")
    registry = _string(registry_node)
    if paths.get("registry") and not registry:
        return None
    if paths.get("tag"):
        repo_text, tag_field = _string(repo_node), _field(text, tag_node, tag_only=True)
        if not repo_text or tag_field is None:
            return None
        full = f"{registry}/{repo_text}" if registry else repo_text
        return V1Container(name=alias, image=full, tag=tag_field.value, field=tag_field)
    return _container(text, alias, repo_node, registry=registry)
