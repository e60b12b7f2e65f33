from __future__ import annotations

from typing import Any

import pytest

from services.kustomize.substitute import (
    ExpansionError,
    PostBuild,
    SubstitutionError,
    expand,
    substitute_object,
    substitute_objects,
)

VARS = {
    "var": "abcdEFGH28ij",
    "upper": "ABCDEFGH28IJ",
    "path": "/home/bozo/ideas/thoughts.for.today",
    "file": "bash.string.txt",
    "slashed": "path/to/file",
    "z": "abcABC123ABCabc",
    "empty": "",
    "dflt": "foo",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("${var}", "abcdEFGH28ij"),
        ("a-${var}-b", "a-abcdEFGH28ij-b"),
        ("${#var}", "12"),
        ("${var^}", "AbcdEFGH28ij"),
        ("${var^^}", "ABCDEFGH28IJ"),
        ("${upper,}", "aBCDEFGH28IJ"),
        ("${upper,,}", "abcdefgh28ij"),
        ("${path:11}", "ideas/thoughts.for.today"),
        ("${path:11:5}", "ideas"),
        ("${path: -5}", "today"),
        ("${path:-5}", "/home/bozo/ideas/thoughts.for.today"),
        ("${path:1:-6}", "home/bozo/ideas/thoughts.for"),
        ("${path:x}", "/home/bozo/ideas/thoughts.for.today"),
        ("${file#*.}", "string.txt"),
        ("${file##*.}", "txt"),
        ("${file%.*}", "bash.string"),
        ("${file%%.*}", "bash"),
        ("${slashed#*/}", "to/file"),
        ("${slashed##*/}", "file"),
        ("${file#[ab]a}", "sh.string.txt"),
        ("${z/abc/xyz}", "xyzABC123ABCabc"),
        ("${z//abc/xyz}", "xyzABC123ABCxyz"),
        ("${z/#abc/XYZ}", "XYZABC123ABCabc"),
        ("${z/%abc/XYZ}", "abcABC123ABCXYZ"),
        ("${z/#/pre-}", "pre-abcABC123ABCabc"),
        ("${z/%/-post}", "abcABC123ABCabc-post"),
        ("${z/ABC/}", "abc123ABCabc"),
        ("${slashed//\\//-}", "path-to-file"),
        # defaults: every form also replaces an empty value, as envsubst does
        ("${var:=xyz}", "abcdEFGH28ij"),
        ("${unset:=xyz}", "xyz"),
        ("${unset:-xyz}", "xyz"),
        ("${unset=xyz}", "xyz"),
        ("${unset-xyz}", "xyz"),
        ("${empty:-xyz}", "xyz"),
        ("${unset:=a b c}", "a b c"),
        ("${unset:=${dflt}}", "foo"),
        ("${unset:=pre${dflt}-post}", "prefoo-post"),
        ("${unset=${var^^}}", "ABCDEFGH28IJ"),
        ("${unset:-}", ""),
        # escapes and forms left alone
        ("$${var}", "${var}"),
        ("$var", "$var"),
        ("$$var", "$var"),
        ("cost: $5", "cost: $5"),
        ("$${unset:=x}", "${unset:=x}"),
        ("$$${var}", "$abcdEFGH28ij"),
        ("a ${var}$${var$${var}$var${var}", "a abcdEFGH28ij${var${var}$varabcdEFGH28ij"),
        ("\\\\x ${dflt}", "\\\\x foo"),
    ],
)
def test_every_supported_form_expands(text: str, expected: str) -> None:
    assert expand(text, VARS.get) == expected


@pytest.mark.parametrize(
    "text",
    [
        "${missing}",
        "${#missing}",
        "${missing^^}",
        "${missing,}",
        "${missing:0:2}",
        "${missing/a/b}",
        "${missing//a/b}",
        "${missing#a}",
        "${missing%%a}",
        "${unset:=${missing}}",
    ],
)
def test_strict_mode_refuses_unset_variables_without_default(text: str) -> None:
    with pytest.raises(ExpansionError, match=r'variable not set \(strict mode\): "missing"'):
        expand(text, VARS.get)


def test_without_strict_mode_unset_variables_are_empty() -> None:
    assert expand("[${missing}|${missing^^}|${#missing}]", VARS.get, strict=False) == "[||0]"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("${", "unable to parse variable name"),
        ("${}", "unable to parse variable name"),
        ("${var", "missing closing brace"),
        ("${var:-x", "missing closing brace"),
        ("${var x}", "missing closing brace"),
        ("${var+x}", "unsupported expansion"),
        ("${var?x}", "unsupported expansion"),
        ("${var#}", "unable to parse substitution"),
    ],
)
def test_bad_syntax_is_an_error_with_its_position(text: str, match: str) -> None:
    with pytest.raises(ExpansionError, match=match) as caught:
        expand("prefix " + text, VARS.get)
    assert caught.value.position >= len("prefix ")


def test_inline_variables_win_and_later_sources_override_earlier() -> None:
    post = PostBuild(
        substitute={"a": "inline"},
        substitute_from=({"a": "cm", "b": "cm", "c": "cm"}, {"b": "secret\n"}),
    )
    assert post.variables() == {"a": "inline", "b": "secret", "c": "cm"}


@pytest.mark.parametrize(
    ("post", "where"),
    [
        (PostBuild(substitute={"bad-name": "x"}), "postBuild.substitute"),
        (PostBuild(substitute_from=({"ok": "1"}, {"9lives": "x"})), r"substituteFrom\[1\]"),
    ],
)
def test_invalid_variable_names_are_refused(post: PostBuild, where: str) -> None:
    with pytest.raises(SubstitutionError, match=rf"{where}: variable name .* is invalid"):
        post.variables()


def configmap(**data: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "apps"},
        "data": data,
    }


def test_objects_are_substituted_and_parsed_again() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"env": "${env:=dev}"}},
        "spec": {
            "replicas": "${replicas}",
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:${tag}", "args": ["$HOME", "$${KEEP}"]}
                    ]
                }
            },
        },
    }
    result = substitute_object(obj, {"replicas": "3", "tag": "1.25"})
    assert result["spec"]["replicas"] == 3
    assert result["metadata"]["labels"] == {"env": "dev"}
    container = result["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.25"
    assert container["args"] == ["$HOME", "${KEEP}"]
    assert obj["spec"]["replicas"] == "${replicas}"


def test_strict_error_names_the_object_and_the_line() -> None:
    with pytest.raises(SubstitutionError) as caught:
        substitute_objects([configmap(a="${x}")], PostBuild(substitute={"y": "1"}))
    message = str(caught.value)
    assert 'variable not set (strict mode): "x"' in message
    assert "ConfigMap/apps/settings" in message
    assert "a: ${x}" in message


@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_objects_marked_disabled_are_skipped(where: str) -> None:
    obj = configmap(a="${x}")
    obj["metadata"][where] = {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}
    result = substitute_objects([obj, configmap(b="${y}")], PostBuild(substitute={"y": "1"}))
    assert result[0]["data"] == {"a": "${x}"}
    assert result[1]["data"] == {"b": 1}


def test_substitution_is_skipped_without_variables_unless_always() -> None:
    objects = [configmap(a="${x:=fallback}", b="$${y}")]
    assert substitute_objects(objects, PostBuild()) == objects
    always = substitute_objects(objects, PostBuild(strategy="Always"))
    assert always[0]["data"] == {"a": "fallback", "b": "${y}"}
    with pytest.raises(SubstitutionError, match="strict mode"):
        substitute_objects([configmap(a="${x}")], PostBuild(strategy="Always"))


def test_a_value_that_breaks_the_yaml_is_an_error_naming_the_object() -> None:
    with pytest.raises(SubstitutionError, match=r"ConfigMap/apps/settings: .*invalid YAML"):
        substitute_objects([configmap(a="${x}")], PostBuild(substitute={"x": "[unclosed"}))


def test_cache_key_is_none_when_substitution_is_off() -> None:
    assert PostBuild().cache_key() is None
    assert PostBuild(strategy="Always").cache_key() is not None
    assert (
        PostBuild(substitute={"a": "1"}).cache_key()
        == PostBuild(substitute_from=({"a": "1"},)).cache_key()
    )
