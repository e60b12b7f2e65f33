"""Secrets at rest and on screen: Fernet encryption of Secret values, and redaction.

A Secret in the store keeps its keys readable (as ``kubectl describe`` shows
them) but every value of ``data`` and ``stringData``, and kubectl's
last-applied annotation (a plain copy of the whole Secret), is replaced by
``sluice-enc:v1:<Fernet token>``. The key comes from ``SLUICE_SECRET_KEY``
(several keys separated by ``,`` rotate: the first encrypts, any decrypts), or
else from ``secret_key_file``, created once with mode 0600 when missing.

Errors and messages name the Secret and the field, never a value or the key.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.settings import Settings

__all__ = [
    "LAST_APPLIED_ANNOTATION",
    "REDACTED",
    "SecretCipher",
    "SecretKeyError",
    "fold_string_data",
    "is_secret",
    "redact",
]

REDACTED = "<redacted>"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
_SEALED = "sluice-enc:v1:"
_KEY_HELP = (
    "make one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


class SecretKeyError(Exception):
    """The secret key is missing, malformed, or not the one a stored Secret was sealed with."""


def is_secret(doc: dict[str, Any]) -> bool:
    """Whether ``doc`` is a Secret (any apiVersion: sealing too much is harmless)."""
    return doc.get("kind") == "Secret"


def _name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"Secret/{meta.get('namespace') or 'default'}/{meta.get('name', '?')}"


def fold_string_data(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Secret with ``stringData`` merged into ``data`` (base64), as Kubernetes does."""
    out = copy.deepcopy(doc)
    string_data = out.pop("stringData", None)
    if not string_data:
        return out
    if not isinstance(string_data, dict):
        raise ValueError(f"{_name(doc)}: stringData must be a mapping of key to string")
    data = out.get("data") or {}
    if not isinstance(data, dict):
        raise ValueError(f"{_name(doc)}: data must be a mapping of key to base64 string")
    for key, value in string_data.items():
        if not isinstance(value, str):
            raise ValueError(f"{_name(doc)}: stringData.{key} must be a string")
        data[key] = base64.b64encode(value.encode()).decode()
    out["data"] = data
    return out


def _map_values(doc: dict[str, Any], fn: Callable[[str, str], str]) -> dict[str, Any]:
    """A copy of a Secret with ``fn(field, value)`` applied to every sensitive string."""
    out = copy.deepcopy(doc)
    for section in ("data", "stringData"):
        values = out.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ValueError(f"{_name(doc)}: {section} must be a mapping of key to string")
        for key, value in values.items():
            if not isinstance(value, str):
                raise ValueError(f"{_name(doc)}: {section}.{key} must be a string")
            values[key] = fn(f"{section}.{key}", value)
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    if isinstance(annotations.get(LAST_APPLIED_ANNOTATION), str):
        field = f"metadata.annotations[{LAST_APPLIED_ANNOTATION}]"
        annotations[LAST_APPLIED_ANNOTATION] = fn(field, annotations[LAST_APPLIED_ANNOTATION])
    return out


def redact(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy with every Secret value (also inside a ``*List``) replaced by ``<redacted>``."""
    if isinstance(doc.get("items"), list):
        out = dict(doc)
        out["items"] = [redact(item) if isinstance(item, dict) else item for item in doc["items"]]
        return out
    if not is_secret(doc):
        return copy.deepcopy(doc)
    return _map_values(doc, lambda _field, _value: REDACTED)


def _read_or_create_key_file(path: Path) -> str:
    """The key in ``path``; made once (0600) when missing, so concurrent first starts agree."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        # link() never replaces an existing file: whoever links first sets the key for all.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


class SecretCipher:
    """Seals and opens Secret documents with one or more Fernet keys (first one encrypts)."""

    def __init__(self, keys: list[str] | str, *, source: str = "secret key") -> None:
        texts = [k.strip() for k in ([keys] if isinstance(keys, str) else keys)]
        texts = [k for k in texts if k]
        if not texts:
            raise SecretKeyError(f"{source} is empty: {_KEY_HELP}")
        fernets = []
        for i, text in enumerate(texts):
            try:
                fernets.append(Fernet(text.encode()))
            except (ValueError, TypeError) as exc:
                which = f"{source} (key #{i + 1})" if len(texts) > 1 else source
                raise SecretKeyError(
                    f"{which} is not a Fernet key (32 bytes, url-safe base64): {_KEY_HELP}"
                ) from exc
        self._fernet = MultiFernet(fernets)
        self._source = source

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretCipher:
        """The cipher for ``settings.secret_key``, else ``secret_key_file`` (made if missing)."""
        if settings.secret_key:
            return cls(settings.secret_key.split(","), source="SLUICE_SECRET_KEY")
        path = settings.secret_key_file
        try:
            text = _read_or_create_key_file(path)
        except OSError as exc:
            raise SecretKeyError(
                f"secret key file {path}: cannot read or create it: {exc}"
            ) from exc
        return cls(text.split(","), source=f"secret key file {path}")

    @staticmethod
    def generate_key() -> str:
        """A new random key, as ``SLUICE_SECRET_KEY`` expects it."""
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str) -> str:
        """``plain`` sealed as ``sluice-enc:v1:<token>``."""
        return _SEALED + self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, sealed: str, *, where: str) -> str:
        """The plain text of a sealed value; ``where`` names it (never the value) in errors."""
        if not sealed.startswith(_SEALED):
            raise SecretKeyError(
                f"{where} is not encrypted in the store: the stored object is damaged; "
                "apply the Secret again"
            )
        try:
            return self._fernet.decrypt(sealed[len(_SEALED) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError(
                f"{where} cannot be decrypted with the {self._source}: it was stored with "
                "another key; set that key (or list it after the new one), or delete the "
                "Secret and apply it again"
            ) from exc

    def seal(self, doc: dict[str, Any], *, copy_other: bool = True) -> dict[str, Any]:
        """A copy fit for storage: a Secret's values encrypted, any other kind unchanged.

        ``copy_other=False``: any other kind is ``doc`` itself, not a copy, for a
        caller that only serializes it (the copy was a measurable part of a write).
        """
        if not is_secret(doc):
            return copy.deepcopy(doc) if copy_other else doc
        return _map_values(doc, lambda _field, value: self.encrypt(value))

    def unseal(self, doc: dict[str, Any], *, copy_other: bool = True) -> dict[str, Any]:
        """The inverse of ``seal``: a Secret's values decrypted, any other kind unchanged.

        ``copy_other=False``: any other kind is ``doc`` itself, for a freshly parsed one.
        """
        if not is_secret(doc):
            return copy.deepcopy(doc) if copy_other else doc
        name = _name(doc)
        return _map_values(doc, lambda field, value: self.decrypt(value, where=f"{name} {field}"))
