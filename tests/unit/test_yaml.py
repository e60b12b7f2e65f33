"""The one YAML loader and dumper: Kubernetes' reading of YAML, and refusals of hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from shared import yaml
from shared.jsondoc import load_json
from shared.yaml import MAX_ALIAS_NODES, MAX_DEPTH, DocumentError


def nested_maps(levels: int) -> str:
    return "".join("  " * i + "a:\n" for i in range(levels - 1)) + "  " * (levels - 1) + "a: 1\n"


def alias_bomb(width: int, levels: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Dates and times stay strings, as after Kubernetes' YAML to JSON step.
        ("day: 2024-01-01\n", [{"day": "2024-01-01"}]),
        ("at: 2001-12-14t21:59:43.10-05:00\n", [{"at": "2001-12-14t21:59:43.10-05:00"}]),
        ("day: !!timestamp 2024-01-01\n", [{"day": "2024-01-01"}]),
        # YAML 1.1 scalars otherwise, as kubectl reads them.
        (
            "n: 1\nf: 1.5\nb: true\ny: yes\nz: ~\ns: '1'\n",
            [{"n": 1, "f": 1.5, "b": True, "y": True, "z": None, "s": "1"}],
        ),
        # Keys are JSON strings.
        ("1: a\ntrue: b\n~: c\n", [{"1": "a", "true": "b", "null": "c"}]),
        # Anchors, aliases and merge keys; the mapping's own key overrides a merged one.
        ("a: &x {k: v}\nb: *x\n", [{"a": {"k": "v"}, "b": {"k": "v"}}]),
        # An anchor defined again names the newest node, as in YAML 1.2 and Kubernetes.
        ("a: &x 1\nb: *x\nc: &x 2\nd: *x\n", [{"a": 1, "b": 1, "c": 2, "d": 2}]),
        (
            "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n",
            [{"base": {"x": 1, "y": 2}, "d": {"x": 3, "y": 2}}],
        ),
        # Several documents; empty ones (bare ---, comments only) are skipped.
        ("a: 1\n---\nb: 2\n", [{"a": 1}, {"b": 2}]),
        ("---\n---\n# only a comment\n---\na: 1\n---\n", [{"a": 1}]),
        ("", []),
        # Bytes are read as UTF-8, a byte-order mark dropped.
        (b"\xef\xbb\xbfname: caf\xc3\xa9\n", [{"name": "café"}]),
    ],
)
def test_documents_read_as_kubernetes_reads_them(text: str | bytes, expected: list[Any]) -> None:
    assert yaml.load_all(text, source="in.yaml") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", 'document 1: invalid YAML at line 3, column 1: duplicate key "a"'),
        ("a: 1\n---\nkind: A\nkind: B\n", "document 2: invalid YAML at line 4, column 1"),
        ("1: a\n'1': b\n", 'duplicate key "1"'),
        ("a: 1\n---\nb: [1, 2\nc: 3\n", "document 2: invalid YAML at line 4, column 2"),
        ("a: *nowhere\n", "found undefined alias"),
        ("a: !!binary aGk=\n", "the tag !!binary has no JSON form"),
        ("a: !!set {x}\n", "the tag !!set has no JSON form"),
        ("? [a]\n: b\n", "a mapping key must be a string or a number"),
        ("a: &a [*a]\n", "an alias contains its own anchor at line 1"),
        (b"a: \xff\n", "in.yaml: not UTF-8 text (byte 3)"),
        (nested_maps(10_000), f"document 1: nested too deeply (more than {MAX_DEPTH} levels)"),
        # libyaml's own composer would end the process here (a segmentation fault).
        ("[" * 1_000_000 + "]" * 1_000_000, f"(more than {MAX_DEPTH} levels) at line 1"),
        # 61 levels as written, 111 once b's alias is expanded.
        ("a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 50 + "*a" + "]" * 50, "once aliases"),
        (alias_bomb(10, 9), f"aliases expand the document by more than {MAX_ALIAS_NODES} nodes"),
    ],
)
def test_bad_and_hostile_documents_get_one_clear_error(text: str | bytes, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        yaml.load_all(text, source="in.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("in.yaml: ")


def test_depth_is_counted_in_collections_and_the_limit_itself_is_allowed() -> None:
    [doc] = yaml.load_all(nested_maps(MAX_DEPTH), source="in.yaml")
    for _ in range(MAX_DEPTH - 1):
        doc = doc["a"]
    assert doc == {"a": 1}
    with pytest.raises(DocumentError, match="nested too deeply"):
        yaml.load_all(nested_maps(MAX_DEPTH + 1), source="in.yaml")


def test_a_modest_use_of_aliases_is_fine_and_every_alias_is_its_own_copy() -> None:
    [doc] = yaml.load_all(alias_bomb(10, 4), source="in.yaml")
    assert len(doc["l3"]) == 10
    assert doc["l3"][0] == doc["l3"][1]
    assert doc["l3"][0] is not doc["l3"][1]


def test_documents_before_a_bad_one_are_still_read() -> None:
    read = []
    with pytest.raises(DocumentError) as caught:
        for doc in yaml.iter_documents("a: 1\n---\nb: 2\n---\nc: [\n", source="in.yaml"):
            read.append(doc)
    assert read == [{"a": 1}, {"b": 2}]
    assert caught.value.index == 2


def test_load_reads_exactly_one_document() -> None:
    assert yaml.load("a: 1\n", source="kubeconfig") == {"a": 1}
    assert yaml.load("# nothing\n", source="kubeconfig") is None
    with pytest.raises(DocumentError, match="expected a single YAML document"):
        yaml.load("a: 1\n---\nb: 2\n", source="kubeconfig")


def test_errors_never_quote_the_text() -> None:
    with pytest.raises(DocumentError) as caught:
        yaml.load("token: s3cr3t-value\n  bad: [\n", source="kubeconfig")
    assert "s3cr3t" not in str(caught.value)


def test_dump_writes_block_yaml_that_reads_back_the_same() -> None:
    doc = {"day": "2024-01-01", "yes": "yes", "n": "1", "name": "café", "long": "x " * 300}
    text = yaml.dump(doc)
    assert "day: '2024-01-01'" in text  # quoted: another YAML reader would see a date
    assert "name: café" in text
    assert len(text.splitlines()) == len(doc)  # never folded
    assert yaml.load_all(text, source="out") == [doc]
    assert yaml.dump({"b": 1, "a": 2}, sort_keys=True) == "a: 2\nb: 1\n"
    assert yaml.load_all(yaml.dump_all([{"a": 1}, {"b": 2}]), source="out") == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"kind": ', "bad.json: document 1: invalid JSON at line 1, column 10"),
        ('{"a": 1, "a": 2}', 'invalid JSON: duplicate key "a"'),
        ("[" * 10_000 + "]" * 10_000, f"nested too deeply (more than {MAX_DEPTH} levels)"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested too deeply"),
        (b'{"a": "\xff"}', "not UTF-8 text"),
    ],
)
def test_json_follows_the_same_rules(text: str | bytes, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load_json(text, source="bad.json")
    assert message in str(caught.value)


def test_json_at_the_depth_limit_is_read() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    value = load_json(text, source="ok.json")
    assert isinstance(value, list)
    assert load_json(b'{"a": [1, {"b": null}]}', source="ok.json") == {"a": [1, {"b": None}]}
