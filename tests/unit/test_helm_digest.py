# ruff: noqa: E501  (go-yaml output rows kept verbatim, long strings included)
"""Flux's HelmRelease digests: config (values), postRenderers and commonMetadata.

Expected values were produced by Flux's own code paths, not by this module:
the DigestValues rows are fluxcd/pkg chartutil's digest_test.go; the YAML rows
(GO_YAML_ROWS) and the postRenderers/commonMetadata digests were written by a
small Go program that runs sigs.k8s.io/yaml v1.6.0 JSONObjectToYAMLObject +
SortMapSlice + go.yaml.in/yaml/v2 v2.4.3 Marshal (Flux's Encode), and
encoding/json's Encoder over structs with helm-controller's field order and
tags (postrender.Digest / CommonMetadataDigest).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from services.helm.digest import (
    common_metadata_digest,
    post_renderers_digest,
    sha256_digest,
    values_digest,
)
from services.helm.goyaml import encode_sorted, go_float
from shared.api.helmrelease import PostRenderer
from shared.api.kustomize import CommonMetadata

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
VALUE_MAP = "sha256:fcdc2b0de1581a3633ada4afee3f918f6eaa5b5ab38c3fef03d5b48d3f85d9f6"
NUMERIC_KEYS = "sha256:8a980fcbeadd6f05818f07e8aec14070c22250ca3d96af1fcd5f93b3e85b4d70"

# (name, values, want) -- fluxcd/pkg chartutil TestDigestValues.
DIGEST_ROWS: list[tuple[str, Any, str]] = [
    ("empty", {}, EMPTY),
    ("nil", None, EMPTY),
    (
        "value map",
        {
            "replicas": 3,
            "image": {"tag": "latest", "repository": "nginx"},
            "ports": [{"protocol": "TCP", "port": 8080}, {"port": 9090, "protocol": "UDP"}],
        },
        VALUE_MAP,
    ),
    (
        "value map in different order",
        {
            "image": {"repository": "nginx", "tag": "latest"},
            "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 9090, "protocol": "UDP"}],
            "replicas": 3,
        },
        VALUE_MAP,
    ),
    (
        "values map with numeric keys",
        {
            "replicas": 3,
            "test": {
                "632bd80235a05f4192aefade": "value1",
                "632bd80ddf416cf32fd50679": "value2",
                "632bd817c559818a52307da2": "value3",
                "632bd82398e71231a98004b6": "value4",
            },
        },
        NUMERIC_KEYS,
    ),
    (
        "values map with numeric keys in different order",
        {
            "test": {
                "632bd82398e71231a98004b6": "value4",
                "632bd817c559818a52307da2": "value3",
                "632bd80ddf416cf32fd50679": "value2",
                "632bd80235a05f4192aefade": "value1",
            },
            "replicas": 3,
        },
        NUMERIC_KEYS,
    ),
    (
        "a whole float is the int it equals (values read from YAML are float64 in Go)",
        {
            "replicas": 3.0,
            "image": {"repository": "nginx", "tag": "latest"},
            "ports": [{"port": 8080.0, "protocol": "TCP"}, {"port": 9090, "protocol": "UDP"}],
        },
        VALUE_MAP,
    ),
]


@pytest.mark.parametrize(
    ("values", "want"), [r[1:] for r in DIGEST_ROWS], ids=[r[0] for r in DIGEST_ROWS]
)
def test_values_digest(values: Any, want: str) -> None:
    assert values_digest(values) == want


def test_values_digest_sha512_row_matches_the_same_bytes() -> None:
    # Flux's "using different algorithm" row: sha512 over the same encoding.
    text = encode_sorted({"foo": "bar", "baz": {"cool": "stuff"}})
    assert hashlib.sha512(text.encode()).hexdigest() == (
        "b5f9cd4855ca3b08afd602557f373069b1732ce2e6d52341481b0d38f1938452"
        "e9d7759ab177c66699962b592f20ceded03eea3cd405d8670578c47842e2c550"
    )


def test_values_digest_changes_with_a_value() -> None:
    assert values_digest({"replicas": 3}) != values_digest({"replicas": 4})
    assert values_digest({"replicas": 3}) != values_digest({"replicas": "3"})


# (values, go-yaml v2 text) -- written by go-yaml v2.4.3 through Flux's Encode path.
GO_YAML_ROWS: list[tuple[dict[str, Any], str]] = [
    ({"s": "plain"}, "s: plain\n"),
    ({"s": "true"}, 's: "true"\n'),
    ({"s": "True"}, 's: "True"\n'),
    ({"s": "yes"}, 's: "yes"\n'),
    ({"s": "no"}, 's: "no"\n'),
    ({"s": "on"}, 's: "on"\n'),
    ({"s": "off"}, 's: "off"\n'),
    ({"s": "y"}, 's: "y"\n'),
    ({"s": "n"}, 's: "n"\n'),
    ({"s": "null"}, 's: "null"\n'),
    ({"s": "~"}, 's: "~"\n'),
    ({"s": ""}, 's: ""\n'),
    ({"s": "1"}, 's: "1"\n'),
    ({"s": "-1"}, 's: "-1"\n'),
    ({"s": "+1"}, 's: "+1"\n'),
    ({"s": "1.5"}, 's: "1.5"\n'),
    ({"s": "1e3"}, 's: "1e3"\n'),
    ({"s": "0x1F"}, 's: "0x1F"\n'),
    ({"s": "0o17"}, 's: "0o17"\n'),
    ({"s": "017"}, 's: "017"\n'),
    ({"s": "1_000"}, 's: "1_000"\n'),
    ({"s": ".inf"}, 's: ".inf"\n'),
    ({"s": "-.Inf"}, 's: "-.Inf"\n'),
    ({"s": ".nan"}, 's: ".nan"\n'),
    ({"s": "<<"}, "s: <<\n"),
    ({"s": "2024-01-01"}, 's: "2024-01-01"\n'),
    ({"s": "2024-1-1"}, 's: "2024-1-1"\n'),
    ({"s": "2024-01-01T10:00:00Z"}, 's: "2024-01-01T10:00:00Z"\n'),
    ({"s": "2024-01-01 10:00:00"}, 's: "2024-01-01 10:00:00"\n'),
    ({"s": "12:30"}, 's: "12:30"\n'),
    ({"s": "1:20:30.5"}, 's: "1:20:30.5"\n'),
    ({"s": "- x"}, "s: '- x'\n"),
    ({"s": "-x"}, "s: -x\n"),
    ({"s": "-"}, "s: '-'\n"),
    ({"s": "a: b"}, "s: 'a: b'\n"),
    ({"s": "a:b"}, "s: a:b\n"),
    ({"s": "a #b"}, "s: 'a #b'\n"),
    ({"s": "a#b"}, "s: a#b\n"),
    ({"s": "#a"}, "s: '#a'\n"),
    ({"s": "*a"}, "s: '*a'\n"),
    ({"s": "&a"}, "s: '&a'\n"),
    ({"s": "!a"}, "s: '!a'\n"),
    ({"s": "|a"}, "s: '|a'\n"),
    ({"s": ">a"}, "s: '>a'\n"),
    ({"s": "'a"}, "s: '''a'\n"),
    ({"s": '"a'}, "s: '\"a'\n"),
    ({"s": "%a"}, "s: '%a'\n"),
    ({"s": "@a"}, "s: '@a'\n"),
    ({"s": "`a"}, "s: '`a'\n"),
    ({"s": "[a]"}, "s: '[a]'\n"),
    ({"s": "{a}"}, "s: '{a}'\n"),
    ({"s": ",a"}, "s: ',a'\n"),
    ({"s": "a,b"}, "s: a,b\n"),
    ({"s": "a[0]"}, "s: a[0]\n"),
    ({"s": "?a"}, "s: ?a\n"),
    ({"s": "? a"}, "s: '? a'\n"),
    ({"s": ":a"}, "s: :a\n"),
    ({"s": ": a"}, "s: ': a'\n"),
    ({"s": "a:"}, "s: 'a:'\n"),
    ({"s": " a"}, "s: ' a'\n"),
    ({"s": "a "}, "s: 'a '\n"),
    ({"s": "a\tb"}, 's: "a\\tb"\n'),
    ({"s": "a\nb"}, "s: |-\n  a\n  b\n"),
    ({"s": "a\nb\n"}, "s: |\n  a\n  b\n"),
    ({"s": "a\n\n"}, "s: |+\n  a\n\n"),
    ({"s": "\na"}, "s: |2-\n\n  a\n"),
    ({"s": " a\nb"}, "s: |2-\n   a\n  b\n"),
    ({"s": "a\x01b"}, 's: "a\\x01b"\n'),
    ({"s": "é ünïcode"}, "s: é ünïcode\n"),
    ({"s": "a\xa0b"}, "s: a\xa0b\n"),
    ({"s": "---"}, "s: '---'\n"),
    ({"s": "--- a"}, "s: '--- a'\n"),
    ({"s": "..."}, "s: '...'\n"),
    ({"s": "---a"}, "s: '---a'\n"),
    (
        {
            "s": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        },
        "s: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
    ),
    (
        {
            "s": "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word"
        },
        "s: word word word word word word word word word word word word word word word word\n  word word word word word word word word word word word word word word\n",
    ),
    ({"s": "a 'q' b"}, "s: a 'q' b\n"),
    ({"s": 'a "q" b'}, 's: a "q" b\n'),
    ({"s": "a\\b"}, "s: a\\b\n"),
    ({"s": "0"}, 's: "0"\n'),
    ({"s": "00"}, 's: "00"\n'),
    ({"s": "0.0"}, 's: "0.0"\n'),
    ({"s": ".5"}, 's: ".5"\n'),
    ({"s": "5."}, 's: "5."\n'),
    ({"s": "1e+06"}, 's: "1e+06"\n'),
    ({"s": "NaN"}, "s: NaN\n"),
    ({"s": "Infinity"}, "s: Infinity\n"),
    ({"s": "="}, "s: =\n"),
    ({"s": "<"}, "s: <\n"),
    ({"s": "a: b\nc: d\n"}, "s: |\n  a: b\n  c: d\n"),
    ({"plain": 1}, "plain: 1\n"),
    ({"true": 1}, '"true": 1\n'),
    ({"True": 1}, '"True": 1\n'),
    ({"yes": 1}, '"yes": 1\n'),
    ({"no": 1}, '"no": 1\n'),
    ({"on": 1}, '"on": 1\n'),
    ({"off": 1}, '"off": 1\n'),
    ({"y": 1}, '"y": 1\n'),
    ({"n": 1}, '"n": 1\n'),
    ({"null": 1}, '"null": 1\n'),
    ({"~": 1}, '"~": 1\n'),
    ({"1": 1}, '"1": 1\n'),
    ({"-1": 1}, '"-1": 1\n'),
    ({"+1": 1}, '"+1": 1\n'),
    ({"1.5": 1}, '"1.5": 1\n'),
    ({"1e3": 1}, '"1e3": 1\n'),
    ({"0x1F": 1}, '"0x1F": 1\n'),
    ({"0o17": 1}, '"0o17": 1\n'),
    ({"017": 1}, '"017": 1\n'),
    ({"1_000": 1}, '"1_000": 1\n'),
    ({".inf": 1}, '".inf": 1\n'),
    ({"-.Inf": 1}, '"-.Inf": 1\n'),
    ({".nan": 1}, '".nan": 1\n'),
    ({"<<": 1}, "<<: 1\n"),
    ({"2024-01-01": 1}, '"2024-01-01": 1\n'),
    ({"2024-1-1": 1}, '"2024-1-1": 1\n'),
    ({"2024-01-01T10:00:00Z": 1}, '"2024-01-01T10:00:00Z": 1\n'),
    ({"2024-01-01 10:00:00": 1}, '"2024-01-01 10:00:00": 1\n'),
    ({"12:30": 1}, '"12:30": 1\n'),
    ({"1:20:30.5": 1}, '"1:20:30.5": 1\n'),
    ({"- x": 1}, "'- x': 1\n"),
    ({"-x": 1}, "-x: 1\n"),
    ({"-": 1}, "'-': 1\n"),
    ({"a: b": 1}, "'a: b': 1\n"),
    ({"a:b": 1}, "a:b: 1\n"),
    ({"a #b": 1}, "'a #b': 1\n"),
    ({"a#b": 1}, "a#b: 1\n"),
    ({"#a": 1}, "'#a': 1\n"),
    ({"*a": 1}, "'*a': 1\n"),
    ({"&a": 1}, "'&a': 1\n"),
    ({"!a": 1}, "'!a': 1\n"),
    ({"|a": 1}, "'|a': 1\n"),
    ({">a": 1}, "'>a': 1\n"),
    ({"'a": 1}, "'''a': 1\n"),
    ({'"a': 1}, "'\"a': 1\n"),
    ({"%a": 1}, "'%a': 1\n"),
    ({"@a": 1}, "'@a': 1\n"),
    ({"`a": 1}, "'`a': 1\n"),
    ({"[a]": 1}, "'[a]': 1\n"),
    ({"{a}": 1}, "'{a}': 1\n"),
    ({",a": 1}, "',a': 1\n"),
    ({"a,b": 1}, "a,b: 1\n"),
    ({"a[0]": 1}, "a[0]: 1\n"),
    ({"?a": 1}, "?a: 1\n"),
    ({"? a": 1}, "'? a': 1\n"),
    ({":a": 1}, ":a: 1\n"),
    ({": a": 1}, "': a': 1\n"),
    ({"a:": 1}, "'a:': 1\n"),
    ({" a": 1}, "' a': 1\n"),
    ({"a ": 1}, "'a ': 1\n"),
    ({"a\tb": 1}, '"a\\tb": 1\n'),
    ({"a\x01b": 1}, '"a\\x01b": 1\n'),
    ({"é ünïcode": 1}, "é ünïcode: 1\n"),
    ({"a\xa0b": 1}, "a\xa0b: 1\n"),
    ({"---": 1}, "'---': 1\n"),
    ({"--- a": 1}, "'--- a': 1\n"),
    ({"...": 1}, "'...': 1\n"),
    ({"---a": 1}, "'---a': 1\n"),
    (
        {
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": 1
        },
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: 1\n",
    ),
    ({"a 'q' b": 1}, "a 'q' b: 1\n"),
    ({'a "q" b': 1}, 'a "q" b: 1\n'),
    ({"a\\b": 1}, "a\\b: 1\n"),
    ({"0": 1}, '"0": 1\n'),
    ({"00": 1}, '"00": 1\n'),
    ({"0.0": 1}, '"0.0": 1\n'),
    ({".5": 1}, '".5": 1\n'),
    ({"5.": 1}, '"5.": 1\n'),
    ({"1e+06": 1}, '"1e+06": 1\n'),
    ({"NaN": 1}, "NaN: 1\n"),
    ({"Infinity": 1}, "Infinity: 1\n"),
    ({"=": 1}, "=: 1\n"),
    ({"<": 1}, "<: 1\n"),
    ({"f": 1.5}, "f: 1.5\n"),
    ({"f": 3.0}, "f: 3\n"),
    ({"f": 0.1}, "f: 0.1\n"),
    ({"f": 1234567.5}, "f: 1.2345675e+06\n"),
    ({"f": 123456.5}, "f: 123456.5\n"),
    ({"f": 1e-05}, "f: 1e-05\n"),
    ({"f": 0.0001}, "f: 0.0001\n"),
    ({"f": 1e21}, "f: 1e+21\n"),
    ({"f": 1e300}, "f: 1e+300\n"),
    ({"f": -2.5}, "f: -2.5\n"),
    ({"f": 1e-07}, "f: 1e-07\n"),
    ({"f": 2.5e-05}, "f: 2.5e-05\n"),
    ({"f": 100000.5}, "f: 100000.5\n"),
    ({"f": 1e20}, "f: 1e+20\n"),
    (
        {
            "a": {},
            "b": [],
            "c": [[]],
            "d": [{}],
            "e": None,
            "f": True,
            "g": [[1, [2, {"x": [3]}]], {"k": {"l": []}}],
            "h": [{"a": 1, "b": {"c": [1, 2]}}, [{"z": 1}]],
        },
        "a: {}\nb: []\nc:\n- []\nd:\n- {}\ne: null\nf: true\ng:\n- - 1\n  - - 2\n    - x:\n      - 3\n- k:\n    l: []\nh:\n- a: 1\n  b:\n    c:\n    - 1\n    - 2\n- - z: 1\n",
    ),
    (
        {
            "a": {
                "b": {
                    "c": "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word"
                }
            },
            "l": [
                "w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w",
                {
                    "k": "ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd"
                },
            ],
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": "y y y y y y y y y y y y y y y y y y y y ",
        },
        "a:\n  b:\n    c: word word word word word word word word word word word word word word word\n      word word word word word word word word word word word word word word word word\n      word word word word word word word word word\nl:\n- w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w\n  w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w\n  w w w w w w w w w w\n- k: ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd\n    ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd\n    ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd ab  cd\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: 'y y y y y\n  y y y y y y y y y y y y y y y '\n",
    ),
    (
        {"m": ["a\nb", {"x": "l1\nl2\n"}], "n": {"deep": {"text": "l1\n  l2\n"}}},
        'm:\n- |-\n  a\n  b\n- x: |\n    l1\n    l2\n"n":\n  deep:\n    text: |\n      l1\n        l2\n',
    ),
]


@pytest.mark.parametrize(("values", "want"), GO_YAML_ROWS)
def test_encode_sorted_matches_go_yaml(values: dict[str, Any], want: str) -> None:
    assert encode_sorted(values) == want


# (float, Go's strconv.FormatFloat(f, 'g', -1, 64) as go-yaml writes it)
FLOAT_ROWS = [
    (1.5, "1.5"),
    (0.1, "0.1"),
    (-2.5, "-2.5"),
    (1234567.5, "1.2345675e+06"),
    (123456.5, "123456.5"),
    (0.0001, "0.0001"),
    (0.00001, "1e-05"),
    (1e21, "1e+21"),
    (1e300, "1e+300"),
    (float("inf"), ".inf"),
    (float("-inf"), "-.inf"),
    (float("nan"), ".nan"),
]


@pytest.mark.parametrize(("value", "want"), FLOAT_ROWS)
def test_go_float(value: float, want: str) -> None:
    assert go_float(value) == want


POST_RENDERERS = [
    {
        "kustomize": {
            "patches": [
                {
                    "patch": "- op: add\n  path: /metadata/labels/x\n  value: <a&b>\n",
                    "target": {"kind": "Deployment", "labelSelector": "app=web"},
                },
                {"patch": "kind: ConfigMap", "target": {}},
            ],
            "images": [
                {"name": "nginx", "newTag": "1.27"},
                {"name": "redis", "newName": "mirror/redis", "digest": "sha256:abc"},
            ],
        }
    },
    {},
]
# encoding/json's bytes for POST_RENDERERS: Go field order, omitempty, <>& escaped, a newline.
POST_RENDERERS_JSON = (
    '[{"kustomize":{"patches":[{"patch":"- op: add\\n  path: /metadata/labels/x\\n  value: '
    '\\u003ca\\u0026b\\u003e\\n","target":{"kind":"Deployment","labelSelector":"app=web"}},'
    '{"patch":"kind: ConfigMap","target":{}}],"images":[{"name":"nginx","newTag":"1.27"},'
    '{"name":"redis","newName":"mirror/redis","digest":"sha256:abc"}]}},{}]\n'
)


def test_post_renderers_digest_is_flux_json_encoding() -> None:
    renderers = [PostRenderer.model_validate(r) for r in POST_RENDERERS]
    want = "sha256:1f796fb287902e4c961806a23e7010129a86c51227eceb936c850c18720a26fa"
    assert sha256_digest(POST_RENDERERS_JSON.encode()) == want
    assert post_renderers_digest(renderers) == want


def test_post_renderers_digest_none_is_empty() -> None:
    assert post_renderers_digest([]) == ""


# (spec.commonMetadata, digest by encoding/json) ; None means unset.
COMMON_METADATA_ROWS: list[tuple[dict[str, Any] | None, str]] = [
    (
        {"labels": {"team": "a", "env": "prod"}, "annotations": {"note": "é"}},
        "sha256:35c9b6d724a5fe0aac8c4fece4a3456db45cfa5a7cd0f66c3a30f7f430e6b5e2",
    ),
    (
        {"labels": {"b": "2", "a": "1"}},
        "sha256:3dd312c0bf8a7ee08bebf2f96cdea2084a01dca39613194320f8e7fe8c965b1c",
    ),
    ({}, "sha256:ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"),
    (None, ""),
]


@pytest.mark.parametrize(("spec", "want"), COMMON_METADATA_ROWS)
def test_common_metadata_digest(spec: dict[str, Any] | None, want: str) -> None:
    model = None if spec is None else CommonMetadata.model_validate(spec)
    assert common_metadata_digest(model) == want
