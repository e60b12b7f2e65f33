"""Which artifacts one generator run builds: its list, or its templates for each pathPattern match.

Without ``pathPattern`` the artifacts are built as listed. With it, every
directory of the pattern's source that matches gives one set of artifacts:
names and labels get the captured segments lowercased, ``from`` / ``to`` get
them as written (paths keep their case), as source-watcher renders them. A
captured value that is no label value, a rendered name that is no object
name, or two directories giving one name are the spec's fault: :class:`ExpandError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.source.generator.copyplan import SourceTree
from shared.api.artifactgenerator import ArtifactGeneratorSpec, OutputArtifact
from shared.api.meta import check_label_value, check_name
from shared.api.pathpattern import TemplateError, parse_path_pattern, render

__all__ = ["ArtifactRequest", "ExpandError", "artifact_requests"]


class ExpandError(Exception):
    """pathPattern's matches cannot become artifacts (bad value, bad or duplicate name)."""


@dataclass(frozen=True)
class ArtifactRequest:
    """One artifact to build, with the labels its ExternalArtifact gets from the captures."""

    artifact: OutputArtifact
    labels: dict[str, str] = field(default_factory=dict)


def _rendered(
    artifact: OutputArtifact, lower: dict[str, str], raw: dict[str, str]
) -> OutputArtifact:
    copies = [
        op.model_copy(update={"from_": render(op.from_, raw), "to": render(op.to, raw)})
        for op in artifact.copy_
    ]
    return artifact.model_copy(update={"name": render(artifact.name, lower), "copy_": copies})


def artifact_requests(
    spec: ArtifactGeneratorSpec, listings: dict[str, SourceTree]
) -> list[ArtifactRequest]:
    """The artifacts to build from ``spec`` over the sources' file listings."""
    if not spec.path_pattern:
        return [ArtifactRequest(a) for a in spec.artifacts]
    pattern = parse_path_pattern(spec.path_pattern)
    seen: dict[str, str] = {}
    requests = []
    for directory in sorted(listings[pattern.alias].dirs):
        raw = pattern.captures(directory)
        if raw is None:
            continue
        lower = {k: v.lower() for k, v in raw.items()}
        for name, value in lower.items():
            try:
                check_label_value(value)
            except ValueError as err:
                raise ExpandError(
                    f'pathPattern "{spec.path_pattern}": captured value "{value}" for '
                    f'"{name}" is not a valid label value: {err}'
                ) from err
        for artifact in spec.artifacts:
            try:
                rendered = _rendered(artifact, lower, raw)
                check_name(rendered.name)
            except (TemplateError, ValueError) as err:
                raise ExpandError(f'pathPattern "{spec.path_pattern}": {err}') from err
            if rendered.name in seen:
                raise ExpandError(
                    f'pathPattern "{spec.path_pattern}": directories "{seen[rendered.name]}" and '
                    f'"{directory}" both resolve to artifact name "{rendered.name}"'
                )
            seen[rendered.name] = directory
            requests.append(ArtifactRequest(rendered, dict(lower)))
    return requests
