"""The Setters update strategy: rewrite the values marked for ImagePolicies under ``update.path``.

``apply_setters`` does what image-automation-controller's
``update.UpdateWithSetters`` does, on a checked-out tree:

- Each policy with a ``latestRef`` defines four setters, named
  ``<namespace>:<policy>`` (the whole reference ``name:tag[@digest]``), and
  ``...:tag``, ``...:name`` and ``...:digest`` (that part alone; ``:digest``
  writes an empty string when the policy reflects no digest, as Flux does).
- Files are walked in lexical order under the path; only ``*.yaml``,
  ``*.yml`` and files named ``Kustomization`` that contain the literal
  ``"$imagepolicy"`` are read; one that does not parse as YAML kyaml would
  read is skipped and listed, as Flux's "problem files".
- Only files whose values changed are written, byte for byte as before but
  for those values (see :mod:`services.image.markers`).
- Paths in the result are relative to the update path, as Flux's commit
  template data has them (``repo_path`` gives the checkout-relative one).

Where sluice is stricter than Flux: an update path that leaves the checkout
raises ``SetterPathError`` (Flux clamps it with securejoin), and symbolic
links are never followed (Flux reads and writes through a link to a file,
which can reach outside the checkout); they are listed as skipped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from services.image.markers import MARKER_TOKEN, ObjectId, UnreadableYAML, rewrite_text
from shared.api.imagepolicy import ImagePolicy

__all__ = [
    "PolicyImage",
    "SetterChange",
    "SetterPathError",
    "SetterResult",
    "SkippedFile",
    "apply_setters",
    "replace_file",
    "resolve_update_path",
    "setter_values",
]

_EXTENSIONS = (".yaml", ".yml")
_KUSTOMIZATION = "Kustomization"


class SetterPathError(ValueError):
    """The update path cannot be used: outside the checkout, or missing. Names the path."""


@dataclass(frozen=True)
class PolicyImage:
    """The image an ImagePolicy chose (its ``status.latestRef``), keyed by the policy."""

    namespace: str
    policy: str
    name: str
    tag: str
    digest: str = ""

    @classmethod
    def of(cls, policy: ImagePolicy) -> PolicyImage | None:
        """The policy's ``status.latestRef``; None without one (Flux skips such policies)."""
        ref = (policy.status or {}).get("latestRef")
        if not isinstance(ref, dict) or not ref.get("name"):
            return None
        return cls(
            namespace=policy.metadata.namespace or "",
            policy=policy.metadata.name,
            name=str(ref["name"]),
            tag=str(ref.get("tag") or ""),
            digest=str(ref.get("digest") or ""),
        )

    @property
    def setter(self) -> str:
        """The base setter name, ``namespace:policy`` (Flux uses a colon: a slash breaks $ref)."""
        return f"{self.namespace}:{self.policy}"

    @property
    def reference(self) -> str:
        """``name:tag[@digest]``: what the base setter writes (Flux's ``ImageRef.String()``)."""
        return f"{self.name}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class SetterChange:
    """One value that changed: the file, the object in it, the setter and old -> new."""

    path: str  # relative to the update path, "/"-separated (Flux's FileChanges key)
    repo_path: str  # relative to the checkout root
    line: int
    object: ObjectId
    setter: str
    old_value: str
    new_value: str
    image: PolicyImage


@dataclass(frozen=True)
class SkippedFile:
    """A candidate file left alone, and why (unparsable YAML, a symbolic link)."""

    path: str  # relative to the update path
    reason: str


@dataclass(frozen=True)
class SetterResult:
    """What ``apply_setters`` changed (in walk and text order) and what it skipped."""

    changes: tuple[SetterChange, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether any file was rewritten (Flux: no change, no commit)."""
        return bool(self.changes)

    @property
    def files(self) -> tuple[str, ...]:
        """The rewritten files, relative to the checkout root, each once, in walk order."""
        return tuple(dict.fromkeys(change.repo_path for change in self.changes))

    @property
    def images(self) -> tuple[PolicyImage, ...]:
        """The images written at least once, each once, in order of first use."""
        return tuple(dict.fromkeys(change.image for change in self.changes))

    def by_policy(self) -> dict[PolicyImage, tuple[SetterChange, ...]]:
        """The changes each policy's image made, in walk order."""
        grouped: dict[PolicyImage, list[SetterChange]] = {}
        for change in self.changes:
            grouped.setdefault(change.image, []).append(change)
        return {image: tuple(changes) for image, changes in grouped.items()}


def setter_values(images: Iterable[PolicyImage]) -> dict[str, tuple[str, PolicyImage]]:
    """Every setter the images define: name -> (the value it writes, the image)."""
    values: dict[str, tuple[str, PolicyImage]] = {}
    for image in images:
        base = image.setter
        values[base] = (image.reference, image)
        values[f"{base}:tag"] = (image.tag, image)
        values[f"{base}:name"] = (image.name, image)
        values[f"{base}:digest"] = (image.digest, image)
    return values


def apply_setters(
    checkout: Path, images: Iterable[PolicyImage], *, update_path: str = ""
) -> SetterResult:
    """Rewrite the values marked for ``images`` under ``checkout/update_path``, in place.

    Raises SetterPathError when ``update_path`` leaves the checkout or does not exist;
    OSError when a file cannot be read or written.
    """
    root = checkout.resolve()
    start = resolve_update_path(root, update_path)
    values = setter_values(images)
    by_name = {name: value for name, (value, _) in values.items()}
    base = start if start.is_dir() else start.parent
    changes: list[SetterChange] = []
    skipped: list[SkippedFile] = []
    for path in _candidates(start):
        relative = path.relative_to(base).as_posix()
        if path.is_symlink():
            skipped.append(SkippedFile(relative, "a symbolic link (not followed)"))
            continue
        data = path.read_bytes()
        if MARKER_TOKEN.encode() not in data:
            continue
        try:
            rewrite = rewrite_text(data.decode("utf-8"), by_name)
        except (UnicodeDecodeError, UnreadableYAML) as error:
            skipped.append(SkippedFile(relative, f"not YAML sluice can read: {error}"))
            continue
        if not rewrite.edits:
            continue
        replace_file(path, rewrite.text.encode("utf-8"))
        repo_path = path.relative_to(root).as_posix()
        changes.extend(
            SetterChange(
                path=relative,
                repo_path=repo_path,
                line=edit.line,
                object=edit.object,
                setter=edit.setter,
                old_value=edit.old_value,
                new_value=edit.new_value,
                image=values[edit.setter][1],
            )
            for edit in rewrite.edits
        )
    return SetterResult(changes=tuple(changes), skipped=tuple(skipped))


def resolve_update_path(root: Path, update_path: str) -> Path:
    """``root/update_path`` resolved; SetterPathError when it leaves ``root`` or is missing."""
    candidate = (root / update_path.lstrip("/")).resolve() if update_path else root
    if candidate != root and root not in candidate.parents:
        raise SetterPathError(f"update path {update_path!r} leaves the repository checkout")
    if not candidate.exists():
        raise SetterPathError(f"update path {update_path!r} does not exist in the checkout")
    return candidate


def _candidates(start: Path) -> Iterator[Path]:
    """Files Flux would screen, in filepath.Walk's order; links are yielded, never entered."""
    if not start.is_dir():
        if _wanted(start.name):
            yield start
        return
    for entry in sorted(os.scandir(start), key=lambda entry: entry.name):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _candidates(path)
        elif _wanted(entry.name) and (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
            yield path


def _wanted(name: str) -> bool:
    return name.endswith(_EXTENSIONS) or name == _KUSTOMIZATION


def replace_file(path: Path, data: bytes) -> None:
    """Replace the file's bytes, keeping its mode; a crash leaves the old or the new file whole."""
    mode = stat.S_IMODE(path.stat().st_mode)
    temporary = path.with_name(f".{path.name}.sluice-tmp")
    temporary.write_bytes(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
