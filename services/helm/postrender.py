"""HelmRelease ``spec.postRenderers`` and ``spec.commonMetadata``, run by Helm 4 itself.

helm-controller hands Helm's install and upgrade actions one combined
post-renderer (``BuildPostRenderers``): each ``postRenderers[].kustomize`` in
order, then ``commonMetadata``, then the origin labels
``helm.toolkit.fluxcd.io/name`` and ``/namespace`` (last, so they win a key
collision with commonMetadata). :class:`PostRender` is that list, typed.

Helm 4's ``--post-renderer`` takes the name of a ``postrenderer/v1`` plugin, not
a command. :meth:`PostRender.install` writes such a plugin into the adapter's
private helm home (``$HELM_DATA_HOME/plugins``, mode 0700, gone after the run):
its command is this interpreter running :mod:`services.helm.postrender_main`
on a spec file beside it, so the patches run through the pinned ``kustomize``
under the same caps as ``helm``. The returned :class:`PostRenderPlugin` gives
the flags and, after a failed run, why the post-renderer failed (Helm itself
only says the plugin "exited with error").

Helm 4's CLI always sends hooks with the templates (its ``combined`` strategy,
Flux's default ``postRenderStrategy``; the CLI has no flag for ``nohooks`` or
``separate``): hooks, test hooks included, are patched and labelled too. As in
Flux, kustomize then refuses a chart whose hook and template share a kind and
name ("already registered id") or an object with only ``generateName``.

Exceptions::

    PostRenderSetupError  the plugin cannot be written (an interpreter path Helm
                          would split or expand); kustomize missing is
                          shared.tools.ToolMissingError
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import services
from services.helm.postrender_main import FAILURE_FILE, RenderSpec
from shared.api.helmrelease import HELM_GROUP, HelmRelease, PostRendererKustomize
from shared.api.kustomize import CommonMetadata, Image, Patch
from shared.private import write_private
from shared.toolrun import ToolLimits
from shared.tools import require_tool

__all__ = [
    "PLUGIN_NAME",
    "PostRender",
    "PostRenderPlugin",
    "PostRenderSetupError",
    "origin_labels",
]

PLUGIN_NAME = "sluice-postrender"
_PLUGIN_VERSION = "0.1.0"
_SPEC = "spec.json"
_LAUNCHER = "run.py"
# Helm splits a plugin's command on spaces and expands $VARS in it and its args.
_UNSAFE_IN_COMMAND = (" ", "$", "\t", "\n")


class PostRenderSetupError(RuntimeError):
    """The post-renderer plugin cannot be set up on this worker; the message says why."""


def origin_labels(*, name: str, namespace: str) -> dict[str, str]:
    """helm-controller's origin labels for the HelmRelease ``namespace/name``."""
    return {f"{HELM_GROUP}/name": name, f"{HELM_GROUP}/namespace": namespace}


def _selector(patch: Patch) -> dict[str, str] | None:
    if patch.target is None:
        return None
    # Kustomize's Selector has the same fields, spelled the same (camelCase).
    return {k: v for k, v in patch.target.model_dump(by_alias=True).items() if v is not None}


def _patch(patch: Patch) -> dict[str, Any]:
    doc: dict[str, Any] = {"patch": patch.patch}
    target = _selector(patch)
    if target is not None:
        doc["target"] = target
    return doc


def _image(image: Image) -> dict[str, str]:
    return {k: v for k, v in image.model_dump(by_alias=True).items() if v}


@dataclass(frozen=True)
class PostRender:
    """What is done to a release's rendered manifest before Helm applies it.

    ``kustomize`` are the ``postRenderers[].kustomize`` blocks in order;
    ``origin`` are labels set last (:func:`origin_labels`).
    """

    kustomize: tuple[PostRendererKustomize, ...] = ()
    common_metadata: CommonMetadata | None = None
    origin: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, release: HelmRelease) -> PostRender:
        """helm-controller's ``BuildPostRenderers`` for ``release`` (origin labels included)."""
        spec = release.spec
        return cls(
            kustomize=tuple(r.kustomize for r in spec.post_renderers if r.kustomize is not None),
            common_metadata=spec.common_metadata,
            origin=origin_labels(name=release.name, namespace=release.namespace),
        )

    @property
    def empty(self) -> bool:
        """Nothing to change: Helm runs no post-renderer."""
        return not (self.kustomize or self.labels or self.annotations)

    @property
    def labels(self) -> dict[str, str]:
        """Labels set on every object: commonMetadata's, then the origin labels over them."""
        common = self.common_metadata.labels if self.common_metadata else {}
        return {**common, **self.origin}

    @property
    def annotations(self) -> dict[str, str]:
        """Annotations set on every object (commonMetadata's)."""
        return dict(self.common_metadata.annotations) if self.common_metadata else {}

    def spec(self, *, kustomize: str, limits: ToolLimits) -> RenderSpec:
        """The plugin's spec: kustomize layers in kustomize's spelling, then the metadata."""
        layers = tuple(
            {
                "patches": [_patch(p) for p in block.patches],
                "images": [_image(i) for i in block.images],
            }
            for block in self.kustomize
        )
        return RenderSpec(
            kustomize=kustomize,
            limits=limits,
            layers=layers,
            labels=self.labels,
            annotations=self.annotations,
        )

    def install(self, home: Path, *, limits: ToolLimits) -> PostRenderPlugin:
        """Write the plugin into the helm home ``home`` (``$HELM_DATA_HOME`` = ``home/data``).

        ``limits`` caps each kustomize run; they must not exceed helm's own
        (the plugin inherits helm's, and may not raise them).
        Raises PostRenderSetupError, or ToolMissingError without kustomize.
        """
        if self.empty:
            return PostRenderPlugin(directory=None)
        spec = self.spec(kustomize=str(require_tool("kustomize")), limits=limits)
        python = sys.executable
        if not python or any(char in python for char in _UNSAFE_IN_COMMAND):
            raise PostRenderSetupError(
                f"cannot run post-renderers: Helm would split or expand the interpreter path "
                f"{python!r}; install sluice under a path without spaces or '$'"
            )
        directory = home / "data" / "plugins" / PLUGIN_NAME
        directory.mkdir(mode=0o700, parents=True)
        write_private(directory / _SPEC, spec.to_json())
        write_private(directory / _LAUNCHER, _launcher())
        write_private(directory / "plugin.yaml", _plugin_yaml(python))
        return PostRenderPlugin(directory=directory)


@dataclass(frozen=True)
class PostRenderPlugin:
    """A post-renderer plugin written into one helm home; ``directory`` None: nothing to do."""

    directory: Path | None

    @property
    def flags(self) -> list[str]:
        """The helm install/upgrade flags that use it ([] when there is none)."""
        return ["--post-renderer", PLUGIN_NAME] if self.directory is not None else []

    def failure(self) -> str | None:
        """Why the post-renderer failed in the last helm run, or None when it did not."""
        if self.directory is None:
            return None
        try:
            return (self.directory / FAILURE_FILE).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None


def _launcher() -> bytes:
    # The worker may run from a source tree on PYTHONPATH, which helm does not pass
    # on: the launcher names the project root itself (-I ignores the environment).
    root = Path(services.__file__).resolve().parent.parent
    return (
        "import sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "from services.helm.postrender_main import main\n"
        "sys.exit(main())\n"
    ).encode()


def _plugin_yaml(python: str) -> bytes:
    doc = {
        "apiVersion": "v1",
        "name": PLUGIN_NAME,
        "type": "postrenderer/v1",
        "runtime": "subprocess",
        "version": _PLUGIN_VERSION,
        "runtimeConfig": {
            "platformCommand": [
                {
                    "command": python,
                    # Helm expands ${HELM_PLUGIN_DIR}: the paths need no quoting.
                    "args": [
                        "-I",
                        f"${{HELM_PLUGIN_DIR}}/{_LAUNCHER}",
                        f"${{HELM_PLUGIN_DIR}}/{_SPEC}",
                    ],
                }
            ]
        },
    }
    return json.dumps(doc, indent=1).encode()
