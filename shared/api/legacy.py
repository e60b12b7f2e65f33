"""Flux v1 documents replaced by their Flux v2 equivalents, wherever documents enter sluice.

A Helm Operator HelmRelease (``helm.fluxcd.io/v1``) becomes the source its
chart comes from and a ``helm.toolkit.fluxcd.io/v2`` HelmRelease
(``helmmigration.convert_helm_operator``), so a Flux v1 repository is applied
without edits: by ``sluice apply -f`` (``validation.py``) and in a
Kustomization's build (the kustomize service). Only the v2 documents are
stored; both carry :data:`CONVERTED_FROM` (Flux's migration guide has people
rewrite their documents by hand and names no annotation, so this one is
sluice's).

The releases of one chart repository in one namespace share one source,
named after the URL. Within one set of documents (a file, a build):

- the same source made twice is kept once;
- made twice with another spec (one release has a ``chartPullSecret``, the
  other none; two Git refs) it is refused, naming the second v1 document;
- a source of that kind and name written among the documents is kept, and
  the release uses it, when its URL is the same; another URL is refused.

Against what the store already holds (:func:`keep_stored_sources`, before a
write): a source the user wrote there is kept the same way; one made for
another owner's releases (another Kustomization's build) is left to it when
it is the same, so two Kustomizations holding v1 releases of one repository
do not fight over it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.api.errors import FieldError, InvalidObjects
from shared.api.helmmigration import MigratedRelease, convert_helm_operator
from shared.api.helmoperator import OPERATOR_API_VERSION
from shared.keys import ObjectKey
from shared.store.documents import owner_of

__all__ = [
    "CONVERTED_FROM",
    "Located",
    "is_helm_operator",
    "keep_stored_sources",
    "replace_legacy",
]

CONVERTED_FROM = "sluice.dev/converted-from"

_Key = tuple[str, str, str]


@dataclass(frozen=True)
class Located:
    """A document and where it was read: file (or build) and document index, from 0."""

    source: str
    index: int
    doc: object


def is_helm_operator(doc: object) -> bool:
    """Whether ``doc`` is a Flux v1 Helm Operator HelmRelease."""
    return (
        isinstance(doc, dict)
        and doc.get("apiVersion") == OPERATOR_API_VERSION
        and doc.get("kind") == "HelmRelease"
    )


def _key(doc: object) -> _Key | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        return None
    meta = doc["metadata"]
    return (str(doc.get("kind")), str(meta.get("namespace") or "default"), str(meta.get("name")))


def _annotated(doc: dict[str, Any]) -> dict[str, Any]:
    meta = dict(doc["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), CONVERTED_FROM: OPERATOR_API_VERSION}
    return {**doc, "metadata": meta}


def _url_field(source: dict[str, Any]) -> str:
    return "spec.chart.git" if source["kind"] == "GitRepository" else "spec.chart.repository"


def _where(entry: Located) -> str:
    return f"{entry.source}, document {entry.index + 1}"


@dataclass
class _Sources:
    """The sources seen so far: written among the documents, or made from a v1 release."""

    written: dict[_Key, Located]
    made: dict[_Key, tuple[Located, dict[str, Any]]]

    def admit(
        self, entry: Located, release: str, source: dict[str, Any]
    ) -> tuple[bool, FieldError | None]:
        """Whether ``source`` is new (to be written), or why it clashes with one seen."""
        key = _key(source)
        assert key is not None
        name = "/".join(key)
        if key in self.written:
            theirs = self.written[key]
            spec = theirs.doc.get("spec") if isinstance(theirs.doc, dict) else None
            url = spec.get("url") if isinstance(spec, dict) else None
            if url == source["spec"]["url"]:
                return False, None
            message = (
                f"its chart source {name} (named after the URL) is also written in "
                f"{_where(theirs)} with another URL: rename that one or make its URL this one"
            )
            return False, FieldError(
                entry.source, entry.index, release, _url_field(source), message
            )
        if key in self.made:
            first, made = self.made[key]
            if made == source["spec"]:
                return False, None
            ours = source["spec"]
            differ = sorted(k for k in {*made, *ours} if made.get(k) != ours.get(k))
            message = (
                f"its chart source {name} is also made from the v1 HelmRelease in "
                f"{_where(first)} with another {', '.join(f'spec.{k}' for k in differ)}: "
                "releases of one repository share one source, so give them the same "
                "credentials (and Git ref), or write the source yourself"
            )
            return False, FieldError(entry.source, entry.index, release, "spec.chart", message)
        self.made[key] = (entry, source["spec"])
        return True, None


def _label(doc: dict[str, Any]) -> str:
    _, namespace, name = _key(doc) or ("", "default", None)
    return f"HelmRelease/{namespace}/{name}"


def replace_legacy(entries: Sequence[Located]) -> tuple[list[Located], list[FieldError]]:
    """``entries`` with each v1 HelmRelease replaced by its source (when new) and v2 release.

    The replacements keep the v1 document's place and location, so later
    errors still name the file and document the user wrote. Every problem is
    returned (a v1 document with errors is left out), none raised.
    """
    sources = _Sources(written={}, made={})
    for entry in entries:
        key = _key(entry.doc)
        if key is not None and not is_helm_operator(entry.doc):
            sources.written.setdefault(key, entry)
    out: list[Located] = []
    errors: list[FieldError] = []
    for entry in entries:
        if not is_helm_operator(entry.doc):
            out.append(entry)
            continue
        assert isinstance(entry.doc, dict)
        try:
            migrated: MigratedRelease = convert_helm_operator(
                entry.doc, source=entry.source, index=entry.index
            )
        except InvalidObjects as exc:
            errors += exc.errors
            continue
        new, clash = sources.admit(entry, _label(entry.doc), migrated.source)
        if clash is not None:
            errors.append(clash)
            continue
        if new:
            out.append(Located(entry.source, entry.index, _annotated(migrated.source)))
        out.append(Located(entry.source, entry.index, _annotated(migrated.release)))
    return out, errors


def _made_source(doc: dict[str, Any]) -> bool:
    notes = doc["metadata"].get("annotations") or {}
    return doc["kind"] != "HelmRelease" and notes.get(CONVERTED_FROM) == OPERATOR_API_VERSION


def keep_stored_sources(
    docs: Sequence[dict[str, Any]],
    *,
    stored: Callable[[ObjectKey], dict[str, Any] | None],
    owner: ObjectKey | None,
    source: str,
) -> tuple[list[dict[str, Any]], list[FieldError]]:
    """``docs`` (as ``replace_legacy`` made them) without the sources the store already has.

    ``stored`` reads the store (in the writer's scope); ``owner`` is the
    Kustomization writing (None for ``sluice apply``). A made source is left
    out when the store holds one the user wrote with the same URL, or the same
    source made for another owner that still exists; a written one with
    another URL is an error naming it.
    """
    out: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for doc in docs:
        if not _made_source(doc):
            out.append(doc)
            continue
        meta = doc["metadata"]
        key = ObjectKey(doc["kind"], meta.get("namespace") or "default", meta["name"])
        previous = stored(key)
        if previous is None:
            out.append(doc)
            continue
        if not _made_source(previous):
            if (previous.get("spec") or {}).get("url") == doc["spec"]["url"]:
                continue
            message = (
                "made from the chart URL of a helm.fluxcd.io/v1 HelmRelease, but a source of "
                "this name with another URL is already stored: rename that one or make its URL "
                "the release's"
            )
            errors.append(FieldError(source, None, str(key), "spec.url", message))
            continue
        holder = owner_of(previous)
        if (
            holder is not None
            and (owner is None or holder != ObjectKey(owner.kind, owner.namespace, owner.name))
            and previous.get("spec") == doc["spec"]
            and stored(holder) is not None
        ):
            continue
        out.append(doc)
    return out, errors
