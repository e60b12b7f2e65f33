"""The FluxV1 update strategy: fluxd's annotation-driven automation over a checked-out tree.

An ImageUpdateAutomation with ``spec.update.strategy: FluxV1`` (a sluice
extension; see the README, "Flux v1 automation") reads no ImagePolicy. Each
run, on the checkout ``push_update`` gives it, :func:`update_tree`:

1. walks the YAML files under ``update.path`` (lexical order, links never
   followed, only files that mention a v1 annotation prefix);
2. finds the workloads and HelmReleases that are automated and not locked
   (``v1images``, ``v1rules``);
3. asks the registry (:class:`RegistryTags`) for each image's tags, once per
   image per run, and, for glob and regexp patterns, each candidate's
   creation time (remembered per worker: a v1 tag is immutable);
4. chooses as fluxd (``v1rules.choose_tag``) and writes the new tags into the
   same files, byte for byte but for those values.

The result (:class:`V1Result`) feeds the commit message: fluxd's own
``Auto-release <image>`` when ``messageTemplate`` is empty, else the template
over the same data the Setters strategy gives it (``.Changed``), each change
named by its container. A registry that fails for one image skips that image
(listed in ``skipped``, as fluxd logged and went on); the others still update.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from services.image.markers import ObjectId, UnreadableYAML
from services.image.names import ImageName, InvalidImageError, parse_image
from services.image.registry import ImageScanError, RegistryAccess, image_info, scan_tags
from services.image.setters import (
    PolicyImage,
    SetterChange,
    SetterResult,
    replace_file,
    resolve_update_path,
)
from services.image.tags import ExclusionList
from services.image.v1images import ImageField, find_objects, set_tags
from services.image.v1rules import FILTER_PREFIX, POLICY_PREFIXES, choose_tag

__all__ = [
    "FLUX_V1",
    "RegistryTags",
    "V1Change",
    "V1Result",
    "auto_release_message",
    "setter_result",
    "update_tree",
]

FLUX_V1 = "FluxV1"
_EXTENSIONS = (".yaml", ".yml")
_SCREEN = tuple(prefix.encode() for prefix in (*POLICY_PREFIXES, FILTER_PREFIX))
_CREATED_CACHE_SIZE = 50_000

AccessFor = Callable[[ImageName], RegistryAccess]


@dataclass(frozen=True)
class V1Change:
    """One container moved to a new tag: where, which object and container, old -> new."""

    path: str  # relative to the update path
    repo_path: str  # relative to the checkout root
    line: int
    object: ObjectId
    container: str
    image: str  # the repository scanned
    old_tag: str
    new_tag: str
    old_value: str  # the field's text before and after
    new_value: str

    @property
    def new_reference(self) -> str:
        """``image:new_tag``, as fluxd's commit message names it."""
        return f"{self.image}:{self.new_tag}"


@dataclass(frozen=True)
class V1Result:
    """What a run changed, and the containers it left alone with the reason."""

    changes: tuple[V1Change, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether any file was rewritten (no change, no commit)."""
        return bool(self.changes)


class _LRU:
    """A bounded, thread-safe map (the worker runs reconciles on threads)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], datetime.datetime | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[bool, datetime.datetime | None]:
        with self._lock:
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def put(self, key: tuple[str, str], value: datetime.datetime | None) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


# Image creation times by (canonical image, tag): v1 tags are immutable (fluxd's rule).
CREATED = _LRU(_CREATED_CACHE_SIZE)


class RegistryTags:
    """The registry side of one run: tag lists (once per image) and creation times (cached)."""

    def __init__(self, access_for: AccessFor) -> None:
        self._access_for = access_for
        self._tags: dict[str, tuple[str, ...]] = {}

    def tags(self, image: ImageName) -> tuple[str, ...]:
        """Every tag of ``image``; ImageScanError when the registry fails."""
        canonical = image.canonical
        if canonical not in self._tags:
            result = scan_tags(
                image, access=self._access_for(image), exclusions=ExclusionList.compile([])
            )
            self._tags[canonical] = result.tags or ()
        return self._tags[canonical]

    def created(self, image: ImageName, tag: str) -> datetime.datetime | None:
        """The image's ``created`` time (None when it tells none); ImageScanError on failure."""
        key = (image.canonical, tag)
        known, value = CREATED.get(key)
        if known:
            return value
        info = image_info(image, tag, access=self._access_for(image))
        value = info.config.created if not info.excluded else None
        CREATED.put(key, value)
        return value


def update_tree(checkout: Path, *, update_path: str, registry: RegistryTags) -> V1Result:
    """Move every automated container under ``checkout/update_path`` to the tag fluxd would
    choose, in place. Raises SetterPathError for a path outside the checkout or missing;
    OSError when a file cannot be read or written."""
    root = checkout.resolve()
    start = resolve_update_path(root, update_path)
    base = start if start.is_dir() else start.parent
    changes: list[V1Change] = []
    skipped: list[str] = []
    for path in _files(start):
        data = path.read_bytes()
        if not any(prefix in data for prefix in _SCREEN):
            continue
        relative = path.relative_to(base).as_posix()
        try:
            text = data.decode("utf-8")
            objects = find_objects(text)
        except (UnicodeDecodeError, UnreadableYAML) as err:
            skipped.append(f"{relative}: not YAML sluice can read: {err}")
            continue
        writes: list[tuple[ImageField, str]] = []
        for obj in objects:
            if not obj.policies.active:
                continue
            for container in obj.containers:
                where = f"{relative}: {obj.id.kind}/{obj.id.name} container {container.name}"
                try:
                    image = parse_image(container.image)
                except InvalidImageError as err:
                    skipped.append(f"{where}: {err}")
                    continue
                pattern = obj.policies.pattern_for(container.name)
                if pattern.problem:  # fluxd matched every tag with it, silently
                    skipped.append(
                        f"{where}: pattern {pattern} matches every tag: {pattern.problem}"
                    )

                def created(tag: str, image: ImageName = image) -> datetime.datetime | None:
                    return registry.created(image, tag)

                try:
                    tags = registry.tags(image)
                    choice = choose_tag(
                        pattern, current=container.tag, tags=tags,
                        created=created if pattern.requires_timestamp else None,
                    )  # fmt: skip
                except ImageScanError as err:
                    skipped.append(f"{where}: {err}")
                    continue
                if choice.tag is None:
                    if choice.skipped:
                        skipped.append(f"{where}: {choice.skipped}")
                    continue
                writes.append((container.field, choice.tag))
                changes.append(
                    V1Change(
                        path=relative,
                        repo_path=path.relative_to(root).as_posix(),
                        line=container.field.line,
                        object=obj.id,
                        container=container.name,
                        image=container.image,
                        old_tag=container.tag,
                        new_tag=choice.tag,
                        old_value=container.field.value,
                        new_value=container.field.written(choice.tag),
                    )
                )
        if writes:
            replace_file(path, set_tags(text, writes).encode("utf-8"))
    return V1Result(changes=tuple(changes), skipped=tuple(skipped))


def auto_release_message(result: V1Result) -> str:
    """fluxd's commit message (``update.Automated.CommitMessage``) for the changed images."""
    images = list(dict.fromkeys(change.new_reference for change in result.changes))
    if len(images) == 1:
        return f"Auto-release {images[0]}"
    lines = "".join(f" - {image}\n" for image in images)
    return f"Auto-release multiple ({len(images)}) images\n\n{lines}"


def setter_result(result: V1Result) -> SetterResult:
    """The v1 changes as the Setters strategy's result, for a ``messageTemplate``: each change's
    setter is its container, its "policy" the object (``namespace:kind/name``)."""
    changes = []
    for change in result.changes:
        owner = PolicyImage(
            namespace=change.object.namespace,
            policy=f"{change.object.kind}/{change.object.name}",
            name=change.image,
            tag=change.new_tag,
        )
        changes.append(
            SetterChange(
                path=change.path,
                repo_path=change.repo_path,
                line=change.line,
                object=change.object,
                setter=change.container,
                old_value=change.old_value,
                new_value=change.new_value,
                image=owner,
            )
        )
    return SetterResult(changes=tuple(changes))


def _files(start: Path) -> Iterator[Path]:
    """YAML files in lexical walk order; symbolic links are never followed."""
    if not start.is_dir():
        if start.name.endswith(_EXTENSIONS) and not start.is_symlink():
            yield start
        return
    for entry in sorted(os.scandir(start), key=lambda entry: entry.name):
        if entry.is_dir(follow_symlinks=False):
            if entry.name != ".git":
                yield from _files(Path(entry.path))
        elif entry.name.endswith(_EXTENSIONS) and entry.is_file(follow_symlinks=False):
            yield Path(entry.path)
