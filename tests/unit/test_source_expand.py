"""pathPattern: one set of artifacts per matched directory, named and labelled by its captures."""

from __future__ import annotations

from typing import Any

import pytest

from services.source.generator.copyplan import SourceTree
from services.source.generator.expand import ExpandError, artifact_requests
from shared.api.artifactgenerator import ArtifactGeneratorSpec


def _spec(pattern: str | None, name: str = "{app}-{env}") -> ArtifactGeneratorSpec:
    doc: dict[str, Any] = {
        "sources": [{"alias": "repo", "kind": "GitRepository", "name": "monorepo"}],
        "artifacts": [
            {
                "name": name,
                "copy": [{"from": "@repo/apps/{app}/envs/{env}/**", "to": "@artifact/"}],
            }
        ],
    }
    if pattern is not None:
        doc["pathPattern"] = pattern
    return ArtifactGeneratorSpec.model_validate(doc)


def _tree(*files: str) -> dict[str, SourceTree]:
    return {"repo": SourceTree.of(files)}


def test_each_matched_directory_gives_its_artifacts() -> None:
    tree = _tree(
        "apps/web/envs/prod/a.yaml",
        "apps/web/envs/dev/a.yaml",
        "apps/Auth/envs/prod/a.yaml",
        "apps/web/README.md",
    )
    requests = artifact_requests(_spec("@repo/apps/{app}/envs/{env}"), tree)
    got = {r.artifact.name: (r.artifact.copy_[0].from_, r.labels) for r in requests}
    assert got == {
        # Names and labels lowercased; paths keep the directory's case.
        "auth-prod": ("@repo/apps/Auth/envs/prod/**", {"app": "auth", "env": "prod"}),
        "web-dev": ("@repo/apps/web/envs/dev/**", {"app": "web", "env": "dev"}),
        "web-prod": ("@repo/apps/web/envs/prod/**", {"app": "web", "env": "prod"}),
    }


def test_without_a_pattern_the_artifacts_are_built_as_listed() -> None:
    spec = ArtifactGeneratorSpec.model_validate(
        {
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": "monorepo"}],
            "artifacts": [{"name": "all", "copy": [{"from": "@repo/", "to": "@artifact/"}]}],
        }
    )
    [request] = artifact_requests(spec, _tree("a.yaml"))
    assert request.artifact.name == "all" and request.labels == {}


@pytest.mark.parametrize(
    ("files", "says"),
    [
        (
            ["apps/Auth/envs/prod/a", "apps/auth/envs/prod/a"],
            'directories "apps/Auth/envs/prod" and "apps/auth/envs/prod" both resolve to '
            'artifact name "auth-prod"',
        ),
        (["apps/.hidden/envs/prod/a"], 'captured value ".hidden" for "app"'),
        (["apps/" + "x" * 64 + "/envs/prod/a"], "is not a valid label value"),
    ],
)
def test_matches_that_cannot_be_artifacts_are_the_specs_fault(files: list[str], says: str) -> None:
    with pytest.raises(ExpandError, match=says.replace(".", r"\.")):
        artifact_requests(_spec("@repo/apps/{app}/envs/{env}"), _tree(*files))


def test_a_rendered_name_that_is_no_object_name_is_refused() -> None:
    spec = _spec("@repo/apps/{app}/envs/{env}", name="{app}_{env}")
    with pytest.raises(ExpandError, match="invalid name"):
        artifact_requests(spec, _tree("apps/web/envs/prod/a"))
