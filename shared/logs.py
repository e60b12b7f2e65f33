"""Logging that never prints a secret: values of secret-looking keys, URL userinfo, keys.

Every sluice process calls ``setup_logging``; Celery workers get the same
filter on the handlers Celery installs (see shared.celeryapp). Redaction works
on the rendered text, so it covers ``%``-arguments, f-strings, dict and JSON
reprs, exception messages and tracebacks alike.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import IO

__all__ = ["REDACTED", "RedactingFilter", "install_redaction", "redact", "setup_logging"]

REDACTED = "***"
_HANDLER_NAME = "sluice"

# A key is secret when its last word is one of these (``bearerToken``,
# ``client_secret``, ``db.password``), or when it is exactly ``value``
# (substitution values, Secret data); ``secretRef`` and ``tokenUrl`` are not.
_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "token",
    "secret",
    "identity",
    "apikey",
    "api_key",
    "api-key",
    "privatekey",
    "private_key",
    "private-key",
    "credential",
    "credentials",
    "authorization",
    "cookie",
)
_SECRET_KEYS = frozenset({"value", "pwd"})

_KEY_VALUE = re.compile(
    r"""(?P<q>["']?)(?P<key>[A-Za-z_][\w.-]*)(?P=q)"""
    r"""(?P<sep>[ \t]*(?:=|:(?!//))[ \t]*)"""
    r"""(?P<val>(?:Bearer|Basic|token)[ \t]+[^\s,;&}\]\)"']+"""
    r"""|b?"(?:[^"\\\n]|\\.)*"|b?'(?:[^'\\\n]|\\.)*'|[^\s,;&}\]\)]+)"""
)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----.*?"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----|\Z)",
    re.S,
)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _redact_pair(match: re.Match[str]) -> str:
    value = match["val"]
    if not _is_secret_key(match["key"]):
        # The value of an innocent key may itself hold one: url=https://x?token=y.
        head = match[0][: len(match[0]) - len(value)]
        return head + _KEY_VALUE.sub(_redact_pair, value)
    opening = re.match(r"b?[\"']|(?:Bearer|Basic|token)[ \t]+", value)
    prefix = opening[0] if opening else ""
    closing = prefix[-1] if prefix[-1:] in ("'", '"') else ""
    return f"{match['q']}{match['key']}{match['q']}{match['sep']}{prefix}{REDACTED}{closing}"


def redact(text: str) -> str:
    """``text`` with secret values, URL userinfo, auth headers and private keys masked."""
    if not text:
        return text
    text = _PEM.sub(REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return _KEY_VALUE.sub(_redact_pair, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, traceback and stack with ``redact``; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger) -> None:
    """Add one ``RedactingFilter`` to each handler of ``logger`` (idempotent)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def setup_logging(level: str = "INFO", *, stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger to ``stream`` (stderr) through the redacting filter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    # Called again (tests, re-configuration) it replaces its own handler only.
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler.set_name(_HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
