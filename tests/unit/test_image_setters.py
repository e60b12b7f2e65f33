"""Flux's setter markers rewrite exactly the marked values and keep every other byte of the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.image.markers import ObjectId, UnreadableYAML, marker_setter, rewrite_text
from services.image.setters import (
    PolicyImage,
    SetterPathError,
    SetterResult,
    apply_setters,
    setter_values,
)
from shared.api.imagepolicy import ImagePolicy

DIGEST = "sha256:6129bb944cada32b4662eafd13fd9904d34c77286bf2ec4523eaedb711757cb0"
APP = PolicyImage(
    namespace="flux-system", policy="my-policy", name="ghcr.io/my-org/my-app", tag="4.0.7"
)
APP_DIGEST = PolicyImage(
    namespace="flux-system",
    policy="my-policy",
    name="ghcr.io/my-org/my-app",
    tag="4.0.7",
    digest=DIGEST,
)
PODINFO = PolicyImage(
    namespace="flux-system", policy="podinfo", name="ghcr.io/stefanprodan/podinfo", tag="5.0.3"
)


def values(*images: PolicyImage) -> dict[str, str]:
    return {name: value for name, (value, _) in setter_values(images).items()}


DEPLOYMENT_BEFORE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app
  namespace: default
spec:
  template:
    spec:
      containers:
        - name: my-app
          image: ghcr.io/my-org/my-app:4.0.6 # {"$imagepolicy": "flux-system:my-policy"}
"""
DEPLOYMENT_AFTER = DEPLOYMENT_BEFORE.replace("my-app:4.0.6", "my-app:4.0.7")

HELMRELEASE_BEFORE = f"""\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: my-app
  namespace: default
spec:
  values:
    image:
      repository: ghcr.io/my-org/old-app # {{"$imagepolicy": "flux-system:my-policy:name"}}
      tag: 4.0.6 # {{"$imagepolicy": "flux-system:my-policy:tag"}}
      digest: sha256:{"0" * 64} # {{"$imagepolicy": "flux-system:my-policy:digest"}}
"""
HELMRELEASE_AFTER = f"""\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: my-app
  namespace: default
spec:
  values:
    image:
      repository: ghcr.io/my-org/my-app # {{"$imagepolicy": "flux-system:my-policy:name"}}
      tag: 4.0.7 # {{"$imagepolicy": "flux-system:my-policy:tag"}}
      digest: {DIGEST} # {{"$imagepolicy": "flux-system:my-policy:digest"}}
"""

KUSTOMIZATION_BEFORE = """\
# images pinned by automation
resources:
  - deployment.yaml
images:
  - name: podinfo
    newName: ghcr.io/stefanprodan/podinfo   # {"$imagepolicy": "flux-system:podinfo:name"}
    newTag:   "5.0.0"    # {"$imagepolicy": "flux-system:podinfo:tag"}
  - name: other
    newTag: 1.0.0 # not a marker
"""
KUSTOMIZATION_AFTER = KUSTOMIZATION_BEFORE.replace('"5.0.0"', '"5.0.3"')

REWRITES = [
    pytest.param(DEPLOYMENT_BEFORE, DEPLOYMENT_AFTER, [APP], id="deployment full ref"),
    pytest.param(
        HELMRELEASE_BEFORE, HELMRELEASE_AFTER, [APP_DIGEST], id="helmrelease name/tag/digest"
    ),
    pytest.param(KUSTOMIZATION_BEFORE, KUSTOMIZATION_AFTER, [PODINFO], id="kustomization images"),
    pytest.param(
        'image: \'ghcr.io/my-org/my-app:4.0.6\'  # {"$imagepolicy": "flux-system:my-policy"}\n',
        'image: \'ghcr.io/my-org/my-app:4.0.7\'  # {"$imagepolicy": "flux-system:my-policy"}\n',
        [APP],
        id="single quotes kept",
    ),
    pytest.param(
        'x:\n    image: "a:1"\t# {"$imagepolicy": "flux-system:my-policy"}\n',
        'x:\n    image: "ghcr.io/my-org/my-app:4.0.7@' + DIGEST + '"\t'
        '# {"$imagepolicy": "flux-system:my-policy"}\n',
        [APP_DIGEST],
        id="double quotes kept, digest appended to the full ref",
    ),
    pytest.param(
        'tag: 4.0.6 # {"$imagepolicy": "flux-system:my-policy:tag"}\n',
        'tag: "1.10" # {"$imagepolicy": "flux-system:my-policy:tag"}\n',
        [PolicyImage(namespace="flux-system", policy="my-policy", name="a", tag="1.10")],
        id="a plain tag YAML 1.1 reads as a number is double-quoted",
    ),
    pytest.param(
        'tag: 4.0.6 # {"$imagepolicy": "flux-system:my-policy:tag"}\n',
        'tag: "on" # {"$imagepolicy": "flux-system:my-policy:tag"}\n',
        [PolicyImage(namespace="flux-system", policy="my-policy", name="a", tag="on")],
        id="a plain tag YAML 1.1 reads as a bool is double-quoted",
    ),
    pytest.param(
        'digest: sha256:abc # {"$imagepolicy": "flux-system:my-policy:digest"}\n',
        'digest: "" # {"$imagepolicy": "flux-system:my-policy:digest"}\n',
        [APP],
        id="digest setter without a reflected digest writes an empty string",
    ),
    pytest.param(
        'a: 1\r\nimage: x:1 # {"$imagepolicy": "flux-system:my-policy"}\r\nb: 2\r\n',
        'a: 1\r\nimage: ghcr.io/my-org/my-app:4.0.7 # {"$imagepolicy": "flux-system:my-policy"}'
        "\r\nb: 2\r\n",
        [APP],
        id="CRLF line ends kept",
    ),
    pytest.param(
        "---\n# first\nkind: A\n---\n\n---\nlist:\n"
        '- x:1 # {"$imagepolicy": "flux-system:my-policy"}\n'
        "- x:1   # other\n...\n",
        "---\n# first\nkind: A\n---\n\n---\nlist:\n- ghcr.io/my-org/my-app:4.0.7 "
        '# {"$imagepolicy": "flux-system:my-policy"}\n- x:1   # other\n...\n',
        [APP],
        id="multi-document, empty document, sequence item",
    ),
    pytest.param(
        'image: &img x:1 # {"$imagepolicy": "flux-system:my-policy"}\nother: *img\n',
        'image: &img ghcr.io/my-org/my-app:4.0.7 # {"$imagepolicy": "flux-system:my-policy"}\n'
        "other: *img\n",
        [APP],
        id="anchor kept, alias not set",
    ),
    pytest.param(
        'image: x:1 # {"$ref": "#/definitions/io.k8s.cli.setters.flux-system:my-policy"}\n'
        '# "$imagepolicy"\n',
        'image: ghcr.io/my-org/my-app:4.0.7 # {"$ref": "#/definitions/io.k8s.cli.setters.'
        'flux-system:my-policy"}\n# "$imagepolicy"\n',
        [APP],
        id="kyaml long form $ref",
    ),
]


M = '# {"$imagepolicy": "flux-system:my-policy"}'
NEW = "ghcr.io/my-org/my-app:4.0.7"
HEAD_COMMENTS = [
    pytest.param(f"list:\n  {M}\n  - x:1\n", f"list:\n  {M}\n  - {NEW}\n", id="above an item"),
    pytest.param(
        f"list:\n  - a\n  {M}\n  - x:1\n", f"list:\n  - a\n  {M}\n  - {NEW}\n", id="between items"
    ),
    pytest.param(f"list:\n  - {M}\n    x:1\n", f"list:\n  - {M}\n    {NEW}\n", id="after a dash"),
    pytest.param(f"a:\n  {M}\n  x:1\n", f"a:\n  {M}\n  {NEW}\n", id="above a value"),
    pytest.param(f"l: [\n  {M}\n  x:1]\n", f"l: [\n  {M}\n  '{NEW}']\n", id="in a flow sequence"),
    pytest.param(f"list:\n  # one\n  {M}\n  - x:1\n", None, id="two comment lines"),
    pytest.param(f"list:\n  - a: 1\n    {M}\n  - x:1\n", None, id="inside the item before"),
    pytest.param(f"list:\n  - a\n  {M}\n\n  - x:1\n", None, id="blank line after it"),
    pytest.param(f"a:\n  {M}\n  b: x:1\n", None, id="above a key"),
    pytest.param(f"{M}\na: x:1\n", None, id="above a key and value"),
    pytest.param(f"list:\n  {M}\n  - x:1 # other\n", None, id="a line comment wins"),
    pytest.param(f"list:\n  {M}\n  - - x:1\n", None, id="above a nested sequence"),
]


@pytest.mark.parametrize(("before", "after"), HEAD_COMMENTS)
def test_a_head_comment_marks_a_value_where_kyaml_reads_one(before: str, after: str | None) -> None:
    assert rewrite_text(before, values(APP)).text == (after or before)


@pytest.mark.parametrize(
    ("tag", "written"),
    [
        ("2024-01-01", '"2024-01-01"'),
        ("1e3", '"1e3"'),
        ("0x1F", '"0x1F"'),
        ("07", '"07"'),
        ("y", '"y"'),
        ("1:20", "1:20"),
        ("1.0.0", "1.0.0"),
        ("<<", "<<"),
        ("x: ", '"x: "'),
        ("x:", '"x:"'),
        ("- x", '"- x"'),
        ("@x", "'@x'"),
        ("[x", "'[x'"),
        ("a #b", "'a #b'"),
        ("a,b", "a,b"),
    ],
)
def test_a_plain_tag_is_quoted_exactly_as_kyaml_writes_it(tag: str, written: str) -> None:
    image = PolicyImage(namespace="flux-system", policy="my-policy", name="n", tag=tag)
    marker = '# {"$imagepolicy": "flux-system:my-policy:tag"}'
    rewrite = rewrite_text(f"tag: v0 {marker}\n", values(image))
    assert rewrite.text == f"tag: {written} {marker}\n"


@pytest.mark.parametrize(("before", "after", "images"), REWRITES)
def test_marked_values_are_rewritten_byte_for_byte(
    before: str, after: str, images: list[PolicyImage]
) -> None:
    assert rewrite_text(before, values(*images)).text == after


UNTOUCHED = [
    pytest.param('image: x:1 # {"$imagepolicy": "flux-system:unknown"}\n', id="unknown policy"),
    pytest.param('image: x:1 # {"$imagepolicy": "flux-system:my-policy"} !\n', id="not JSON"),
    pytest.param(
        'image: x:1 # {"$imagepolicy": "flux-system:my-policy", "n": 1}\n', id="non-string"
    ),
    pytest.param(
        'image: x:1 # {"$imagepolicy": "flux-system:my-policy:size"}\n', id="unknown field"
    ),
    pytest.param('image: x:1 # ["$imagepolicy"]\n', id="JSON not an object"),
    pytest.param('image: # {"$imagepolicy": "flux-system:my-policy"}\n  x:1\n', id="on the key"),
    pytest.param('image: x:1#{"$imagepolicy":"flux-system:my-policy"}\n', id="no blank before #"),
    pytest.param('i: [x:1] # {"$imagepolicy": "flux-system:my-policy"}\n', id="flow sequence"),
    pytest.param('i: |\n  x:1 # {"$imagepolicy": "flux-system:my-policy"}\n', id="in a block"),
    pytest.param(
        'image: ghcr.io/my-org/my-app:4.0.7 # {"$imagepolicy": "flux-system:my-policy"}\n',
        id="already up to date",
    ),
]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_values_not_marked_for_a_known_setter_are_left_alone(text: str) -> None:
    rewrite = rewrite_text(text, values(APP))
    assert rewrite.text == text
    assert rewrite.edits == ()


def test_marker_grammar_is_kyamls_short_hand() -> None:
    assert marker_setter('# {"$imagepolicy": "ns:p"}') == "ns:p"
    assert marker_setter('##{ "$imagepolicy" : "ns:p:tag" } ') == "ns:p:tag"
    assert marker_setter('# {"$imagepolicy": ""}') is None
    assert marker_setter("# plain words") is None


def test_each_change_names_its_object_setter_and_values() -> None:
    rewrite = rewrite_text(
        HELMRELEASE_BEFORE + "---\n" + KUSTOMIZATION_BEFORE, values(APP, PODINFO)
    )
    release = ObjectId(
        api_version="helm.toolkit.fluxcd.io/v2",
        kind="HelmRelease",
        name="my-app",
        namespace="default",
    )
    assert [(e.line, e.object, e.setter, e.old_value, e.new_value) for e in rewrite.edits] == [
        (
            9,
            release,
            "flux-system:my-policy:name",
            "ghcr.io/my-org/old-app",
            "ghcr.io/my-org/my-app",
        ),
        (10, release, "flux-system:my-policy:tag", "4.0.6", "4.0.7"),
        (11, release, "flux-system:my-policy:digest", "sha256:" + "0" * 64, ""),
        (19, ObjectId(), "flux-system:podinfo:tag", "5.0.0", "5.0.3"),
    ]


def test_a_single_list_is_unwrapped_into_its_items() -> None:
    text = """\
apiVersion: v1
kind: List
note: x:1 # {"$imagepolicy": "flux-system:my-policy"}
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: a}
  spec:
    image: x:1 # {"$imagepolicy": "flux-system:my-policy"}
"""
    rewrite = rewrite_text(text, values(APP))
    assert rewrite.text == text.replace("    image: x:1", "    image: ghcr.io/my-org/my-app:4.0.7")
    assert [edit.object for edit in rewrite.edits] == [
        ObjectId(api_version="apps/v1", kind="Deployment", name="a")
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('- x:1 # {"$imagepolicy": "flux-system:my-policy"}\n', id="sequence document"),
        pytest.param('a: 1\n---\njust text # "$imagepolicy"\n', id="scalar document"),
        pytest.param('a: [1\nimage: x # {"$imagepolicy": "flux-system:my-policy"}\n', id="broken"),
    ],
)
def test_text_kyaml_cannot_read_is_refused(text: str) -> None:
    with pytest.raises(UnreadableYAML):
        rewrite_text(text, values(APP))


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def test_a_tree_is_rewritten_and_only_changed_files_are_written(tmp_path: Path) -> None:
    marker = '# {"$imagepolicy": "flux-system:my-policy"}'
    unchanged = f"image: ghcr.io/my-org/my-app:4.0.7@{DIGEST} {marker}\n"
    template = '{{ .Values.image }} # {"$imagepolicy": "flux-system:my-policy"}\n'
    write(
        tmp_path,
        {
            "apps/app/deployment.yaml": DEPLOYMENT_BEFORE,
            "apps/app/release.yml": HELMRELEASE_BEFORE,
            "apps/app/Kustomization": KUSTOMIZATION_BEFORE,
            "apps/app/notes.txt": DEPLOYMENT_BEFORE,
            "apps/app/current.yaml": unchanged,
            "apps/chart/templates/deploy.yaml": template + "{{- if x }}\n  - [\n",
            "apps/other.yaml": DEPLOYMENT_BEFORE.replace("$imagepolicy", "$other"),
            "outside.yaml": DEPLOYMENT_BEFORE,
        },
    )
    stamp = (tmp_path / "apps/app/current.yaml").stat().st_mtime_ns
    result = apply_setters(tmp_path, [APP_DIGEST, PODINFO], update_path="apps")

    assert (tmp_path / "apps/app/deployment.yaml").read_text() == DEPLOYMENT_AFTER.replace(
        "my-app:4.0.7", f"my-app:4.0.7@{DIGEST}"
    )
    assert (tmp_path / "apps/app/release.yml").read_text() == HELMRELEASE_AFTER
    assert (tmp_path / "apps/app/Kustomization").read_text() == KUSTOMIZATION_AFTER
    assert (tmp_path / "apps/app/notes.txt").read_text() == DEPLOYMENT_BEFORE
    assert (tmp_path / "outside.yaml").read_text() == DEPLOYMENT_BEFORE
    assert (tmp_path / "apps/app/current.yaml").stat().st_mtime_ns == stamp
    assert result.files == (
        "apps/app/Kustomization",
        "apps/app/deployment.yaml",
        "apps/app/release.yml",
    )
    assert {change.path for change in result.changes} == {
        "app/Kustomization",
        "app/deployment.yaml",
        "app/release.yml",
    }
    assert result.images == (PODINFO, APP_DIGEST)
    by_policy = result.by_policy()
    assert [change.setter for change in by_policy[PODINFO]] == ["flux-system:podinfo:tag"]
    assert [(c.path, c.old_value) for c in by_policy[APP_DIGEST]] == [
        ("app/deployment.yaml", "ghcr.io/my-org/my-app:4.0.6"),
        ("app/release.yml", "ghcr.io/my-org/old-app"),
        ("app/release.yml", "4.0.6"),
        ("app/release.yml", "sha256:" + "0" * 64),
    ]
    assert [skip.path for skip in result.skipped] == ["chart/templates/deploy.yaml"]
    assert (tmp_path / "apps/chart/templates/deploy.yaml").read_text().startswith(template)


def test_nothing_to_change_gives_an_empty_result(tmp_path: Path) -> None:
    write(tmp_path, {"deploy.yaml": DEPLOYMENT_AFTER})
    result = apply_setters(tmp_path, [APP])
    assert result == SetterResult()
    assert not result.changed
    assert apply_setters(tmp_path, []) == SetterResult()
    assert (tmp_path / "deploy.yaml").read_text() == DEPLOYMENT_AFTER


def test_file_mode_and_non_ascii_bytes_are_kept(tmp_path: Path) -> None:
    text = "# café ☕\n" + DEPLOYMENT_BEFORE
    write(tmp_path, {"d.yaml": text})
    os.chmod(tmp_path / "d.yaml", 0o640)
    apply_setters(tmp_path, [APP])
    assert (tmp_path / "d.yaml").read_bytes() == ("# café ☕\n" + DEPLOYMENT_AFTER).encode()
    assert (tmp_path / "d.yaml").stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["d.yaml"]


def test_an_update_path_naming_one_file_updates_that_file(tmp_path: Path) -> None:
    write(tmp_path, {"a/d.yaml": DEPLOYMENT_BEFORE, "a/e.yaml": DEPLOYMENT_BEFORE})
    result = apply_setters(tmp_path, [APP], update_path="./a/d.yaml")
    assert [change.path for change in result.changes] == ["d.yaml"]
    assert (tmp_path / "a/e.yaml").read_text() == DEPLOYMENT_BEFORE


def test_symbolic_links_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    checkout = tmp_path / "checkout"
    write(outside, {"secret.yaml": DEPLOYMENT_BEFORE, "dir/d.yaml": DEPLOYMENT_BEFORE})
    write(checkout, {"real.yaml": DEPLOYMENT_BEFORE})
    (checkout / "link.yaml").symlink_to(outside / "secret.yaml")
    (checkout / "inner.yaml").symlink_to(checkout / "real.yaml")
    (checkout / "linked-dir").symlink_to(outside / "dir")

    result = apply_setters(checkout, [APP])

    assert (outside / "secret.yaml").read_text() == DEPLOYMENT_BEFORE
    assert (outside / "dir/d.yaml").read_text() == DEPLOYMENT_BEFORE
    assert (checkout / "real.yaml").read_text() == DEPLOYMENT_AFTER
    assert (checkout / "link.yaml").is_symlink()
    assert result.files == ("real.yaml",)
    assert [skip.path for skip in result.skipped] == ["inner.yaml", "link.yaml"]


@pytest.mark.parametrize("update_path", ["..", "../checkout-x", "a/../../x", "escape"])
def test_an_update_path_outside_the_checkout_is_refused(tmp_path: Path, update_path: str) -> None:
    checkout = tmp_path / "checkout"
    write(checkout, {"a/d.yaml": DEPLOYMENT_BEFORE})
    (checkout / "escape").symlink_to(tmp_path)
    with pytest.raises(SetterPathError, match="leaves the repository checkout"):
        apply_setters(checkout, [APP], update_path=update_path)


def test_a_missing_update_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SetterPathError, match="does not exist"):
        apply_setters(tmp_path, [APP], update_path="nope")


def _policy(status: dict[str, object] | None) -> ImagePolicy:
    return ImagePolicy.model_validate(
        {
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImagePolicy",
            "metadata": {"name": "my-policy", "namespace": "flux-system"},
            "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "4.x"}}},
            "status": status,
        }
    )


def test_a_policys_latest_ref_defines_its_setters() -> None:
    latest = {"name": "ghcr.io/my-org/my-app", "tag": "4.0.7", "digest": DIGEST}
    assert PolicyImage.of(_policy({"latestRef": latest})) == APP_DIGEST
    assert PolicyImage.of(_policy({})) is None
    assert PolicyImage.of(_policy(None)) is None
    assert setter_values([APP_DIGEST])["flux-system:my-policy"][0] == f"{APP.reference}@{DIGEST}"
