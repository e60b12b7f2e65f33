"""The image kinds (ImageRepository, ImagePolicy, ImageUpdateAutomation): what `sluice apply`
accepts, how older apiVersions convert, and each field refused with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import InvalidObjects, parse_as, parse_object, resolve_kind
from shared.api.imagepolicy import ImagePolicy
from shared.api.imagerepository import ImageRepository
from shared.api.imageupdateautomation import ImageUpdateAutomation
from shared.api.legacy import CONVERTED_FROM

V1 = "image.toolkit.fluxcd.io/v1"
V1BETA1 = "image.toolkit.fluxcd.io/v1beta1"
V1BETA2 = "image.toolkit.fluxcd.io/v1beta2"
META = {"name": "podinfo", "namespace": "flux-system"}


def _repository(api_version: str = V1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ImageRepository",
        "metadata": META,
        "spec": {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m", **spec},
    }


def _policy(api_version: str = V1, **spec: Any) -> dict[str, Any]:
    base = {"imageRepositoryRef": {"name": "podinfo"}, "policy": {"semver": {"range": "5.0.x"}}}
    return {
        "apiVersion": api_version,
        "kind": "ImagePolicy",
        "metadata": META,
        "spec": {**base, **spec},
    }


def _automation(api_version: str = V1, **spec: Any) -> dict[str, Any]:
    base = {
        "interval": "30m",
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "git": {
            "checkout": {"ref": {"branch": "main"}},
            "commit": {
                "author": {"email": "fluxcdbot@users.noreply.github.com", "name": "fluxcdbot"},
                "messageTemplate": "{{range .Updated.Images}}{{println .}}{{end}}",
            },
            "push": {"branch": "main"},
        },
        "update": {"path": "./clusters/my-cluster", "strategy": "Setters"},
    }
    return {
        "apiVersion": api_version,
        "kind": "ImageUpdateAutomation",
        "metadata": META,
        "spec": {**base, **spec},
    }


def _refused(doc: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidObjects) as info:
        parse_object(doc)
    (error,) = info.value.errors
    return error.field, str(error)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("imagerepository", "ImageRepository"),
        ("imagerepositories", "ImageRepository"),
        ("imgrepo", "ImageRepository"),
        ("imagerepo", "ImageRepository"),
        ("imagepolicy", "ImagePolicy"),
        ("imgpol", "ImagePolicy"),
        ("imagepol", "ImagePolicy"),
        ("imageupdateautomation", "ImageUpdateAutomation"),
        ("iua", "ImageUpdateAutomation"),
        ("imgupd", "ImageUpdateAutomation"),
        ("imgauto", "ImageUpdateAutomation"),
        ("imagepolicies.image.toolkit.fluxcd.io", "ImagePolicy"),
    ],
)
def test_the_image_kinds_answer_to_flux_names_and_short_names(name: str, kind: str) -> None:
    info = resolve_kind(name)
    assert info.kind == kind
    assert info.api_versions == (V1, V1BETA2, V1BETA1)


# ImageRepository


def test_a_repository_reads_with_flux_defaults() -> None:
    repo = parse_as(_repository(secretRef={"name": "regcred"}), ImageRepository)
    assert repo.spec.reference.registry == "ghcr.io"
    assert repo.spec.reference.repository == "stefanprodan/podinfo"
    assert repo.spec.exclusions == ("^.*\\.sig$",)
    assert repo.spec.timeout_seconds == 300  # the interval, as Flux
    assert repo.spec.interval_seconds == 300
    assert repo.spec.secret_ref is not None and repo.spec.secret_ref.name == "regcred"
    assert not repo.spec.insecure and not repo.spec.suspend


def test_a_docker_hub_name_is_completed() -> None:
    repo = parse_as(_repository(image="alpine"), ImageRepository)
    assert (repo.spec.reference.registry, repo.spec.reference.repository) == (
        "index.docker.io",
        "library/alpine",
    )


def test_a_repository_with_every_supported_field() -> None:
    repo = parse_as(
        _repository(
            image="registry.local:5000/team/app",
            timeout="45s",
            certSecretRef={"name": "ca"},
            insecure=True,
            provider="generic",
            exclusionList=["^.*\\.sig$", "^sha-"],
            accessFrom={"namespaceSelectors": [{"matchLabels": {"team": "apps"}}]},
            suspend=True,
        ),
        ImageRepository,
    )
    assert repo.spec.timeout_seconds == 45
    assert repo.spec.exclusions == ("^.*\\.sig$", "^sha-")
    assert repo.spec.suspend


@pytest.mark.parametrize(
    ("namespace", "labels", "access_from", "admitted"),
    [
        ("flux-system", {}, None, True),
        ("apps", {"team": "apps"}, None, False),
        (
            "apps",
            {"team": "apps"},
            {"namespaceSelectors": [{"matchLabels": {"team": "apps"}}]},
            True,
        ),
        (
            "apps",
            {"team": "web"},
            {"namespaceSelectors": [{"matchLabels": {"team": "apps"}}]},
            False,
        ),
        ("apps", {}, {"namespaceSelectors": [{}]}, True),
        (
            "apps",
            {"a": "1"},
            {"namespaceSelectors": [{"matchLabels": {"a": "1", "b": "2"}}]},
            False,
        ),
    ],
)
def test_access_from_admits_policies_of_other_namespaces_as_flux_acl(
    namespace: str, labels: dict[str, str], access_from: dict[str, Any] | None, admitted: bool
) -> None:
    extra: dict[str, Any] = {"accessFrom": access_from} if access_from is not None else {}
    repo = parse_as(_repository(**extra), ImageRepository)
    assert repo.spec.admits(namespace, own_namespace="flux-system", labels=labels) is admitted


@pytest.mark.parametrize("api_version", [V1BETA1, V1BETA2])
def test_older_repository_versions_are_read_as_v1(api_version: str) -> None:
    repo = parse_object(_repository(api_version, exclusionList=["^dev-"]))
    assert isinstance(repo, ImageRepository)
    assert repo.api_version == V1
    assert repo.spec.exclusions == ("^dev-",)


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            {"image": "https://ghcr.io/org/app"},
            "spec.image",
            "should not include URL scheme; remove 'https://'",
        ),
        (
            {"image": "ghcr.io/org/app:1.0.0"},
            "spec.image",
            "should not include a tag; remove ':1.0.0'",
        ),
        (
            {"image": "ghcr.io/org/app@sha256:" + "a" * 64},
            "spec.image",
            "should not include a digest",
        ),
        ({"image": "ghcr.io/Org/App"}, "spec.image", 'invalid repository "Org/App"'),
        ({"provider": "aws"}, "spec.provider", 'provider "aws" (cloud workload identity) is not'),
        ({"provider": "azure"}, "spec.provider", 'use "generic" with a dockerconfigjson Secret'),
        ({"provider": "oci"}, "spec.provider", ""),
        ({"serviceAccountName": "puller"}, "spec.serviceAccountName", "serviceAccountName (image"),
        (
            {"proxySecretRef": {"name": "proxy"}},
            "spec.proxySecretRef",
            "a proxy (spec.proxySecretRef)",
        ),
        (
            {"exclusionList": ["(unclosed"]},
            "spec.exclusionList",
            'invalid regular expression "(unclosed"',
        ),
        ({"exclusionList": ["(?=lookahead)"]}, "spec.exclusionList", "invalid regular expression"),
        ({"exclusionList": [f"^x{i}$" for i in range(26)]}, "spec.exclusionList", "at most 25"),
        ({"timeout": "1h"}, "spec.timeout", ""),
        ({"interval": None}, "spec.interval", ""),
        ({"image": None}, "spec.image", ""),
    ],
)
def test_repository_fields_sluice_cannot_honour_are_refused_with_a_reason(
    spec: dict[str, Any], field: str, words: str
) -> None:
    doc = _repository(**spec)
    doc["spec"] = {k: v for k, v in doc["spec"].items() if v is not None}
    got_field, message = _refused(doc)
    assert got_field == field
    assert words in message


# ImagePolicy


def test_a_policy_reads_with_flux_defaults() -> None:
    policy = parse_as(_policy(filterTags={"pattern": "^main-"}), ImagePolicy)
    assert policy.spec.policy.semver is not None and policy.spec.policy.semver.range == "5.0.x"
    assert policy.spec.digest_reflection_policy == "Never"
    assert not policy.spec.reflects_digest
    assert policy.spec.interval_seconds is None
    assert policy.spec.filter_tags is not None and policy.spec.filter_tags.extract == ""
    assert policy.spec.image_repository_ref.namespace is None


@pytest.mark.parametrize(
    ("choice", "order"),
    [({"alphabetical": {}}, "asc"), ({"numerical": {"order": "desc"}}, "desc")],
)
def test_ordering_rules_default_to_ascending(choice: dict[str, Any], order: str) -> None:
    policy = parse_as(_policy(policy=choice), ImagePolicy)
    rule = policy.spec.policy.alphabetical or policy.spec.policy.numerical
    assert rule is not None and rule.order == order


@pytest.mark.parametrize(
    ("spec", "seconds"),
    [
        ({"digestReflectionPolicy": "Always", "interval": "5m"}, 300.0),
        ({"digestReflectionPolicy": "Always", "interval": "0s"}, 600.0),  # Flux: 0 means 10m
        ({"digestReflectionPolicy": "IfNotPresent"}, None),
    ],
)
def test_digest_reflection_sets_the_refresh_interval(
    spec: dict[str, Any], seconds: float | None
) -> None:
    policy = parse_as(_policy(**spec), ImagePolicy)
    assert policy.spec.reflects_digest
    assert policy.spec.interval_seconds == seconds


def test_v1beta1_policy_from_the_users_articles_is_read_as_v1() -> None:
    doc = _policy(
        V1BETA1,
        filterTags={"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"},
        policy={"numerical": {"order": "asc"}},
    )
    policy = parse_object(doc)
    assert isinstance(policy, ImagePolicy)
    assert policy.api_version == V1
    assert policy.spec.filter_tags is not None and policy.spec.filter_tags.extract == "$ts"


def test_an_old_status_image_string_becomes_a_ref() -> None:
    doc = _policy(V1BETA2)
    doc["status"] = {
        "latestImage": "ghcr.io/stefanprodan/podinfo:5.0.3",
        "observedPreviousImage": "localhost:5000/podinfo:5.0.2@sha256:" + "b" * 64,
    }
    policy = parse_as(doc, ImagePolicy)
    assert policy.status == {
        "latestRef": {"name": "ghcr.io/stefanprodan/podinfo", "tag": "5.0.3"},
        "observedPreviousRef": {
            "name": "localhost:5000/podinfo",
            "tag": "5.0.2",
            "digest": "sha256:" + "b" * 64,
        },
    }


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            {"policy": {}},
            "spec.policy",
            "set exactly one of semver, alphabetical or numerical (got none)",
        ),
        (
            {"policy": {"semver": {"range": "1.x"}, "alphabetical": {}}},
            "spec.policy",
            "(got semver and alphabetical)",
        ),
        (
            {"policy": {"semver": {"range": "*-*"}}},
            "spec.policy.semver.range",
            'invalid semver range "*-*"',
        ),
        (
            {"policy": {"semver": {"range": "1.0.0p"}}},
            "spec.policy.semver.range",
            "invalid semver range",
        ),
        ({"policy": {"semver": {}}}, "spec.policy.semver.range", ""),
        ({"policy": {"alphabetical": {"order": "ASC"}}}, "spec.policy.alphabetical.order", ""),
        ({"policy": {"numerical": {"order": "up"}}}, "spec.policy.numerical.order", ""),
        (
            {"filterTags": {"pattern": "(?P<x>a"}},
            "spec.filterTags.pattern",
            "invalid regular expression",
        ),
        (
            {"filterTags": {"pattern": "a(?!b)"}},
            "spec.filterTags.pattern",
            "invalid regular expression",
        ),
        (
            {"interval": "5m"},
            "spec",
            "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'",
        ),
        (
            {"digestReflectionPolicy": "Always"},
            "spec",
            "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'",
        ),
        ({"digestReflectionPolicy": "Sometimes"}, "spec.digestReflectionPolicy", ""),
        ({"imageRepositoryRef": {}}, "spec.imageRepositoryRef.name", ""),
    ],
)
def test_policy_specs_flux_would_stall_on_are_refused_at_apply(
    spec: dict[str, Any], field: str, words: str
) -> None:
    got_field, message = _refused(_policy(**spec))
    assert got_field == field
    assert words in message


# ImageUpdateAutomation


def test_an_automation_reads_with_flux_defaults() -> None:
    doc = _automation()
    doc["spec"]["git"] = {"commit": {"author": {"email": "bot@example.com"}}}
    del doc["spec"]["update"]
    auto = parse_as(doc, ImageUpdateAutomation)
    assert auto.spec.update.strategy == "Setters" and auto.spec.update.path == ""
    assert auto.spec.git.commit.message == "Update from image update automation"
    assert auto.spec.git.commit.author.name == ""
    assert auto.spec.git.push_branch == "" and auto.spec.git.refspec == ""
    assert auto.spec.git.checkout is None
    assert auto.spec.policy_selector is None
    assert auto.spec.interval_seconds == 1800
    assert not auto.legacy_template_data


def test_an_automation_with_every_supported_field() -> None:
    doc = _automation(
        policySelector={"matchLabels": {"app": "podinfo"}},
        suspend=True,
        sourceRef={
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "name": "fleet",
            "namespace": "infra",
        },
    )
    doc["spec"]["git"]["commit"]["messageTemplateValues"] = {"env": "prod"}
    doc["spec"]["git"]["push"] = {
        "branch": "image-updates",
        "refspec": "refs/heads/image-updates:refs/heads/main",
        "options": {"merge_request.create": ""},
    }
    auto = parse_as(doc, ImageUpdateAutomation)
    assert auto.spec.source_ref.namespace == "infra"
    assert auto.spec.git.push_branch == "image-updates"
    assert auto.spec.git.refspec == "refs/heads/image-updates:refs/heads/main"
    assert auto.spec.git.commit.message_template_values == {"env": "prod"}
    assert auto.spec.policy_selector is not None
    assert auto.spec.policy_selector.matches({"app": "podinfo"})


@pytest.mark.parametrize(("api_version", "updated"), [(V1BETA1, True), (V1BETA2, False)])
def test_older_automations_remember_their_version_and_v1beta1_keeps_updated(
    api_version: str, updated: bool
) -> None:
    auto = parse_object(_automation(api_version))
    assert isinstance(auto, ImageUpdateAutomation)
    assert auto.api_version == V1
    assert auto.metadata.annotations[CONVERTED_FROM] == api_version
    assert auto.applied_as == api_version
    assert auto.legacy_template_data is updated
    assert auto.spec.git.commit.message_template == "{{range .Updated.Images}}{{println .}}{{end}}"


def test_a_v1_automation_gets_the_v1_template_data_only() -> None:
    auto = parse_as(_automation(), ImageUpdateAutomation)
    assert CONVERTED_FROM not in auto.metadata.annotations
    assert auto.applied_as == V1
    assert not auto.legacy_template_data


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"git": None}, "spec.git", "required"),
        (
            {"sourceRef": {"kind": "OCIRepository", "name": "x"}},
            "spec.sourceRef.kind",
            "GitRepository",
        ),
        ({"sourceRef": {"name": "Bad_Name"}}, "spec.sourceRef.name", "invalid name"),
        ({"update": {"strategy": "Kustomize"}}, "spec.update.strategy", "Setters"),
        ({"interval": "0s"}, "spec.interval", "greater than zero"),
        (
            {"policySelector": {"matchLabels": {"app": "a b"}}},
            "spec.policySelector.matchLabels.app",
            "",
        ),
    ],
)
def test_automation_specs_flux_would_stall_on_are_refused_at_apply(
    change: dict[str, Any], field: str, words: str
) -> None:
    doc = _automation(**change)
    doc["spec"] = {k: v for k, v in doc["spec"].items() if v is not None}
    got_field, message = _refused(doc)
    assert got_field.startswith(field)
    assert words in message


@pytest.mark.parametrize(
    ("commit", "field", "words"),
    [
        (
            {"signingKey": {"secretRef": {"name": "gpg"}}},
            "spec.git.commit.signingKey",
            "signing commits (gpg) is not supported by sluice yet",
        ),
        (
            {"signingKey": {"secretRef": {"name": "ssh"}, "type": "ssh"}},
            "spec.git.commit.signingKey",
            "signing commits (ssh) is not supported by sluice yet",
        ),
        ({"author": {"name": "bot"}}, "spec.git.commit.author.email", ""),
        ({"author": {"email": ""}}, "spec.git.commit.author.email", ""),
    ],
)
def test_commit_fields_sluice_cannot_honour_are_refused(
    commit: dict[str, Any], field: str, words: str
) -> None:
    doc = _automation()
    doc["spec"]["git"]["commit"] = {**doc["spec"]["git"]["commit"], **commit}
    got_field, message = _refused(doc)
    assert got_field == field
    assert words in message
