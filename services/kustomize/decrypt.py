"""Flux's SOPS decryption with age keys, by the real ``sops`` binary.

Identities reach sops only through its environment (``SOPS_AGE_KEY``), in a clean
environment whose ``HOME`` is an empty private directory, so sops finds no other key,
config or cloud credential. Documents go in on stdin and come back on stdout; generator
files are decrypted inside the build's private copy. No message quotes sops' stderr,
which may hold data: a known failure is named, any other is reported by exit code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.kustomize.manifests import BuildFailed, dump_object, load_documents, object_ref
from shared.api import Kustomization
from shared.keys import ObjectKey
from shared.scopes import resolve
from shared.settings import load_settings
from shared.store import Store
from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool
from shared.tools import ToolMissingError, require_tool

__all__ = [
    "DECRYPT_KEY",
    "Decryption",
    "DecryptionFailed",
    "decrypt_objects",
    "decrypt_sources",
    "decryption_keys",
    "is_encrypted",
    "run_sops",
]

DECRYPT_KEY = "kustomize.toolkit.fluxcd.io/decrypt"
_AGE_SUFFIX = ".agekey"
_TIMEOUT = 30.0
# sops' stderr, known line -> what the message says instead (stderr may hold data).
_REASONS = (
    ("failed to parse 'SOPS_AGE_KEY'", "an age key in {keys} is malformed"),
    ("Failed to get the data key", "no age identity in {keys} matches its recipients"),
    ("MAC mismatch", "its MAC does not match: it was changed after it was encrypted"),
    ("sops metadata not found", "it has no sops metadata"),
    ("Error unmarshalling input", "sops cannot parse it"),
)


class DecryptionFailed(BuildFailed):
    """A SOPS-encrypted document or file cannot be decrypted, or decryption is not configured."""


@dataclass(frozen=True)
class Decryption:
    """``spec.decryption`` with its Secret read: the age identities and where they came from."""

    identities: tuple[str, ...] = field(default=(), repr=False)
    source: str = "spec.decryption"

    def cache_key(self) -> str:
        """sha256 of the identities: a rotated key rebuilds, the key itself is never in a key."""
        return hashlib.sha256(json.dumps(self.identities).encode()).hexdigest()


def decryption_keys(store: Store, ks: Kustomization, scope: str = "") -> Decryption | None:
    """The age identities of ``spec.decryption.secretRef`` (looked up as ``shared.scopes``
    says, from the Kustomization's ``scope``), read from the store; None if unset."""
    spec = ks.spec.decryption
    if spec is None:
        return None
    if spec.secret_ref is None:
        return Decryption()
    name = spec.secret_ref.name
    where = f"decryption Secret '{ks.namespace}/{name}'"
    _, doc = resolve(store, ObjectKey("Secret", ks.namespace, name), scope)
    if doc is None:
        raise DecryptionFailed(f"{where} not found: spec.decryption.secretRef must name a Secret")
    data = doc.get("data") or {}
    try:
        identities = tuple(
            base64.b64decode(data[key]).decode().strip()
            for key in sorted(data)
            if key.endswith(_AGE_SUFFIX)
        )
    except (ValueError, TypeError):
        raise DecryptionFailed(f"{where}: a *{_AGE_SUFFIX} entry is not base64 text") from None
    if not identities:
        raise DecryptionFailed(
            f"{where} has no age key: expected entries named *{_AGE_SUFFIX} "
            "(only the age provider is supported)"
        )
    return Decryption(identities, where)


def is_encrypted(doc: Any) -> bool:
    """Whether ``doc`` is a SOPS-encrypted document: a top-level ``sops`` mapping with a MAC."""
    sops = doc.get("sops") if isinstance(doc, Mapping) else None
    return isinstance(sops, Mapping) and "mac" in sops


def _disabled(obj: Mapping[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(DECRYPT_KEY, "")).lower() == "disabled"


def _sops_env(home: Path, decryption: Decryption) -> dict[str, str]:
    # Nothing inherited: SOPS_*, AWS_*, GNUPGHOME, VAULT_* could send sops elsewhere.
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "TMPDIR": str(home),
        "SOPS_DISABLE_VERSION_CHECK": "1",
        "SOPS_AGE_KEY": "\n".join(decryption.identities),
    }


def run_sops(
    data: bytes,
    decryption: Decryption,
    *,
    what: str,
    input_type: str = "yaml",
    output_type: str = "yaml",
    limits: ToolLimits | None = None,
) -> bytes:
    """``data`` decrypted by sops; DecryptionFailed names ``what`` and a sanitized reason."""
    if not decryption.identities:
        raise DecryptionFailed(
            f"cannot decrypt {what}: spec.decryption has no secretRef naming a Secret of "
            f"*{_AGE_SUFFIX} keys (only the age provider is supported)"
        )
    try:
        sops = require_tool("sops")
    except ToolMissingError as exc:
        raise DecryptionFailed(f"cannot decrypt {what}: {exc}") from None
    command = [str(sops), "--decrypt", "--input-type", input_type, "--output-type", output_type]
    limits = limits or ToolLimits.from_settings(load_settings(), timeout=_TIMEOUT)
    with tempfile.TemporaryDirectory(prefix="sluice-sops-") as home:
        try:
            done = run_tool(
                [*command, "/dev/stdin"],
                limits=limits,
                input=data,
                cwd=Path(home),
                env=_sops_env(Path(home), decryption),
            )
        except ToolLimitExceeded as exc:
            raise DecryptionFailed(f"cannot decrypt {what}: {exc}") from None
        except OSError as exc:
            raise DecryptionFailed(f"cannot run sops ({sops}): {exc.strerror}") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        reason = next(
            (text for marker, text in _REASONS if marker in stderr),
            f"sops exited with code {done.returncode}",
        )
        raise DecryptionFailed(f"cannot decrypt {what}: {reason.format(keys=decryption.source)}")
    return done.stdout


def _decrypt_object(obj: dict[str, Any], decryption: Decryption) -> dict[str, Any]:
    ref = object_ref(obj)
    what = f"{ref} (SOPS-encrypted)"
    out = run_sops(dump_object(obj).encode(), decryption, what=what)
    try:
        docs = load_documents(out.decode(), source=f"decrypted {ref}")
    except (BuildFailed, UnicodeDecodeError):
        # The parse error would quote decrypted text.
        raise DecryptionFailed(f"decrypted {ref} is not valid YAML") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise DecryptionFailed(f"decrypted {ref} is not one YAML object")
    decrypted: dict[str, Any] = json.loads(json.dumps(docs[0], default=str))
    return decrypted


def decrypt_objects(
    objects: Sequence[dict[str, Any]], decryption: Decryption | None
) -> list[dict[str, Any]]:
    """Every SOPS-encrypted object decrypted, except those annotated ``decrypt: Disabled``."""
    out = []
    for obj in objects:
        if not is_encrypted(obj) or _disabled(obj):
            out.append(obj)
        elif decryption is None:
            raise DecryptionFailed(
                f"{object_ref(obj)} is SOPS-encrypted and spec.decryption is not set: "
                f"configure decryption or annotate it {DECRYPT_KEY}: Disabled"
            )
        else:
            out.append(_decrypt_object(obj, decryption))
    return out


_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv"}
# What sops writes in each format's metadata; sops stores "binary" files as JSON.
_MARKERS = {"yaml": b"mac: ENC[", "json": b'"mac": "ENC[', "dotenv": b"sops_mac=ENC["}


def _generator_files(doc: Mapping[str, Any]) -> list[str]:
    paths = []
    for gen in [*(doc.get("secretGenerator") or []), *(doc.get("configMapGenerator") or [])]:
        if isinstance(gen, Mapping):
            entries = [*(gen.get("files") or []), *(gen.get("envs") or []), gen.get("env")]
            # files entries may be `key=path`.
            paths += [e.split("=", 1)[-1] for e in entries if isinstance(e, str)]
    return paths


def _decrypt_file(tree: Path, path: Path, decryption: Decryption | None) -> None:
    real = path.resolve()
    if not real.is_file() or not real.is_relative_to(tree):
        return  # kustomize reports a missing file; the build copy holds no outside file
    data = real.read_bytes()
    fmt = _FORMATS.get(real.suffix, "binary")
    if _MARKERS.get(fmt, _MARKERS["json"]) not in data:
        return
    what = f"{real.relative_to(tree).as_posix()} (a SOPS-encrypted generator file)"
    if decryption is None:
        raise DecryptionFailed(f"{what} cannot be decrypted: spec.decryption is not set")
    plain = run_sops(data, decryption, what=what, input_type=fmt, output_type=fmt)
    real.unlink()
    real.write_bytes(plain)


def decrypt_sources(tree: Path, directory: Path, decryption: Decryption | None) -> None:
    """Decrypt, in the build's private copy ``tree``, the encrypted files generators read."""
    tree = tree.resolve()
    pending, seen = [directory.resolve()], set()
    while pending:
        here = pending.pop()
        if here in seen:
            continue
        seen.add(here)
        file = next((here / n for n in _KUSTOMIZATION_FILES if (here / n).is_file()), None)
        if file is None:
            continue
        docs = load_documents(file.read_text(), source=file.relative_to(tree).as_posix())
        doc = docs[0] if docs and isinstance(docs[0], Mapping) else {}
        for name in _generator_files(doc):
            _decrypt_file(tree, here / name, decryption)
        for entry in [*(doc.get("resources") or []), *(doc.get("components") or [])]:
            target = (here / entry).resolve() if isinstance(entry, str) else None
            if target is not None and target.is_dir() and target.is_relative_to(tree):
                pending.append(target)
