"""The digests helm-controller records for a HelmRelease, byte for byte as Flux computes them.

- :func:`values_digest` is fluxcd/pkg ``chartutil.DigestValues`` (the
  ``lastAttemptedConfigDigest`` and each history snapshot's ``configDigest``):
  sha256 over the values as go-yaml v2 writes them, every mapping sorted by
  key, after sigs.k8s.io/yaml's JSON-to-YAML step (a whole float is an int).
  Empty values hash as no bytes at all.
- :func:`post_renderers_digest` and :func:`common_metadata_digest` are
  helm-controller's ``postrender.Digest`` / ``CommonMetadataDigest``: sha256
  over Go's ``json.Encoder`` output of ``spec.postRenderers`` /
  ``spec.commonMetadata`` (Go struct field order, ``omitempty``, sorted map
  keys, ``<>&`` escaped, a trailing newline). Flux skips them when the field is
  nil; sluice's model defaults postRenderers to ``[]``, so an empty list is
  "none" here too.

Every digest is ``sha256:<hex>``; "none" is the empty string.

The go-yaml v2 scalar styles are written out in :mod:`services.helm.goyaml`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from services.helm.goyaml import encode_sorted
from shared.api.helmrelease import PostRenderer
from shared.api.kustomize import CommonMetadata, Image, Patch, Selector

__all__ = ["common_metadata_digest", "post_renderers_digest", "sha256_digest", "values_digest"]


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``, as opencontainers/go-digest writes it."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def values_digest(values: Mapping[str, Any] | None) -> str:
    """Flux's config digest of chart values (``DigestValues(sha256, values)``)."""
    if not values:
        return sha256_digest(b"")
    return sha256_digest(encode_sorted(values).encode("utf-8"))


def _go_json(doc: Any) -> bytes:
    """``json.NewEncoder(w).Encode(doc)``: compact, HTML characters escaped, a trailing newline."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return (text + "\n").encode("utf-8")


def _omit_empty(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    # Go's omitempty: an empty string, list or map, or a nil pointer, is left out.
    return {key: value for key, value in pairs if value not in (None, "", [], {})}


def _selector(sel: Selector) -> dict[str, Any]:
    return _omit_empty(
        [
            ("group", sel.group),
            ("version", sel.version),
            ("kind", sel.kind),
            ("namespace", sel.namespace),
            ("name", sel.name),
            ("annotationSelector", sel.annotation_selector),
            ("labelSelector", sel.label_selector),
        ]
    )


def _patch(patch: Patch) -> dict[str, Any]:
    doc: dict[str, Any] = {"patch": patch.patch}
    if patch.target is not None:
        # A pointer: present even when every field is empty ({}).
        doc["target"] = _selector(patch.target)
    return doc


def _image(image: Image) -> dict[str, Any]:
    return {"name": image.name} | _omit_empty(
        [("newName", image.new_name), ("newTag", image.new_tag), ("digest", image.digest)]
    )


def _post_renderer(renderer: PostRenderer) -> dict[str, Any]:
    if renderer.kustomize is None:
        return {}
    return {
        "kustomize": _omit_empty(
            [
                ("patches", [_patch(p) for p in renderer.kustomize.patches]),
                ("images", [_image(i) for i in renderer.kustomize.images]),
            ]
        )
    }


def post_renderers_digest(post_renderers: Sequence[PostRenderer]) -> str:
    """helm-controller's ``postrender.Digest`` of ``spec.postRenderers``; "" when there are none."""
    if not post_renderers:
        return ""
    return sha256_digest(_go_json([_post_renderer(r) for r in post_renderers]))


def common_metadata_digest(common_metadata: CommonMetadata | None) -> str:
    """helm-controller's ``CommonMetadataDigest`` of ``spec.commonMetadata``; "" when unset."""
    if common_metadata is None:
        return ""
    doc = _omit_empty(
        [
            ("annotations", dict(sorted(common_metadata.annotations.items()))),
            ("labels", dict(sorted(common_metadata.labels.items()))),
        ]
    )
    return sha256_digest(_go_json(doc))
