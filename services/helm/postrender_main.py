"""The post-renderer process Helm runs: Flux's post-renderers on one rendered manifest.

Helm 4 runs a ``postrenderer/v1`` plugin (written by :mod:`services.helm.postrender`)
with the rendered manifest on stdin and takes the post-rendered manifest from
stdout. This module is that plugin's command::

    python -I run.py <spec.json>      # run.py puts the project on sys.path and calls main()

What it does, in helm-controller's order (``BuildPostRenderers``): each
``postRenderers[].kustomize`` in turn (its ``patches``, then its ``images``), then
``commonMetadata`` labels and annotations, then the origin labels, which win a
key collision. Every step is one layer of a single ``kustomize build`` of the
pinned binary, under ``shared.toolrun`` caps:

- layer 0 lists the manifest as its resource, each later layer the one before
  (so a renderer sees what the previous one made, as Flux chains them);
- the last layer sets the labels and annotations with kustomize's builtin
  LabelTransformer / AnnotationsTransformer on ``metadata`` only (Flux's field
  specs: no selectors, no pod templates), and keeps the input order
  (``sortOptions: fifo``; Flux's kustomizer does not reorder).

Helm 4 keeps a plugin's stderr to itself (``plugin "x" exited with error`` is all
it says), so a failure is also written to ``failure`` next to the spec, where
the adapter reads it. The spec holds patches and labels, never values; the
manifest is never in argv.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.private import private_dir
from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool

__all__ = [
    "FAILURE_FILE",
    "PostRenderFailed",
    "RenderSpec",
    "explain",
    "kustomization_layout",
    "main",
    "render",
]

FAILURE_FILE = "failure"
_MANIFEST = "helm-output.yaml"
_METADATA = "metadata"
# How kustomize 5 wraps an error met in a kustomization listed as a resource.
_NESTED = re.compile(
    r"accumulating resources: accumulation err="
    r"'accumulating resources from '\.\./(?P<layer>[^']+)': '[^']*' must resolve to a file': "
    r"recursed accumulation of path '[^']*': "
)
_MAX_MESSAGE = 1500
# Helm refuses an empty post-render ("produced empty output"); Flux's in-process
# renderer lets a chart that renders nothing through. A bare separator is not
# empty to Helm and parses as no documents.
_NOTHING = b"---\n"


class PostRenderFailed(Exception):
    """A post-renderer could not run or kustomize refused the patches; the message says why."""


@dataclass(frozen=True)
class RenderSpec:
    """What one post-render does: the plugin's spec file, as JSON.

    ``layers`` are ``postRenderers[].kustomize`` in kustomize's own spelling
    (``{"patches": [...], "images": [...]}``), in order; ``labels`` and
    ``annotations`` are commonMetadata with the origin labels merged over it.
    """

    kustomize: str
    limits: ToolLimits
    layers: tuple[Mapping[str, Any], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing to change: Helm needs no post-renderer."""
        return not (self.layers or self.labels or self.annotations)

    def to_json(self) -> bytes:
        """The spec file's content."""
        doc = {
            "kustomize": self.kustomize,
            "limits": {
                "memoryBytes": self.limits.memory_bytes,
                "cpuSeconds": self.limits.cpu_seconds,
                "timeout": self.limits.timeout,
            },
            "layers": [dict(layer) for layer in self.layers],
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RenderSpec:
        """Read a spec file written by :meth:`to_json`."""
        doc = json.loads(data)
        limits = doc["limits"]
        return cls(
            kustomize=str(doc["kustomize"]),
            limits=ToolLimits(
                memory_bytes=int(limits["memoryBytes"]),
                cpu_seconds=int(limits["cpuSeconds"]),
                timeout=float(limits["timeout"]),
            ),
            layers=tuple(doc.get("layers") or ()),
            labels=dict(doc.get("labels") or {}),
            annotations=dict(doc.get("annotations") or {}),
        )


def _kustomization(resources: list[str], **fields: Any) -> bytes:
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        **{key: value for key, value in fields.items() if value},
    }
    # JSON is YAML, and leaves no doubt about how a patch's text is quoted.
    return json.dumps(doc, indent=1).encode()


def _transformer(kind: str, field_name: str, values: Mapping[str, str]) -> bytes:
    doc = {
        "apiVersion": "builtin",
        "kind": kind,
        "metadata": {"name": "sluice-common-metadata"},
        field_name: dict(values),
        "fieldSpecs": [{"path": f"metadata/{field_name}", "create": True}],
    }
    return json.dumps(doc, indent=1).encode()


def kustomization_layout(spec: RenderSpec) -> tuple[str, dict[str, bytes]]:
    """The kustomization files for ``spec``: (the directory to build, {relative path: content}).

    The manifest itself goes to ``0/helm-output.yaml``.
    """
    files: dict[str, bytes] = {}
    previous: str | None = None
    layers = list(spec.layers) or [{}]
    for index, layer in enumerate(layers):
        name = str(index)
        resources = [_MANIFEST] if previous is None else [f"../{previous}"]
        files[f"{name}/kustomization.yaml"] = _kustomization(
            resources, patches=layer.get("patches"), images=layer.get("images")
        )
        previous = name
    if spec.labels or spec.annotations:
        transformers: list[str] = []
        if spec.labels:
            files[f"{_METADATA}/labels.yaml"] = _transformer(
                "LabelTransformer", "labels", spec.labels
            )
            transformers.append("labels.yaml")
        if spec.annotations:
            files[f"{_METADATA}/annotations.yaml"] = _transformer(
                "AnnotationsTransformer", "annotations", spec.annotations
            )
            transformers.append("annotations.yaml")
        files[f"{_METADATA}/kustomization.yaml"] = _kustomization(
            [f"../{previous}"], transformers=transformers
        )
        previous = _METADATA
    # Only the top kustomization's sort order counts.
    top = f"{previous}/kustomization.yaml"
    doc = json.loads(files[top])
    doc["sortOptions"] = {"order": "fifo"}
    files[top] = json.dumps(doc, indent=1).encode()
    return str(previous), files


def explain(stderr: str, *, top: str, renderers: int) -> str:
    """kustomize's error without the layering, prefixed by the renderer it came from."""
    text = stderr.strip().removeprefix("Error: ")
    layer = top
    # Each layer kustomize went through adds a line of its own; the deepest is the culprit.
    while (nested := _NESTED.match(text)) is not None:
        layer = nested["layer"]
        text = text[nested.end() :]
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    if layer == _METADATA:
        return f"commonMetadata post-renderer: {text}"
    if renderers == 0:  # layer 0 only holds the manifest
        return f"post-renderer: {text}"
    which = f" {int(layer) + 1} of {renderers}" if renderers > 1 else ""
    return f"kustomize post-renderer{which}: {text}"


def render(manifest: bytes, spec: RenderSpec, *, scratch: Path | None = None) -> bytes:
    """The post-rendered manifest; PostRenderFailed when kustomize refuses or a cap stops it."""
    top, files = kustomization_layout(spec)
    with private_dir("sluice-postrender-", parent=scratch) as workdir:
        for relative, content in files.items():
            path = workdir / relative
            path.parent.mkdir(mode=0o700, exist_ok=True)
            path.write_bytes(content)
        (workdir / "0" / _MANIFEST).write_bytes(manifest)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "TMPDIR": str(workdir)}
        # prlimit would run it and report a missing tool as a kustomize error.
        if not os.access(spec.kustomize, os.X_OK):
            raise PostRenderFailed(f"cannot run kustomize ({spec.kustomize}): not an executable")
        argv = [spec.kustomize, "build", top]
        try:
            done = run_tool(argv, limits=spec.limits, env=env, cwd=workdir)
        except ToolLimitExceeded as err:
            raise PostRenderFailed(f"kustomize post-renderer: {err}") from None
        except OSError as err:
            raise PostRenderFailed(f"cannot run kustomize ({spec.kustomize}): {err}") from err
        if done.returncode != 0:
            text = done.stderr.decode("utf-8", errors="replace")
            # The scratch directory changes every run and means nothing to the reader.
            text = text.replace(str(workdir) + "/", "").replace(str(workdir), ".")
            raise PostRenderFailed(explain(text, top=top, renderers=len(spec.layers)))
    return done.stdout if done.stdout.strip() else _NOTHING


def _record(failure: Path, message: str) -> None:
    fd = os.open(failure, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Post-render stdin to stdout with the spec file named in ``argv``; 1 on failure."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: postrender_main <spec.json> < manifest > post-rendered", file=sys.stderr)
        return 2
    spec_file = Path(args[0])
    try:
        spec = RenderSpec.from_json(spec_file.read_bytes())
        manifest = sys.stdin.buffer.read()
        # Scratch next to the spec: inside the adapter's private helm home.
        output = render(manifest, spec, scratch=spec_file.parent)
    except PostRenderFailed as err:
        message = str(err)
    except Exception as err:  # a process boundary: say what broke, for the adapter to report
        message = f"post-renderer failed: {type(err).__name__}: {err}"[:_MAX_MESSAGE]
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
        return 0
    _record(spec_file.parent / FAILURE_FILE, message)
    print(message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
