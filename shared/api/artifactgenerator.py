"""ArtifactGenerator (``source.extensions.fluxcd.io/v1beta1``), Flux 2.7's source-watcher kind.

A generator copies files out of source artifacts (``sources[]``, each under an
alias) into new artifacts (``artifacts[]``), one ExternalArtifact each: a
monorepo split per app, or a chart composed with values from Git. The copy
language is source-watcher's: ``from: "@alias/glob"``, ``to: "@artifact/path"``,
``exclude`` globs and a ``strategy`` (Overwrite, Merge, Extract).

Checked here, so ``sluice apply`` refuses them with the field: an alias used
but not declared, an alias or artifact name given twice, and any ``..`` or
absolute path in ``from`` / ``to`` (a copy never leaves the source or the
artifact root). With ``pathPattern`` (one set of artifacts per matched
directory) the artifacts are templates: their ``{captures}`` must be the
pattern's.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from shared.api.kinds import GENERATOR_GROUP
from shared.api.meta import Annotations, ApiModel, ApiObject, Labels, Name, Namespace, check_name
from shared.api.pathpattern import PathPattern, TemplateError, parse_path_pattern, template_names

__all__ = [
    "ARTIFACT_ROOT",
    "GENERATOR_GROUP",
    "ArtifactGenerator",
    "ArtifactGeneratorSpec",
    "CommonMetadata",
    "CopyOperation",
    "OutputArtifact",
    "SourceReference",
    "split_copy_path",
]

ARTIFACT_ROOT = "artifact"  # the alias of the generated artifact in `to`
# The generator has no spec.interval; source-watcher runs each one hourly besides
# reacting to its sources, which also bounds the backoff of a failing one.
REQUEUE_SECONDS = 3600.0

_ALIAS = r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?"
_ALIAS_RE = re.compile(_ALIAS)
_ALIAS_REF = re.compile(rf"@({_ALIAS})")
_COPY_PATH = re.compile(rf"@({_ALIAS})/(.*)", re.DOTALL)


def split_copy_path(text: str) -> tuple[str, str]:
    """``"@alias/some/glob"`` -> ``("alias", "some/glob")``; ValueError when malformed or escaping.

    A path that is absolute or climbs with ``..`` is refused: a copy reads only
    inside its source and writes only inside the artifact.
    """
    match = _COPY_PATH.fullmatch(text)
    if match is None:
        raise ValueError(
            f'"{text}": expected "@<alias>/<path>", an alias of lowercase letters, digits, '
            "'-' and '_', then a path (\"@repo/deploy/**\")"
        )
    alias, path = match.group(1), match.group(3)
    if path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f'"{text}": the path must stay inside @{alias} (no leading "/", no "..")')
    return alias, path


def _alias(text: str) -> str:
    if len(text) > 63 or not _ALIAS_RE.fullmatch(text):
        raise ValueError(
            f"invalid alias \"{text}\": expected lowercase letters, digits, '-' and '_', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return text


def _alias_ref(text: str) -> str:
    if len(text) > 64 or not _ALIAS_REF.fullmatch(text):
        raise ValueError(f'"{text}": expected "@<alias>" naming one of spec.sources')
    return text


def _from(text: str) -> str:
    split_copy_path(text)
    return text


def _to(text: str) -> str:
    alias, _ = split_copy_path(text)
    if alias != ARTIFACT_ROOT:
        raise ValueError(f'"{text}": the destination must start with "@{ARTIFACT_ROOT}/"')
    return text


def _exclude(text: str) -> str:
    if not text or text.startswith("/") or ".." in text.split("/"):
        raise ValueError(f'invalid exclude pattern "{text}": a relative glob without ".."')
    return text


Alias = Annotated[str, AfterValidator(_alias)]
AliasRef = Annotated[str, AfterValidator(_alias_ref)]
CopyFrom = Annotated[str, Field(max_length=1024), AfterValidator(_from)]
CopyTo = Annotated[str, Field(max_length=1024), AfterValidator(_to)]
Exclude = Annotated[str, AfterValidator(_exclude)]


class CommonMetadata(ApiModel):
    """``spec.commonMetadata``: labels and annotations set on every generated ExternalArtifact."""

    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)


class SourceReference(ApiModel):
    """``spec.sources[]``: a source artifact read under ``alias``."""

    alias: Alias
    kind: Literal["Bucket", "GitRepository", "OCIRepository", "HelmChart", "ExternalArtifact"]
    name: Name
    namespace: Namespace | None = None


class CopyOperation(ApiModel):
    """``artifacts[].copy[]``: files from a source into the artifact, cp-like."""

    from_: CopyFrom = Field(alias="from")
    to: CopyTo
    exclude: list[Exclude] = Field(default_factory=list, max_length=100)
    strategy: Literal["Overwrite", "Merge", "Extract"] = "Overwrite"

    @property
    def source_alias(self) -> str:
        """The alias ``from`` reads."""
        return split_copy_path(self.from_)[0]


class OutputArtifact(ApiModel):
    """``spec.artifacts[]``: one generated ExternalArtifact (a template of them with pathPattern).

    ``name`` is checked with the spec: an object name, or with ``pathPattern`` a
    template whose captures the pattern defines.
    """

    name: str = Field(min_length=1, max_length=253)
    revision: AliasRef | None = None
    origin_revision: AliasRef | None = None
    copy_: list[CopyOperation] = Field(alias="copy", min_length=1)


class ArtifactGeneratorSpec(ApiModel):
    """``ArtifactGenerator.spec``."""

    common_metadata: CommonMetadata | None = None
    sources: list[SourceReference] = Field(min_length=1, max_length=1000)
    path_pattern: str | None = None
    artifacts: list[OutputArtifact] = Field(min_length=1, max_length=1000)
    # Not in Flux's API: sluice's `suspend` / `resume` write it. Flux's own way,
    # the annotation source.extensions.fluxcd.io/reconcile: disabled, works too.
    suspend: bool = False

    @property
    def interval_seconds(self) -> float:
        """How often the generator runs with no news from its sources: source-watcher's hour."""
        return REQUEUE_SECONDS

    @field_validator("path_pattern")
    @classmethod
    def _path_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            if len(value) > 1024:
                raise ValueError("pathPattern: at most 1024 characters")
            parse_path_pattern(value)
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        problems = _duplicates("alias", [s.alias for s in self.sources])
        problems += _duplicates("artifact name", [a.name for a in self.artifacts])
        aliases = {s.alias for s in self.sources}
        known = ", ".join(sorted(aliases))
        pattern = parse_path_pattern(self.path_pattern) if self.path_pattern else None
        if pattern is not None and pattern.alias not in aliases:
            problems.append(
                f'pathPattern: alias "@{pattern.alias}" is not one of spec.sources ({known})'
            )
        for i, artifact in enumerate(self.artifacts):
            problems += _template_problems(f"artifacts[{i}]", artifact, pattern)
            used = [
                (f"artifacts[{i}].{field}", ref.removeprefix("@"))
                for field, ref in (
                    ("revision", artifact.revision),
                    ("originRevision", artifact.origin_revision),
                )
                if ref
            ]
            used += [
                (f"artifacts[{i}].copy[{j}].from", op.source_alias)
                for j, op in enumerate(artifact.copy_)
            ]
            problems += [
                f'{field}: alias "@{alias}" is not one of spec.sources ({known})'
                for field, alias in used
                if alias not in aliases
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _template_problems(
    where: str, artifact: OutputArtifact, pattern: PathPattern | None
) -> list[str]:
    """An artifact's name must be an object name; with pathPattern, its captures must exist."""
    if pattern is None:
        try:
            check_name(artifact.name)
        except ValueError as err:
            return [f"{where}.name: {err}"]
        return []
    fields = [(f"{where}.name", artifact.name)]
    for j, op in enumerate(artifact.copy_):
        fields += [(f"{where}.copy[{j}].from", op.from_), (f"{where}.copy[{j}].to", op.to)]
    problems = []
    for field, template in fields:
        try:
            unknown = [n for n in template_names(template) if n not in pattern.names]
        except TemplateError as err:
            problems.append(f"{field}: {err}")
            continue
        problems += [f'{field}: "{{{n}}}" is not captured by pathPattern' for n in unknown]
    return problems


def _duplicates(what: str, names: list[str]) -> list[str]:
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    return [f'{what} "{name}" is given more than once' for name in twice]


class ArtifactGenerator(ApiObject):
    """Generates ExternalArtifacts from the artifacts of other sources."""

    spec: ArtifactGeneratorSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)
