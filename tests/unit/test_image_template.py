"""Commit messages render as Flux renders them: its documented templates, its own tests' outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.image.gotemplate import (
    Template,
    TemplateExecError,
    TemplateParseError,
    UnsupportedTemplateError,
)
from services.image.setters import PolicyImage, SetterResult, apply_setters
from services.image.template import (
    DEFAULT_MESSAGE_TEMPLATE,
    CommitMessageError,
    RemovedTemplateFieldError,
    commit_message,
)

DIGEST = "sha256:6129bb944cada32b4662eafd13fd9904d34c77286bf2ec4523eaedb711757cb0"
HELLOWORLD = PolicyImage(namespace="test-ns", policy="policy1", name="helloworld", tag="1.0.1")
PODINFO = PolicyImage(
    namespace="flux-system", policy="podinfo", name="ghcr.io/stefanprodan/podinfo", tag="5.0.3"
)
APP = PolicyImage(
    namespace="flux-system", policy="app", name="ghcr.io/org/app", tag="2.0.0", digest=DIGEST
)


def updated(tmp_path: Path, files: dict[str, str], images: list[PolicyImage]) -> SetterResult:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return apply_setters(tmp_path, images)


# image-automation-controller's internal/source/testdata/appconfig/deploy.yaml, marked.
FLUX_DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: test
spec:
  template:
    spec:
      containers:
      - name: hello
        image: helloworld:1.0.0 # {"$imagepolicy": "test-ns:policy1"}
"""

PODINFO_FILES = {
    "deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: default
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:5.0.0 # {"$imagepolicy": "flux-system:podinfo"}
""",
    "release.yaml": """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: apps
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
      tag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
""",
}

# From image-automation-controller's internal/source/source_test.go (v0.41 and v1).
FLUX_UPDATED_TEMPLATE = """\
Commit summary

Automation: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Updated.Files -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $_ := .Updated.Objects -}}
{{ if eq $resource.Kind "Deployment" -}}
- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}
{{ else -}}
- {{ $resource.Kind }} {{ $resource.Name }}
{{ end -}}
{{ end -}}

Images:
{{ range .Updated.Images -}}
- {{.}} ({{.Policy.Name}})
{{ end -}}
"""
FLUX_RESULT_V2_TEMPLATE = """\
Commit summary with ResultV2

Automation: {{ .AutomationObject }}

{{ range $filename, $objchange := .Changed.FileChanges -}}
- File: {{ $filename }}
{{- range $obj, $changes := $objchange }}
  - Object: {{ $obj.Kind }}/{{ $obj.Namespace }}/{{ $obj.Name }}
    Changes:
{{- range $_ , $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
{{ end -}}
"""
FLUX_VALUES_TEMPLATE = """\
Commit summary

Automation: {{ .AutomationObject }}

Cluster: {{ index .Values "cluster" }}
Testing: {{ .Values.testing }}
"""
FLUX_IMAGE_RESULT_TEMPLATE = """\
Commit summary

Automation: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.ImageResult.Files -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $_ := .Changed.ImageResult.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
{{ end -}}

Images:
{{ range .Changed.ImageResult.Images -}}
- {{.}} ({{.Policy.Name}})
{{ end -}}
"""


def test_fluxs_updated_template_renders_as_in_fluxs_test(tmp_path: Path) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    message = commit_message(
        FLUX_UPDATED_TEMPLATE, result, namespace="test-ns", name="test-update", legacy=True
    )
    assert message == (
        "Commit summary\n\nAutomation: test-ns/test-update\n\nFiles:\n- deploy.yaml\n"
        "Objects:\n- deployment test\nImages:\n- helloworld:1.0.1 (policy1)\n"
    )


@pytest.mark.parametrize("legacy", [False, True])
def test_fluxs_result_v2_template_renders_as_in_fluxs_test(tmp_path: Path, legacy: bool) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    message = commit_message(
        FLUX_RESULT_V2_TEMPLATE, result, namespace="test-ns", name="test-update", legacy=legacy
    )
    assert message == (
        "Commit summary with ResultV2\n\nAutomation: test-ns/test-update\n\n"
        "- File: deploy.yaml\n  - Object: Deployment//test\n    Changes:\n"
        "    - helloworld:1.0.0 -> helloworld:1.0.1\n"
    )


def test_template_values_render_as_in_fluxs_test(tmp_path: Path) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    message = commit_message(
        FLUX_VALUES_TEMPLATE,
        result,
        namespace="test-ns",
        name="test-update",
        values={"cluster": "prod", "testing": "value"},
    )
    assert message == (
        "Commit summary\n\nAutomation: test-ns/test-update\n\nCluster: prod\nTesting: value\n"
    )


def test_an_empty_template_is_fluxs_default_message(tmp_path: Path) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    assert commit_message("", result, namespace="a", name="b") == DEFAULT_MESSAGE_TEMPLATE
    assert DEFAULT_MESSAGE_TEMPLATE == "Update from image update automation"


@pytest.mark.parametrize(
    ("template", "field"),
    [(FLUX_UPDATED_TEMPLATE, ".Updated"), (FLUX_IMAGE_RESULT_TEMPLATE, ".Changed.ImageResult")],
)
def test_a_v1_template_using_removed_fields_is_refused_as_flux_does(
    tmp_path: Path, template: str, field: str
) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    with pytest.raises(RemovedTemplateFieldError) as caught:
        commit_message(template, result, namespace="test-ns", name="test-update")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"template uses removed '{field}' field. Please use")


def test_image_result_renders_for_v1beta2_objects(tmp_path: Path) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    message = commit_message(
        FLUX_IMAGE_RESULT_TEMPLATE, result, namespace="test-ns", name="test-update", legacy=True
    )
    assert message == (
        "Commit summary\n\nAutomation: test-ns/test-update\n\nFiles:\n- deploy.yaml\n"
        "Objects:\n- Deployment test\nImages:\n- helloworld:1.0.1 (policy1)\n"
    )


# The templates of Flux's ImageUpdateAutomation documentation (v1, "Message Template").
DOCS_V1_TEMPLATE = """\
Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""
DOCS_V1_FUNCTIONS_TEMPLATE = """\
Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}
  Changes:
{{- range $_, $change := $changes }}
  {{ if contains "5.0.3" $change.NewValue -}}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
  {{ else -}}
    [skip ci] wrong image
  {{ end -}}
{{ end -}}
{{ end -}}
"""
# The v1beta1 documentation's ("Commit message template data").
DOCS_V1BETA1_TEMPLATE = """\
Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Updated.Files -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $_ := .Updated.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
{{ end -}}

Images:
{{ range .Updated.Images -}}
- {{.}}
{{ end -}}
"""
DOCS_V1BETA1_FUNCTIONS_TEMPLATE = """\
Images:
{{ range $image, $_ := .Updated.Images -}}
\t{{ if contains "1.0.0" $image -}}
\t\t- {{ $image }}
\t{{ else -}}
\t\t[skip ci] wrong image
\t{{ end -}}
{{ end -}}
"""
SHA_CHANGE = "ghcr.io/stefanprodan/podinfo:5.0.0 -> ghcr.io/stefanprodan/podinfo:5.0.3"
HEAD = "Automated image update\n\nAutomation name: flux-system/podinfo-update\n\n"
FILES = "Files:\n- deployment.yaml\n- release.yaml\n"

DOCUMENTED = [
    pytest.param(
        DOCS_V1_TEMPLATE,
        False,
        HEAD + FILES + "Objects:\n"
        f"- Deployment podinfo\n  Changes:\n    - {SHA_CHANGE}\n"
        "- HelmRelease podinfo\n  Changes:\n    - 5.0.0 -> 5.0.3\n",
        id="v1 docs",
    ),
    pytest.param(
        DOCS_V1_FUNCTIONS_TEMPLATE,
        False,
        HEAD + FILES + "Objects:\n"
        f"- deployment podinfo\n  Changes:\n  - {SHA_CHANGE}\n"
        "  - helmrelease podinfo\n  Changes:\n  - 5.0.0 -> 5.0.3\n  ",
        id="v1 docs with functions",
    ),
    pytest.param(
        DOCS_V1BETA1_TEMPLATE,
        True,
        HEAD + FILES + "Objects:\n- Deployment podinfo\n- HelmRelease podinfo\n"
        "Images:\n- ghcr.io/stefanprodan/podinfo:5.0.3\n",
        id="v1beta1 docs",
    ),
]


@pytest.mark.parametrize(("template", "legacy", "expected"), DOCUMENTED)
def test_documented_templates_render_as_go_renders_them(
    tmp_path: Path, template: str, legacy: bool, expected: str
) -> None:
    result = updated(tmp_path, PODINFO_FILES, [PODINFO])
    message = commit_message(
        template, result, namespace="flux-system", name="podinfo-update", legacy=legacy
    )
    assert message == expected


def test_the_v1beta1_functions_example_fails_as_in_go_its_image_is_an_index(
    tmp_path: Path,
) -> None:
    result = updated(tmp_path, PODINFO_FILES, [PODINFO])
    with pytest.raises(CommitMessageError) as caught:
        commit_message(
            DOCS_V1BETA1_FUNCTIONS_TEMPLATE, result, namespace="a", name="b", legacy=True
        )
    assert str(caught.value) == (
        "failed to run template from spec: template: commit message:3:24: "
        'executing "commit message" at <$image>: wrong type for value; expected string; got int'
    )


def test_println_of_each_image_prints_one_reference_a_line(tmp_path: Path) -> None:
    files = {
        **PODINFO_FILES,
        "z-app.yaml": 'image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}\n',
    }
    result = updated(tmp_path, files, [PODINFO, APP])
    message = commit_message(
        "{{range .Updated.Images}}{{println .}}{{end}}",
        result,
        namespace="a",
        name="b",
        legacy=True,
    )
    assert message == f"ghcr.io/stefanprodan/podinfo:5.0.3\nghcr.io/org/app:2.0.0@{DIGEST}\n"


def test_images_expose_go_containerregistrys_parts(tmp_path: Path) -> None:
    files = {
        "deploy.yaml": FLUX_DEPLOY,
        "app.yaml": 'image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}\n',
    }
    result = updated(tmp_path, files, [HELLOWORLD, APP])
    template = (
        "{{ range .Updated.Images }}{{ .Registry }}|{{ .Repository }}|{{ .Identifier }}|"
        "{{ .Name }}|{{ .Policy }}|{{ .String }}\n{{ end }}"
    )
    assert commit_message(template, result, namespace="a", name="b", legacy=True) == (
        f"ghcr.io|org/app|{DIGEST}|ghcr.io/org/app@{DIGEST}|flux-system/app|"
        f"ghcr.io/org/app:2.0.0@{DIGEST}\n"
        "index.docker.io|library/helloworld|1.0.1|index.docker.io/library/helloworld:1.0.1|"
        "test-ns/policy1|helloworld:1.0.1\n"
    )


def test_changes_and_objects_aggregate_across_files(tmp_path: Path) -> None:
    base = FLUX_DEPLOY.replace("name: hello\n", "name: hello\n        replicas: x\n")
    files = {"base/deploy.yaml": FLUX_DEPLOY, "overlays/prod/deploy.yaml": base}
    result = updated(tmp_path, files, [HELLOWORLD])
    template = (
        "{{ range $o, $c := .Changed.Objects }}{{ $o.Kind }}/{{ $o.Name }}: {{ len $c }}{{ end }}\n"
        "{{ len .Changed.Changes }} {{ .Changed.Changes }}\n{{ .Changed.Objects }}"
    )
    assert commit_message(template, result, namespace="a", name="b") == (
        "Deployment/test: 2\n"
        "1 [{helloworld:1.0.0 helloworld:1.0.1 test-ns:policy1}]\n"
        "map[{{{apps/v1 Deployment} {test }}}:[{helloworld:1.0.0 helloworld:1.0.1 test-ns:policy1} "
        "{helloworld:1.0.0 helloworld:1.0.1 test-ns:policy1}]]"
    )


def test_the_whole_data_prints_like_gos_fmt(tmp_path: Path) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    message = commit_message("{{ . }}", result, namespace="ns", name="auto", values={"k": "v"})
    assert message == (
        "{ns/auto {map[deploy.yaml:map[{{{apps/v1 Deployment} {test }}}:"
        "[{helloworld:1.0.0 helloworld:1.0.1 test-ns:policy1}]]]} map[k:v]}"
    )


DATA: dict[str, Any] = {
    "X": "b",
    "N": 3,
    "L": ["a", "b", "c", "d"],
    "M": {"k": "v", "a": "z"},
    "Empty": [],
    "Values": {"env": "prod"},
}

RENDERS = [
    ("a  {{- .X -}}  \n b", "abb"),
    ("{{/* a comment */}}x{{- /* trimmed */ -}}  y", "xy"),
    ('{{ if eq .X "a" }}A{{ else if eq .X "b" }}B{{ else }}C{{ end }}', "B"),
    ("{{ if .Empty }}full{{ else }}empty{{ end }}", "empty"),
    ("{{ with .M.k }}[{{ . }}]{{ end }}{{ with .M.none }}x{{ else }}none{{ end }}", "[v]none"),
    ("{{ range .L }}{{ . }}{{ end }}", "abcd"),
    ("{{ range $i, $e := .L }}{{ $i }}{{ $e }},{{ end }}", "0a,1b,2c,3d,"),
    ("{{ range $k, $v := .M }}{{ $k }}={{ $v }};{{ end }}", "a=z;k=v;"),
    ("{{ range .Missing }}x{{ else }}nothing{{ end }}", "nothing"),
    ("{{ range .N }}{{ . }}{{ end }}", "012"),
    (
        "{{ range $i, $e := .L }}{{ if eq $i 1 }}{{ continue }}{{ end }}"
        "{{ if eq $i 3 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
        "ac",
    ),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}", "2"),
    ("{{ range .L }}{{ $.X }}{{ end }}", "bbbb"),
    ("{{ .M.k }}|{{ .M.missing }}|{{ .Values.env }}", "v|<no value>|prod"),
    ('{{ print 1 2 "x" 3 }}|{{ println "a" 1 }}|', "1 2x3|a 1\n|"),
    (
        '{{ printf "%05d|%-3s|%q|%v|%x|%5.1f" 42 "ab" "q\\"" .L 255 3.14159 }}',
        '00042|ab |"q\\""|[a b c d]|ff|  3.1',
    ),
    ('{{ printf "%d-%s" "a" }}|{{ 3 | printf "%s %d" "a" }}', "%!d(string=a)-%!s(MISSING)|a 3"),
    (
        "{{ 1.5 }} {{ 1e6 }} {{ 0x10 }} {{ 'a' }} {{ true }} {{ print nil }}",
        "1.5 1e+06 16 97 true <nil>",
    ),
    ('{{ len "héllo" }} {{ len .L }} {{ index .L 2 }} {{ index .M "k" }}', "6 4 c v"),
    ('{{ and 1 0 2 }} {{ or 0 "" "x" }} {{ not .Empty }}', "0 x true"),
    ('{{ eq .N 1 2 3 }} {{ ne .X "b" }} {{ lt 1 2 }} {{ ge 1.5 2.5 }}', "true false true false"),
    ('{{ .X | upper | printf "%s!" }} {{ "  pad " | trim }} {{ lower "ABC" }}', "B! pad abc"),
    (
        '{{ replace "-" "_" "a-b-c" }} {{ trimPrefix "v" "v1.0" }} {{ trimSuffix ".0" "1.0" }}',
        "a_b_c 1.0 1",
    ),
    (
        '{{ hasPrefix "ghcr" "ghcr.io/x" }} {{ contains "io" "ghcr.io" }} {{ trunc 3 "abcdef" }}',
        "true true abc",
    ),
    (
        '{{ default "dev" .Values.cluster }} {{ default "dev" .Values.env }} {{ empty .Empty }}',
        "dev prod true",
    ),
    (
        '{{ join ", " (list "a" "b" 1) }} {{ quote "a" }} {{ squote "b" }} {{ .L | join "+" }}',
        "a, b, 1 \"a\" 'b' a+b+c+d",
    ),
    (
        '{{ title "hello world" }} {{ repeat 3 "ab" }} {{ substr 1 3 "abcd" }} '
        '{{ nospace "a b c" }}',
        "Hello World ababab bc abc",
    ),
    (
        '{{ "a.b" | splitList "." | last }} {{ sortAlpha (list "b" "a") }} {{ has "c" .L }}',
        "b [a b] true",
    ),
    ('{{ regexMatch "^v[0-9]+$" "v12" }} {{ sha256sum "x" | trunc 8 }}', "true 2d711642"),
    ('{{ ternary "yes" "no" true }} {{ coalesce "" .Values.env }} {{ toString 5 }}', "yes prod 5"),
    ('{{ "\\x41\\u00e9\\t" }}{{ `raw\\n` }}', "A\u00e9\traw\\n"),
    ("{{ (.M).k }} {{ (index .L 1) }}", "v b"),
    ("{{ and .M.none 1 }}|{{ or .M.none 0 }}|{{ not .M.none }}", "<no value>|0|true"),
    (
        '{{ eq .Values.missing "x" }} {{ eq nil 1 }} {{ le 2 2 }} {{ gt "b" "a" }}',
        "false false true true",
    ),
    ("{{ with .X }}{{ . }}{{ else with .M }}m{{ end }}", "b"),
    ('{{ default 5 0 }} {{ default "" "x" }} {{ empty 0 }} {{ empty .M }}', "5 x true false"),
    (
        '{{ printf "%6.2f|%-6d|%+d|%e|%g" 3.14159 42 5 1234.5678 0.000012 }}',
        "  3.14|42    |+5|1.234568e+03|1.2e-05",
    ),
    ('{{ printf "%t %q %x %X %c" true 65 "hi" 255 65 }}', "true 'A' 6869 FF A"),
    (
        '{{ printf "%s %d" .M.none nil }}|{{ printf "x" 1 "a" }}',
        "%!s(<nil>) %!d(<nil>)|x%!(EXTRA int=1, string=a)",
    ),
    ('{{ print "a" "b" 1 2 "c" nil }}|{{ println }}|', "ab1 2c<nil>|\n|"),
    (
        "{{ 010 }} {{ 1_000 }} {{ -3 }} {{ +4 }} {{ 0b101 }} {{ 0o17 }} {{ 1.0 }} {{ 2e3 }}",
        "8 1000 -3 4 5 15 1 2000",
    ),
    ('{{ printf "%v %+v" .Values .M }}', "map[env:prod] map[a:z k:v]"),
    (
        '{{ .L | len | printf "%03d" }} {{ index .L 1 | upper }} {{ "x" | printf "%s-%s" "y" }}',
        "004 B y-x",
    ),
]


@pytest.mark.parametrize(("text", "expected"), RENDERS)
def test_go_template_semantics(text: str, expected: str) -> None:
    assert Template.parse(text, name="t").render(DATA) == expected


PARSE_ERRORS = [
    ("{{ unknown .X }}", UnsupportedTemplateError, 'template: t:1: function "unknown" not defined'),
    (
        '{{ define "x" }}{{ end }}',
        UnsupportedTemplateError,
        "template: t:1: {{define}} is not supported here",
    ),
    (
        'a\n{{ template "x" }}',
        UnsupportedTemplateError,
        "template: t:2: {{template}} is not supported here",
    ),
    ("{{ .X ", TemplateParseError, "template: t:1: unclosed action"),
    ("{{ if .X }}x", TemplateParseError, "template: t:1: unexpected EOF"),
    ("{{ end }}", TemplateParseError, "template: t:1: unexpected {{end}}"),
    ("{{ $nope }}", TemplateParseError, 'template: t:1: undefined variable "$nope"'),
    ("{{ break }}", TemplateParseError, "template: t:1: {{break}} outside {{range}}"),
    (
        '{{ .X | "a" }}',
        TemplateParseError,
        "template: t:1: non executable command in pipeline stage 2",
    ),
]


@pytest.mark.parametrize(("text", "kind", "message"), PARSE_ERRORS)
def test_templates_outside_the_subset_or_invalid_fail_to_parse_naming_the_line(
    text: str, kind: type[Exception], message: str
) -> None:
    with pytest.raises(kind) as caught:
        Template.parse(text, name="t")
    assert str(caught.value) == message


# Each message is what Go 1.26's text/template + Sprig v3.3 print for the same data.
EXEC_ERRORS = [
    (
        "x\n  {{ lower .N }}",
        'template: t:2:11: executing "t" at <.N>: wrong type for value; expected string; got int',
    ),
    (
        "{{ lower .M.none }}",
        'template: t:1:11: executing "t" at <.M.none>: invalid value; expected string',
    ),
    (
        '{{ eq .N "a" }}',
        'template: t:1:3: executing "t" at <eq .N "a">: '
        "error calling eq: incompatible types for comparison: int and string",
    ),
    (
        "{{ eq .L .L }}",
        'template: t:1:3: executing "t" at <eq .L .L>: '
        "error calling eq: non-comparable type [a b c d]: []interface {}",
    ),
    (
        "{{ lt true false }}",
        'template: t:1:3: executing "t" at <lt true false>: '
        "error calling lt: invalid type for comparison",
    ),
    (
        "{{ index .L 9 }}",
        'template: t:1:3: executing "t" at <index .L 9>: '
        "error calling index: index out of range: 9",
    ),
    (
        "{{ index .M 1 }}",
        'template: t:1:3: executing "t" at <index .M 1>: '
        "error calling index: value has type int; should be string",
    ),
    ("{{ 1 2 }}", 'template: t:1:3: executing "t" at <1>: can\'t give argument to non-function 1'),
    (
        "{{ range .X }}{{ end }}",
        'template: t:1:9: executing "t" at <.X>: range can\'t iterate over b',
    ),
]


@pytest.mark.parametrize(("text", "message"), EXEC_ERRORS)
def test_run_time_errors_are_worded_as_go_words_them(text: str, message: str) -> None:
    data = dict(DATA)
    with pytest.raises(TemplateExecError) as caught:
        Template.parse(text, name="t").render(data)
    assert str(caught.value) == message


def test_errors_on_fluxs_data_name_its_go_types(tmp_path: Path) -> None:
    result = updated(tmp_path, {"deploy.yaml": FLUX_DEPLOY}, [HELLOWORLD])
    with pytest.raises(CommitMessageError) as caught:
        commit_message("{{ .AutomationObject.Nope }}", result, namespace="a", name="b")
    assert str(caught.value) == (
        "failed to run template from spec: template: commit message:1:20: "
        'executing "commit message" at <.AutomationObject.Nope>: '
        "can't evaluate field Nope in type types.NamespacedName"
    )
    with pytest.raises(CommitMessageError) as caught:
        commit_message("{{ nope }}", result, namespace="a", name="b")
    assert str(caught.value) == (
        "unable to create commit message template from spec: "
        'template: commit message:1: function "nope" not defined'
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{{ range 100000 }}{{ repeat 100 "x" }}{{ end }}', "output over 1048576 characters"),
        ('{{ repeat 100000000 "x" }}', "error calling repeat: result over 1048576 characters"),
        ("{{ range 1000000000 }}{{ end }}", "over 1000000 evaluation steps"),
    ],
)
def test_a_template_cannot_make_a_worker_build_or_loop_without_bound(text: str, error: str) -> None:
    with pytest.raises(TemplateExecError, match=error):
        Template.parse(text, name="t").render({})
