"""CEL expressions compiled once and evaluated against plain objects, with errors naming them."""

from __future__ import annotations

from typing import Any

import pytest

from shared.cel import EvaluationError, InvalidExpression, compile_bool, compile_string

KS = {
    "metadata": {"name": "app", "labels": {"app/version": "v1"}, "generation": 2},
    "status": {
        "observedGeneration": 2,
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')", KS, True),
        ("status.conditions.exists(e, e.type == 'Stalled')", KS, False),
        ("metadata.generation == status.observedGeneration", KS, True),
        ("has(status.observedGeneration) && status.observedGeneration >= 2", KS, True),
        ("has(status.phase)", KS, False),
        ("metadata.labels['app/version'].startsWith('v')", KS, True),
        ("metadata.name.upperAscii() == 'APP'", KS, True),  # strings extension
        ("status.?phase.orValue('none') == 'none'", KS, True),  # optional types
        ("status.observedGeneration > 1.5", KS, True),  # int against double
    ],
)
def test_an_unchecked_expression_sees_the_objects_top_level_fields(
    text: str, data: dict[str, Any], expected: bool
) -> None:
    assert compile_bool(text).evaluate(data) is expected


@pytest.mark.parametrize(
    ("self_labels", "dep_labels", "expected"),
    [({"v": "1"}, {"v": "1"}, True), ({"v": "1"}, {"v": "2"}, False)],
)
def test_a_checked_expression_sees_its_declared_variables(
    self_labels: dict[str, str], dep_labels: dict[str, str], expected: bool
) -> None:
    expr = compile_bool(
        "dep.metadata.labels['v'] == self.metadata.labels['v']", variables=("self", "dep")
    )
    data = {
        "self": {"metadata": {"labels": self_labels}},
        "dep": {"metadata": {"labels": dep_labels}},
    }
    assert expr.evaluate(data) is expected


@pytest.mark.parametrize(
    ("text", "variables", "says"),
    [
        ("status.ready ==", None, "Syntax error"),
        ("status.(", None, "Syntax error"),
        ("", None, "empty"),
        ("self.generation == deps.generation", ("self", "dep"), "undeclared reference to 'deps"),
        ("dep.status", ("self", "dep"), "must give a bool, but gives dyn"),
        ("'yes'", ("self", "dep"), "must give a bool, but gives string"),
    ],
)
def test_an_expression_that_cannot_compile_is_refused_naming_it(
    text: str, variables: tuple[str, ...] | None, says: str
) -> None:
    with pytest.raises(InvalidExpression) as caught:
        compile_bool(text, variables=variables)
    assert says in str(caught.value)
    assert caught.value.expression == text
    if text:
        assert f"'{text}'" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "data", "says"),
    [
        ("status.phase == 'Ready'", {"metadata": {}}, 'No value with name "status"'),
        ("status.conditions[0].type == 'Ready'", {"status": {}}, "Key not found in map"),
        ("status.phase", {"status": {"phase": "Ready"}}, "gave string 'Ready', expected a bool"),
    ],
)
def test_an_expression_that_cannot_be_evaluated_says_why(
    text: str, data: dict[str, Any], says: str
) -> None:
    with pytest.raises(EvaluationError) as caught:
        compile_bool(text).evaluate(data)
    assert says in str(caught.value)
    assert f"'{text}'" in str(caught.value)


def test_a_checked_expression_needs_every_variable_it_declares() -> None:
    expr = compile_bool("dep.ready == true", variables=("self", "dep"))
    with pytest.raises(EvaluationError, match="no value for self"):
        expr.evaluate({"dep": {"ready": True}})


def test_an_expression_is_compiled_once() -> None:
    text = "metadata.name == 'once'"
    assert compile_bool(text) is compile_bool(text)


COMMIT_STATUS_VARIABLES = ("event", "provider", "alert")
EVENT_DATA = {
    "event": {"involvedObject": {"kind": "Kustomization", "name": "Apps"}, "metadata": {}},
    "provider": {"metadata": {"uid": "0c9c2E41-d2f9-4f9b-9c41-7b6c2ab2a41c"}},
    "alert": {"metadata": {"name": "on-call"}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "(event.involvedObject.kind + '/' + event.involvedObject.name + '/'"
            " + provider.metadata.uid.split('-')[0]).lowerAscii()",
            "kustomization/apps/0c9c2e41",
        ),
        ("'flux/' + alert.metadata.name", "flux/on-call"),
        ("string(event.involvedObject.name)", "Apps"),
    ],
)
def test_a_string_expression_gives_the_commit_status_context(text: str, expected: str) -> None:
    expr = compile_string(text, variables=COMMIT_STATUS_VARIABLES)
    assert expr.evaluate(EVENT_DATA) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        # As Flux's WithOutputType(StringType): a bare field is dyn, not a string.
        ("event.metadata.foo", "must give a string, but gives dyn"),
        ("1 + 2", "must give a string, but gives int"),
        ("event.reason == 'x'", "must give a string, but gives bool"),
        ("object.metadata.name", "undeclared reference to 'object"),
        ("  ", "empty"),
    ],
)
def test_a_string_expression_that_gives_no_string_is_refused(text: str, says: str) -> None:
    with pytest.raises(InvalidExpression) as caught:
        compile_string(text, variables=COMMIT_STATUS_VARIABLES)
    assert says in str(caught.value)


def test_a_string_expression_that_fails_on_the_data_says_why() -> None:
    expr = compile_string("'x/' + event.metadata.missing", variables=COMMIT_STATUS_VARIABLES)
    with pytest.raises(EvaluationError, match="failed to evaluate"):
        expr.evaluate(EVENT_DATA)
