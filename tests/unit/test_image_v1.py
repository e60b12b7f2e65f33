"""Flux v1 automation's pure parts: annotations, tag patterns, fluxd's choice, image paths."""

from __future__ import annotations

import datetime

import pytest
from pydantic import ValidationError

from services.image.v1automation import V1Change, V1Result, auto_release_message
from services.image.v1images import CHART_IMAGE, find_objects, set_tags
from services.image.v1rules import (
    TagPattern,
    choose_tag,
    glob_match,
    policies_from_annotations,
)
from shared.api.imageupdateautomation import ImageUpdateAutomation

# --- annotations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "active", "pattern_of_web"),
    [
        ({"fluxcd.io/automated": "true"}, True, "glob:*"),
        ({"fluxcd.io/automated": "True"}, False, "glob:*"),  # the string "true" only
        ({"flux.weave.works/automated": "true"}, True, "glob:*"),  # legacy prefix
        ({"fluxcd.io/automated": "true", "fluxcd.io/locked": "true"}, False, "glob:*"),
        ({"fluxcd.io/automated": "true", "fluxcd.io/locked": "false"}, True, "glob:*"),
        ({"fluxcd.io/automated": "true", "fluxcd.io/tag.web": "semver:~1.10"}, True,
         "semver:~1.10"),
        ({"fluxcd.io/automated": "true", "flux.weave.works/tag.web": "glob:1.*"}, True, "glob:1.*"),
        ({"fluxcd.io/automated": "true", "filter.fluxcd.io/web": "regexp:^v\\d+$"}, True,
         "regexp:^v\\d+$"),
        ({"fluxcd.io/automated": "true", "fluxcd.io/tag_all": "dev-*"}, True, "glob:dev-*"),
        ({"fluxcd.io/tag_all": "dev-*", "fluxcd.io/tag.web": "semver:^2"}, False, "semver:^2"),
        ({"fluxcd.io/tag.other": "semver:^2"}, False, "glob:*"),
        # both prefixes: the current one wins, the filter form loses to both
        ({"flux.weave.works/tag.web": "glob:a*", "fluxcd.io/tag.web": "glob:b*"}, False, "glob:b*"),
        ({"filter.fluxcd.io/web": "glob:a*", "flux.weave.works/tag.web": "glob:c*"}, False,
         "glob:c*"),
        ({"example.com/automated": "true"}, False, "glob:*"),
    ],
)  # fmt: skip
def test_annotations_read_as_fluxd(
    annotations: dict[str, str], active: bool, pattern_of_web: str
) -> None:
    policies = policies_from_annotations(annotations)
    assert policies.active is active
    assert str(policies.pattern_for("web")) == pattern_of_web


# --- patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("*", "", True),
        ("", "", True),
        ("", "a", False),
        ("1.*", "1.2.3", True),
        ("1.*", "21.2", False),
        ("*-dev", "abc-dev", True),
        ("*-dev", "abc-dev1", False),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("dev-?", "dev-1", False),  # ? is not special
        ("dev-?", "dev-?", True),
        ("master-*", "master-1a2b3c", True),
    ],
)
def test_glob_is_go_glob(pattern: str, subject: str, matches: bool) -> None:
    assert glob_match(pattern, subject) is matches


@pytest.mark.parametrize(
    ("annotation", "tag", "matches"),
    [
        ("semver:~1.10", "1.10.3", True),
        ("semver:~1.10", "v1.10.0", True),
        ("semver:~1.10", "1.11.0", False),
        ("semver:~1.10", "1.10", True),  # Masterminds' coercing parse: 1.10.0
        ("semver:~1.10", "1.10.0-rc.1", False),
        ("semver:>= 1.0.0-rc.0, <1.0.1", "1.0.0-rc.2", True),
        ("semver:~1.10", "latest", False),
        ("semver:~1.10", "abc", False),
        ("semver:not a range", "1.2.3", True),  # invalid range: every version, as fluxd
        ("semver:not a range", "abc", False),
        ("glob:1.*", "1.4", True),
        ("1.*", "1.4", True),  # no prefix: a glob
        ("glob:*", "latest", False),  # latest only for glob:latest
        ("glob:latest", "latest", True),
        ("glob:*", "LATEST", False),
        ("regexp:^v\\d+$", "v12", True),
        ("regexp:^v\\d+$", "v12a", False),
        ("regex:^v\\d+$", "v3", True),
        ("regexp:dev", "my-dev-1", True),  # unanchored, as Go's MatchString
        ("regexp:(", "anything", True),  # invalid: everything, as fluxd
    ],
)
def test_patterns_match_as_fluxd(annotation: str, tag: str, matches: bool) -> None:
    assert TagPattern.parse(annotation).matches(tag) is matches


def test_an_invalid_pattern_says_why() -> None:
    assert "not valid" in TagPattern.parse("semver:not a range").problem
    assert TagPattern.parse("regexp:(").problem.startswith("invalid regexp '(':")
    assert TagPattern.parse("semver:~1").problem == ""


# --- the choice ---------------------------------------------------------------------------

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def _at(**hours: int) -> dict[str, datetime.datetime]:
    return {tag.replace("_", "."): T0 + datetime.timedelta(hours=h) for tag, h in hours.items()}


@pytest.mark.parametrize(
    ("annotation", "current", "tags", "created", "chosen", "skipped"),
    [
        # semver: the highest version in range; times not needed
        ("semver:~1.10", "1.10.0", ["1.9.9", "1.10.0", "1.10.4", "1.11.0", "latest"], None,
         "1.10.4", ""),
        ("semver:~1.10", "1.10.4", ["1.10.0", "1.10.4"], None, None, ""),
        ("semver:^1", "1.0.0", ["1.2", "1.2.0"], None, "1.2.0", ""),  # equal versions: longer
        ("semver:^2", "1.0.0", ["1.0.0", "1.5.0"], None, None, "no tag matches semver:^2"),
        # glob and regexp: the newest image, whatever the tag's text says
        ("glob:1.*", "1.0", ["1.0", "1.9", "1.10"], _at(**{"1_0": 0, "1_9": 5, "1_10": 3}),
         "1.9", ""),
        ("regexp:^v\\d+$", "v1", ["v1", "v2", "v10", "v3-rc"],
         {"v1": T0, "v2": T0 + datetime.timedelta(hours=2), "v10": T0 + datetime.timedelta(hours=1),
          "v3-rc": T0 + datetime.timedelta(hours=9)}, "v2", ""),
        # equal times: the smaller tag first
        ("glob:*", "a", ["a", "c", "b"], {"a": T0, "b": T0 + datetime.timedelta(1),
                                          "c": T0 + datetime.timedelta(1)}, "b", ""),
        # no creation time for the current or the newest image: fluxd skips the container
        ("glob:*", "a", ["a", "b"], {"b": T0}, None, "image with zero created timestamp (a or b)"),
        # an image without a time sorts as the oldest: the current one stays
        ("glob:*", "a", ["a", "b"], {"a": T0}, None, ""),
    ],
)  # fmt: skip
def test_choice_is_fluxds(
    annotation: str,
    current: str,
    tags: list[str],
    created: dict[str, datetime.datetime] | None,
    chosen: str | None,
    skipped: str,
) -> None:
    times = created or {}
    choice = choose_tag(
        TagPattern.parse(annotation), current=current, tags=tags,
        created=times.get if created is not None else None,
    )  # fmt: skip
    assert (choice.tag, choice.skipped) == (chosen, skipped)


# --- where the images are -------------------------------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/tag.web: semver:~1.10
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: "registry.local:5000/init:1.0"   # keep me
      containers:
      - {name: web, image: registry.local:5000/web:1.10.0}
      - name: pinned
        image: nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      - name: bare
        image: busybox
"""

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: ghcr.io/org/job:v1
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-workload}
data: {image: "x:1"}
"""

HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  annotations:
    fluxcd.io/automated: "true"
    repository.fluxcd.io/sidecar: extra.side.repo
    tag.fluxcd.io/sidecar: extra.side.tag
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo
      tag: 6.0.0
    cache:
      image: redis:7.0
    worker:
      registry: docker.io
      image: org/worker
      tag: '2.0'
    float:
      image: org/float
      tag: 1.10
    extra:
      side:
        repo: org/side
        tag: "3"
"""


def _summary(text: str) -> list[tuple[str, str, bool, list[tuple[str, str, str, int]]]]:
    return [
        (
            f"{o.id.kind}/{o.id.name}",
            o.id.namespace,
            o.policies.active,
            [(c.name, c.image, c.tag, c.field.line) for c in o.containers],
        )
        for o in find_objects(text)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DEPLOYMENT, [("Deployment/web", "apps", True, [
            ("web", "registry.local:5000/web", "1.10.0", 16),
            ("bare", "busybox", "", 20),
            ("init", "registry.local:5000/init", "1.0", 14),
        ])]),
        (CRONJOB, [("CronJob/nightly", "", False, [("job", "ghcr.io/org/job", "v1", 11)])]),
        (HELMRELEASE, [("HelmRelease/podinfo", "", True, [
            (CHART_IMAGE, "ghcr.io/stefanprodan/podinfo", "6.0.0", 13),
            ("cache", "redis", "7.0", 15),
            # float: `tag: 1.10` is no string to YAML, so fluxd read `image` alone
            ("float", "org/float", "", 21),
            ("sidecar", "org/side", "3", 26),
            ("worker", "docker.io/org/worker", "2.0", 19),
        ])]),
    ],
)  # fmt: skip
def test_images_are_found_where_fluxd_found_them(
    text: str, expected: list[tuple[str, str, bool, list[tuple[str, str, str, int]]]]
) -> None:
    assert _summary(text) == expected


def test_new_tags_are_written_byte_for_byte() -> None:
    objects = find_objects(DEPLOYMENT + "---\n" + HELMRELEASE)
    by_name = {c.name: c for o in objects for c in o.containers}
    text = DEPLOYMENT + "---\n" + HELMRELEASE
    written = set_tags(
        text,
        [
            (by_name["web"].field, "1.10.4"),
            (by_name["init"].field, "1.1"),
            (by_name["bare"].field, "1.36"),
            (by_name[CHART_IMAGE].field, "6.1.0"),
            (by_name["worker"].field, "2.1"),  # quoted as it was
            (by_name["cache"].field, "7.2"),
            (by_name["sidecar"].field, "4"),
        ],
    )
    expected = (
        text.replace("registry.local:5000/web:1.10.0}", "registry.local:5000/web:1.10.4}")
        .replace('/init:1.0"   # keep me', '/init:1.1"   # keep me')
        .replace("image: busybox", "image: busybox:1.36")
        .replace("tag: 6.0.0", "tag: 6.1.0")
        .replace("tag: '2.0'", "tag: '2.1'")
        .replace("image: redis:7.0", "image: redis:7.2")
        .replace('tag: "3"', 'tag: "4"')
    )  # fmt: skip
    assert written == expected


def test_a_plain_tag_that_yaml_would_read_as_a_number_is_quoted() -> None:
    text = "kind: HelmRelease\nspec:\n  values:\n    image: {repository: r/a, tag: v1}\n"
    (obj,) = find_objects(text)
    assert set_tags(text, [(obj.containers[0].field, "2.10")]) == text.replace(
        "tag: v1}", 'tag: "2.10"}'
    )


def test_fluxds_commit_message() -> None:
    def change(image: str, tag: str) -> V1Change:
        return V1Change(
            path="a.yaml", repo_path="a.yaml", line=1, object=find_objects(CRONJOB)[0].id,
            container="c", image=image, old_tag="1", new_tag=tag, old_value="", new_value="",
        )  # fmt: skip

    one = V1Result(changes=(change("r/a", "2"), change("r/a", "2")))
    assert auto_release_message(one) == "Auto-release r/a:2"
    two = V1Result(changes=(change("r/a", "2"), change("r/b", "3")))
    assert auto_release_message(two) == "Auto-release multiple (2) images\n\n - r/a:2\n - r/b:3\n"


# --- the opt-in, refused when it cannot mean anything ------------------------------------------


def _automation(update: dict[str, str], **spec: object) -> ImageUpdateAutomation:
    doc = {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": "v1", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            "git": {"commit": {"author": {"email": "support@weave.works"}}},
            "update": update,
            **spec,
        },
    }
    return ImageUpdateAutomation.model_validate(doc)


def test_the_opt_in_is_strategy_fluxv1() -> None:
    assert _automation({"strategy": "FluxV1", "path": "./"}).spec.update.strategy == "FluxV1"
    with pytest.raises(ValidationError, match="strategy FluxV1 does not read"):
        _automation({"strategy": "FluxV1"}, policySelector={"matchLabels": {"a": "b"}})
    with pytest.raises(ValidationError, match="'Setters' or 'FluxV1'"):
        _automation({"strategy": "fluxv1"})
