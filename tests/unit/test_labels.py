"""Label selectors read as kubectl and the API server read them: tables of text, dicts, labels."""

from __future__ import annotations

from typing import Any

import pytest

from shared.labels import (
    Requirement,
    Selector,
    SelectorError,
    as_selector,
    matches_label_selector,
    parse_selector,
    selector_from_dict,
)

PARSED = [
    ("", ""),
    ("   ", ""),
    ("app=web", "app=web"),
    ("app==web", "app=web"),
    ("app = web", "app=web"),
    ("app!=web", "app!=web"),
    ("app=", "app="),
    ("tier in (b, a)", "tier in (a,b)"),
    ("tier in(a)", "tier=a"),
    ("tier notin (a,b)", "tier notin (a,b)"),
    ("canary", "canary"),
    ("!canary", "!canary"),
    ("! canary", "!canary"),
    ("a=b,c!=d,e in (x,y),!f,g", "a=b,c!=d,e in (x,y),!f,g"),
    ("toolkit.fluxcd.io/tenant=dev", "toolkit.fluxcd.io/tenant=dev"),
    ("env=prod-eu_1.x", "env=prod-eu_1.x"),
]


@pytest.mark.parametrize(("text", "canonical"), PARSED)
def test_selector_text_parses_to_its_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_selector(text)) == canonical


def test_parsed_requirements_carry_kubernetes_operators() -> None:
    assert parse_selector("a=b,c notin (y,x),!d,e").requirements == (
        Requirement("a", "In", ("b",)),
        Requirement("c", "NotIn", ("x", "y")),
        Requirement("d", "DoesNotExist"),
        Requirement("e", "Exists"),
    )


BAD_TEXT = [
    ("a=b,", "expected a label key, found the end"),
    (",a", "expected a label key, found ','"),
    ("a b", "an operator"),
    ("a in b", "expected '(' after 'in'"),
    ("a in (x", "')' or ','"),
    ("a in ()", "expected a value, found ')'"),
    ("a in (x,)", "a value after ','"),
    ("a=b c=d", "',' between requirements"),
    ("!", "a label key after '!'"),
    ("a=(", "expected a value"),
    ("-a=b", "label key '-a' is not valid"),
    ("a=b/c", "label value 'b/c' is not valid"),
    ("Example.com/a=b", "invalid prefix"),
    ("/a=b", "invalid prefix"),
    ("a=" + "x" * 64, "is not valid"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TEXT)
def test_bad_selector_text_is_refused_with_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(text)
    assert message in str(info.value)
    assert repr(text) in str(info.value)


LABELS = {"app": "web", "tier": "front", "canary": ""}

MATCHES = [
    ("", True),
    ("app=web", True),
    ("app=api", False),
    ("app!=api", True),
    ("missing!=x", True),
    ("app!=web", False),
    ("tier in (front,back)", True),
    ("tier in (back)", False),
    ("missing in (x)", False),
    ("tier notin (back)", True),
    ("missing notin (x)", True),
    ("tier notin (front)", False),
    ("canary", True),
    ("canary=", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("app=web,tier=front,!missing", True),
    ("app=web,tier=back", False),
]


@pytest.mark.parametrize(("text", "expected"), MATCHES)
def test_selector_text_matches_labels(text: str, expected: bool) -> None:
    assert parse_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({}, None, True),
        ({"matchLabels": {"env": "prod"}}, {"env": "prod", "x": "y"}, True),
        ({"matchLabels": {"env": "prod"}}, {"env": "dev"}, False),
        ({"matchLabels": {"env": "prod"}}, None, False),
        (
            {"matchExpressions": [{"key": "region", "operator": "In", "values": ["eu", "us"]}]},
            {"region": "eu"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["eu"]}]},
            {"region": "eu"},
            False,
        ),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, {"gpu": "a100"}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, {"gpu": "x"}, False),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu"]}],
            },
            {"env": "prod", "region": "us"},
            False,
        ),
    ],
)
def test_label_selector_dict_matches_as_kubernetes_does(
    selector: dict[str, Any], labels: dict[str, str] | None, expected: bool
) -> None:
    assert matches_label_selector(selector, labels) is expected


BAD_DICTS = [
    ({"matchLabel": {"a": "b"}}, "unknown field(s) matchLabel"),
    ({"matchLabels": ["a"]}, "selector.matchLabels: expected a mapping"),
    ({"matchLabels": {"a": 1}}, "selector.matchLabels.a: expected a string"),
    ({"matchExpressions": {"key": "a"}}, "selector.matchExpressions: expected a list"),
    ({"matchExpressions": ["a"]}, "matchExpressions[0]: expected a mapping"),
    ({"matchExpressions": [{"operator": "Exists"}]}, "matchExpressions[0].key"),
    (
        {"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]},
        "matchExpressions[0].operator: 'in' is not one of In, NotIn, Exists, DoesNotExist",
    ),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "In needs at least one value"),
    (
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        "Exists takes no values",
    ),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}, "list of strings"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_DICTS)
def test_bad_label_selector_dict_names_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        selector_from_dict(spec)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        (None, ""),
        ("a=b", "a=b"),
        ({"b": "2", "a": "1"}, "a=1,b=2"),
        ({"matchLabels": {"a": "1"}}, "a=1"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, "a"),
        (Selector((Requirement("a", "Exists"),)), "a"),
    ],
)
def test_as_selector_takes_text_match_labels_and_label_selectors(
    value: Any, canonical: str
) -> None:
    assert str(as_selector(value)) == canonical


def test_empty_selector_selects_everything() -> None:
    assert as_selector(None).empty
    assert Selector().matches({"anything": "at-all"})
