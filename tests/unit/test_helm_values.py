"""HelmRelease chart values as helm-controller composes them.

Rows from fluxcd/pkg chartutil and Helm strvals tests. Every --set row (good
and bad) was also run through helm.sh/helm/v4 v4.3.2 pkg/strvals.ParseInto by
a small Go program, with the same results.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.helm.strvals import SetError, parse_into
from services.helm.values import (
    ValuesObject,
    ValuesReferenceError,
    compose_values,
    merge_maps,
    replace_path_value,
)
from shared.api.helmrelease import ValuesReference


def ref(kind: str, name: str, **fields: Any) -> ValuesReference:
    return ValuesReference.model_validate({"kind": kind, "name": name, **fields})


CM = "ConfigMap"
SECRET = "Secret"

# (name, objects, refs, inline values, want) -- fluxcd/pkg TestChartValuesFromReferences.
COMPOSE_ROWS: list[tuple[str, list[ValuesObject], list[ValuesReference], Any, dict[str, Any]]] = [
    (
        "merges",
        [
            ValuesObject(
                CM, "values", {"values.yaml": "flat: value\nnested:\n  configuration: value\n"}
            ),
            ValuesObject(
                SECRET, "values", {"values.yaml": "flat:\n  nested: value\nnested: value\n"}
            ),
        ],
        [ref(CM, "values"), ref(SECRET, "values")],
        {"other": "values"},
        {"flat": {"nested": "value"}, "nested": "value", "other": "values"},
    ),
    (
        "with target path",
        [ValuesObject(SECRET, "values", {"single": "value"})],
        [ref(SECRET, "values", valuesKey="single", targetPath="merge.at.specific.path")],
        None,
        {"merge": {"at": {"specific": {"path": "value"}}}},
    ),
    (
        "target path precedence over all",
        [
            ValuesObject(
                CM,
                "values",
                {
                    "values.yaml": "flat: value\nnested:\n  configuration:\n"
                    "  - one\n  - two\n  - three\n"
                },
            ),
            ValuesObject(SECRET, "values", {"key": "value"}),
        ],
        [
            ref(SECRET, "values", valuesKey="key", targetPath="nested.configuration[0]"),
            ref(CM, "values"),
        ],
        {"nested": {"configuration": ["list", "item", "option"]}},
        {"flat": "value", "nested": {"configuration": ["value", "item", "option"]}},
    ),
    (
        "target path for string type array item",
        [
            ValuesObject(
                CM,
                "values",
                {
                    "values.yaml": "flat: value\nnested:\n  configuration:\n"
                    "  - list\n  - item\n  - option\n"
                },
            ),
            ValuesObject(SECRET, "values", {"values.yaml": "foo"}),
        ],
        [ref(CM, "values"), ref(SECRET, "values", targetPath="nested.configuration[1]")],
        {"other": "values"},
        {
            "flat": "value",
            "nested": {"configuration": ["list", "foo", "option"]},
            "other": "values",
        },
    ),
    (
        "optional values reference to non existing secret",
        [],
        [ref(SECRET, "missing", optional=True)],
        None,
        {},
    ),
    (
        "optional values reference to non existing config map",
        [],
        [ref(CM, "missing", optional=True)],
        None,
        {},
    ),
    (
        "optional reference to a missing key is skipped",
        [ValuesObject(CM, "values", {"values.yaml": "a: 1\n"})],
        [ref(CM, "values", valuesKey="other", optional=True), ref(CM, "values")],
        None,
        {"a": 1},
    ),
    (
        "a ConfigMap and a Secret of the same name are different objects",
        [ValuesObject(SECRET, "same", {"values.yaml": "a: secret\n"})],
        [ref(CM, "same", optional=True), ref(SECRET, "same")],
        None,
        {"a": "secret"},
    ),
    (
        "target path value is typed as --set types it",
        [ValuesObject(SECRET, "v", {"port": "8080", "on": "true", "zero": "007", "none": "null"})],
        [
            ref(SECRET, "v", valuesKey="port", targetPath="svc.port"),
            ref(SECRET, "v", valuesKey="on", targetPath="svc.enabled"),
            ref(SECRET, "v", valuesKey="zero", targetPath="svc.code"),
            ref(SECRET, "v", valuesKey="none", targetPath="svc.extra"),
        ],
        None,
        {"svc": {"port": 8080, "enabled": True, "code": "007", "extra": None}},
    ),
    (
        "a quoted target path value stays a string, its quotes trimmed",
        [ValuesObject(SECRET, "v", {"port": '"8080"', "on": "'true'", "comma": "'a,b'"})],
        [
            ref(SECRET, "v", valuesKey="port", targetPath="svc.port"),
            ref(SECRET, "v", valuesKey="on", targetPath="svc.enabled"),
        ],
        None,
        {"svc": {"port": "8080", "enabled": "true"}},
    ),
    (
        "escaped dots make one key",
        [ValuesObject(CM, "v", {"cpu": "100m"})],
        [ref(CM, "v", valuesKey="cpu", targetPath=r"podAnnotations.sidecar\.istio\.io/proxyCPU")],
        None,
        {"podAnnotations": {"sidecar.istio.io/proxyCPU": "100m"}},
    ),
    (
        "an empty values document adds nothing",
        [ValuesObject(CM, "v", {"values.yaml": "# nothing\n"})],
        [ref(CM, "v")],
        {"a": "b"},
        {"a": "b"},
    ),
    (
        "inline values win over valuesFrom and merge into nested maps",
        [
            ValuesObject(
                CM, "v", {"values.yaml": "image:\n  repository: nginx\n  tag: '1.0'\nreplicas: 2\n"}
            )
        ],
        [ref(CM, "v")],
        {"image": {"tag": "2.0"}, "replicas": None},
        {"image": {"repository": "nginx", "tag": "2.0"}, "replicas": None},
    ),
]


# (inline values, targetPath, want) -- outcomes of Flux's targetPath branch and final
# merge, run in Go with fluxcd/pkg MergeMaps and helm v4.3.2 strvals.ParseInto.
TARGET_PATH_ROWS: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"image": {"tag": "1.0"}}, "image.tag", {"image": {"tag": "2.0"}}),
    ({"tag": "1.0"}, "tag", {"tag": "1.0"}),
    (
        {"nested": {"configuration": ["list", "item", "option"]}},
        "nested.configuration[0]",
        {"nested": {"configuration": ["2.0", "item", "option"]}},
    ),
    (
        {"nested": {"configuration": ["list"]}},
        "nested.configuration[2]",
        {"nested": {"configuration": ["list", None, "2.0"]}},
    ),
    ({"other": "x"}, "image.tag", {"image": {"tag": "2.0"}, "other": "x"}),
]


@pytest.mark.parametrize(("inline", "path", "want"), TARGET_PATH_ROWS)
def test_target_path_against_inline_values(
    inline: dict[str, Any], path: str, want: dict[str, Any]
) -> None:
    before = repr(inline)
    objects = [ValuesObject(CM, "v", {"tag": "2.0"})]
    refs = [ref(CM, "v", valuesKey="tag", targetPath=path)]
    assert compose_values(inline, refs, objects=objects, namespace="apps") == want
    assert repr(inline) == before


@pytest.mark.parametrize(
    ("objects", "refs", "inline", "want"),
    [row[1:] for row in COMPOSE_ROWS],
    ids=[row[0] for row in COMPOSE_ROWS],
)
def test_compose_values(
    objects: list[ValuesObject], refs: list[ValuesReference], inline: Any, want: dict[str, Any]
) -> None:
    assert compose_values(inline, refs, objects=objects, namespace="apps") == want


SECRET_TEXT = "password: hunter2-do-not-leak"

# (name, objects, refs, words the message must hold)
ERROR_ROWS: list[tuple[str, list[ValuesObject], list[ValuesReference], list[str]]] = [
    (
        "values reference to non existing secret",
        [],
        [ref(SECRET, "missing")],
        ["Secret", "'apps/missing'", "'values.yaml'", "resource not found"],
    ),
    (
        "values reference to non existing config map",
        [],
        [ref(CM, "missing")],
        ["ConfigMap", "'apps/missing'", "resource not found"],
    ),
    (
        "missing secret key",
        [ValuesObject(SECRET, "values", {})],
        [ref(SECRET, "values", valuesKey="nonexisting")],
        ["Secret", "'apps/values'", "'nonexisting'", "key not found"],
    ),
    (
        "missing config map key",
        [ValuesObject(CM, "values", {})],
        [ref(CM, "values", valuesKey="nonexisting")],
        ["ConfigMap", "'nonexisting'", "key not found"],
    ),
    (
        "invalid values (a scalar, not a mapping)",
        [ValuesObject(CM, "values", {"values.yaml": "\ninvalid"})],
        [ref(CM, "values")],
        ["'apps/values'", "failed to read values data"],
    ),
    (
        "non-literal target path mangles value with commas",
        [ValuesObject(CM, "values", {"application.yml": "endpoints: [a,b,c]"})],
        [
            ref(
                CM,
                "values",
                valuesKey="application.yml",
                targetPath=r"externalConfig.application\.yml.content",
            )
        ],
        ["'application.yml'", "failed to merge value"],
    ),
    (
        "a Secret's broken YAML is not quoted",
        [ValuesObject(SECRET, "creds", {"values.yaml": SECRET_TEXT + "\n  : [\n"})],
        [ref(SECRET, "creds")],
        ["Secret", "'apps/creds'", "failed to read values data"],
    ),
    (
        "a Secret's value with a comma is not quoted",
        [ValuesObject(SECRET, "creds", {"pw": "hunter2,do-not-leak"})],
        [ref(SECRET, "creds", valuesKey="pw", targetPath="db.password")],
        ["'pw'", "failed to merge value"],
    ),
    (
        "a targetPath through a key the inline values hold as a string",
        [ValuesObject(CM, "v", {"tag": "1.0"})],
        [ref(CM, "v", valuesKey="tag", targetPath="image.tag")],
        ["'tag'", "failed to merge value"],
    ),
    (
        "an optional reference that is present but broken is still an error",
        [ValuesObject(CM, "values", {"values.yaml": "- a list\n"})],
        [ref(CM, "values", optional=True)],
        ["could not resolve optional ConfigMap", "failed to read values data"],
    ),
]


@pytest.mark.parametrize(
    ("objects", "refs", "words"),
    [row[1:] for row in ERROR_ROWS],
    ids=[row[0] for row in ERROR_ROWS],
)
def test_compose_values_errors(
    objects: list[ValuesObject], refs: list[ValuesReference], words: list[str]
) -> None:
    with pytest.raises(ValuesReferenceError) as caught:
        compose_values({"image": "nginx"}, refs, objects=objects, namespace="apps")
    message = str(caught.value)
    for word in words:
        assert word in message
    assert "hunter2" not in message
    assert "leak" not in message


# (a, b, want) -- Flux's MergeMaps: maps merge, anything else replaces, either way round.
MERGE_ROWS: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}, {"a": {"b": 1, "c": 3}}),
    ({"a": {"b": 1}}, {"a": "flat"}, {"a": "flat"}),
    ({"a": "flat"}, {"a": {"b": 1}}, {"a": {"b": 1}}),
    ({"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}),
    ({"a": 1}, {"a": None}, {"a": None}),
    ({}, {"x": {"y": {"z": 1}}}, {"x": {"y": {"z": 1}}}),
]


@pytest.mark.parametrize(("a", "b", "want"), MERGE_ROWS)
def test_merge_maps(a: dict[str, Any], b: dict[str, Any], want: dict[str, Any]) -> None:
    before = repr(a)
    assert merge_maps(a, b) == want
    assert repr(a) == before


# (--set text, want) -- rows of Helm's strvals TestParseSet/TestParseInto.
SET_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("name1=value1", {"name1": "value1"}),
    ("name1=value1,name2=value2", {"name1": "value1", "name2": "value2"}),
    ("name1=value1,name2=value2,", {"name1": "value1", "name2": "value2"}),
    ("name1=", {"name1": ""}),
    (
        "outer.inner1=value1,outer.inner3=value3,outer.inner4=4",
        {"outer": {"inner1": "value1", "inner3": "value3", "inner4": 4}},
    ),
    ("leading_zeros=00009", {"leading_zeros": "00009"}),
    ("zero_int=0", {"zero_int": 0}),
    ("long_int=1234567890", {"long_int": 1234567890}),
    ("boolean=true", {"boolean": True}),
    ("is_null=null", {"is_null": None}),
    ("name1={value1,value2}", {"name1": ["value1", "value2"]}),
    ("name1={1021,902}", {"name1": [1021, 902]}),
    ("name1.name2={value1,value2}", {"name1": {"name2": ["value1", "value2"]}}),
    ("list[0]=foo", {"list": ["foo"]}),
    ("list[0].foo=bar", {"list": [{"foo": "bar"}]}),
    ("list[0].foo=bar,list[0].hello=world", {"list": [{"foo": "bar", "hello": "world"}]}),
    ("list[0]=foo,list[1]=bar", {"list": ["foo", "bar"]}),
    ("list[0]=foo,list[1]=bar,", {"list": ["foo", "bar"]}),
    ("list[0]=foo,list[3]=bar", {"list": ["foo", None, None, "bar"]}),
    ("list[3]=bar", {"list": [None, None, None, "bar"]}),
    ("nested[0][0]=1", {"nested": [[1]]}),
    ("nested[1][1]=1", {"nested": [None, [None, 1]]}),
    (
        "name1.name2[0].foo=bar,name1.name2[1].foo=bar",
        {"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}},
    ),
    (
        "name1.name2[1].foo=bar,name1.name2[0].foo=bar",
        {"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}},
    ),
    (
        r"annotation.sidecar\.istio\.io/proxyCPU=100m",
        {"annotation": {"sidecar.istio.io/proxyCPU": "100m"}},
    ),
    (r"autoscaling\.enabled=true", {"autoscaling.enabled": True}),
    (r"name=one\,two", {"name": "one,two"}),
    ("name=one=two", {"name": "one=two"}),
]


@pytest.mark.parametrize(("text", "want"), SET_ROWS, ids=[row[0] for row in SET_ROWS])
def test_parse_set(text: str, want: dict[str, Any]) -> None:
    data: dict[str, Any] = {}
    parse_into(text, data, as_string=False)
    assert data == want


def test_parse_set_string_keeps_strings() -> None:
    data: dict[str, Any] = {}
    parse_into("a=true,b=8080,c=null,d={1,x}", data, as_string=True)
    assert data == {"a": "true", "b": "8080", "c": "null", "d": ["1", "x"]}


SET_ERROR_ROWS = [
    "name1,name2=",
    "name1,name2=value2",
    "name1,name2=value2\\",
    "name1,name2",
    "name1.=name2",
    "name1.,name2",
    "name1={1021,902",
    "list[-30].hello=world",
    "list[65537]=foo",
    "list[x]=foo",
    "list[0]x=foo",
    # A key that already holds another type: Helm's parser panics and reports it.
    "x=y,x.z=1",
    "list[0]=1,list.a=2",
    "a=1,a[0]=2",
    "nested[0]=x,nested[0][0]=y",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.aa.ab.ac.ad.ae.af=1",
]


@pytest.mark.parametrize("text", SET_ERROR_ROWS)
def test_parse_set_errors(text: str) -> None:
    with pytest.raises(SetError):
        parse_into(text, {}, as_string=False)


def test_replace_path_value_trims_every_surrounding_quote() -> None:
    # Go's strings.Trim(value, `'"`): all leading and trailing quote characters go.
    values: dict[str, Any] = {"keep": 1}
    replace_path_value(values, "a.b", "\"'x'\"")
    assert values == {"keep": 1, "a": {"b": "x"}}
