"""ArtifactGenerator and ExternalArtifact documents, as `sluice apply` checks them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.api import ArtifactGenerator, ExternalArtifact, parse_as, validate

GENERATOR: dict[str, Any] = {
    "apiVersion": "source.extensions.fluxcd.io/v1beta1",
    "kind": "ArtifactGenerator",
    "metadata": {"name": "my-app", "namespace": "apps"},
    "spec": {
        "sources": [{"alias": "repo", "kind": "GitRepository", "name": "monorepo"}],
        "artifacts": [
            {
                "name": "frontend",
                "originRevision": "@repo",
                "copy": [{"from": "@repo/deploy/frontend/**", "to": "@artifact/"}],
            },
            {
                "name": "backend",
                "revision": "@repo",
                "copy": [
                    {
                        "from": "@repo/deploy/backend/**",
                        "to": "@artifact/",
                        "exclude": ["*.md"],
                        "strategy": "Merge",
                    }
                ],
            },
        ],
    },
}


def test_flux_documentation_example_is_accepted() -> None:
    generator = parse_as(GENERATOR, ArtifactGenerator)
    first, second = generator.spec.artifacts
    assert first.copy_[0].source_alias == "repo" and first.origin_revision == "@repo"
    assert second.copy_[0].exclude == ["*.md"] and second.copy_[0].strategy == "Merge"


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GENERATOR)
    node: Any = doc["spec"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (["artifacts", 0, "copy", 0, "from"], "@other/x/**", 'alias "@other" is not one of'),
        (["artifacts", 0, "revision"], "@nope", 'alias "@nope" is not one of'),
        (["artifacts", 0, "copy", 0, "from"], "@repo/../secrets/**", "must stay inside @repo"),
        (["artifacts", 0, "copy", 0, "from"], "@repo//etc/passwd", "must stay inside @repo"),
        (["artifacts", 0, "copy", 0, "to"], "@artifact/../x", "must stay inside @artifact"),
        (["artifacts", 0, "copy", 0, "to"], "@repo/x", 'must start with "@artifact/"'),
        (["artifacts", 0, "copy", 0, "from"], "deploy/**", 'expected "@<alias>/<path>"'),
        (["artifacts", 0, "copy", 0, "exclude"], ["../x"], "invalid exclude pattern"),
        (["artifacts", 0, "copy", 0, "strategy"], "Append", "Overwrite"),
        (["artifacts", 1, "name"], "frontend", 'artifact name "frontend" is given more than once'),
        (["artifacts", 0, "name"], "Not_A_Name", "invalid name"),
        (["sources", 0, "alias"], "Repo", "invalid alias"),
        (["sources", 0, "kind"], "HelmRepository", "GitRepository"),
        (["pathPattern"], "@nope/apps/{app}", 'pathPattern: alias "@nope" is not one of'),
        (["pathPattern"], "@repo/apps/{app", "has no closing brace"),
        (["pathPattern"], "@repo/{a}/{a}", 'capture "{a}" is used twice'),
        (["pathPattern"], "@repo/{_a}", "is not a valid label key"),
        (["pathPattern"], "@repo/../{a}", "must stay inside @repo"),
        (["pathPattern"], "apps/{app}", 'expected "@<alias>/<pattern>"'),
        (["artifacts", 0, "copy"], [], "at least 1"),
    ],
)
def test_invalid_generators_are_refused_with_the_reason(
    path: list[Any], value: Any, says: str
) -> None:
    errors = validate(_with(path, value))
    assert errors, "expected a refusal"
    assert says in " ".join(e.message for e in errors)


def test_two_sources_with_one_alias_are_refused() -> None:
    doc = _with(
        ["sources"],
        [
            {"alias": "repo", "kind": "GitRepository", "name": "a"},
            {"alias": "repo", "kind": "OCIRepository", "name": "b"},
        ],
    )
    assert 'alias "repo" is given more than once' in validate(doc)[0].message


def test_an_external_artifact_of_another_producer_is_accepted() -> None:
    doc = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {"name": "my-artifact", "namespace": "flux-system"},
        "spec": {"sourceRef": {"apiVersion": "example.com/v1", "kind": "Source", "name": "x"}},
    }
    artifact = parse_as(doc, ExternalArtifact)
    assert artifact.spec.source_ref is not None and artifact.spec.source_ref.kind == "Source"


def test_with_a_path_pattern_artifacts_are_templates_of_its_captures() -> None:
    doc = _with(["pathPattern"], "@repo/apps/{app}/envs/{env}")
    doc["spec"]["artifacts"] = [
        {
            "name": "{app}-{env}",
            "copy": [{"from": "@repo/apps/{app}/envs/{env}/**", "to": "@artifact/"}],
        }
    ]
    assert validate(doc) == []
    doc["spec"]["artifacts"][0]["name"] = "{app}-{region}"
    [error] = validate(doc)
    assert 'artifacts[0].name: "{region}" is not captured by pathPattern' in error.message
