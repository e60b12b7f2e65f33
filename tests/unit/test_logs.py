"""Log redaction: secret values, URL credentials and private keys never reach the output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from shared.logs import RedactingFilter, install_redaction, redact, setup_logging


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 user=bob", "password=*** user=bob"),
        ('{"password": "s3\\"cret", "name": "x"}', '{"password": "***", "name": "x"}'),
        ("{'token': b'abc', 'secretRef': {}}", "{'token': b'***', 'secretRef': {}}"),
        ("bearerToken: abc123", "bearerToken: ***"),
        ("client_secret='q' apiKey=k", "client_secret='***' apiKey=***"),
        ("identity: c3NoLWtleQ==", "identity: ***"),
        ("value=42 values=3 valuesFrom: [a]", "value=*** values=3 valuesFrom: [a]"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("clone https://user:pw@github.com/x.git", "clone https://***@github.com/x.git"),
        ("https://ghp_TOKEN@github.com/org/repo", "https://***@github.com/org/repo"),
        ("url=https://x.example/hook?token=abc&b=1", "url=https://x.example/hook?token=***&b=1"),
        (
            "identity: -----BEGIN EC PRIVATE KEY-----\nAA\n-----END EC PRIVATE KEY-----\n",
            "identity: ***\n",
        ),
        ("key -----BEGIN RSA PRIVATE KEY-----\nAAAA", "key ***"),
        ("the token expired; Basic auth failed", "the token expired; Basic auth failed"),
        ("secretRef: {name: git-auth} tokenUrl: x", "secretRef: {name: git-auth} tokenUrl: x"),
        ("Kustomization/ns/apps at main@sha1:1f2e", "Kustomization/ns/apps at main@sha1:1f2e"),
        ("", ""),
    ],
)  # fmt: skip
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("sluice.test.logs")
    log.propagate = False
    log.addHandler(handler)
    install_redaction(log)
    install_redaction(log)  # idempotent
    yield log, out
    log.removeHandler(handler)


def test_the_filter_is_installed_once_per_handler(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, _ = logger
    assert [type(f) for f in log.handlers[0].filters] == [RedactingFilter]


def test_arguments_are_redacted_after_formatting(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logger
    log.warning("cloning %s with %s", "https://u:p@git.example/r.git", {"password": "pw"})
    expected = "WARNING cloning https://***@git.example/r.git with {'password': '***'}\n"
    assert out.getvalue() == expected


def test_tracebacks_are_redacted(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    try:
        raise RuntimeError("auth failed for https://bot:s3cret@git.example token=abc")
    except RuntimeError:
        log.exception("fetch failed")
    text = out.getvalue()
    assert "s3cret" not in text
    assert "abc" not in text
    assert "Traceback" in text
    assert "https://***@git.example token=***" in text


def test_setup_logging_replaces_only_its_own_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        setup_logging("DEBUG", stream=first)
        handler = setup_logging("INFO", stream=second)
        assert [h for h in root.handlers if h not in before] == [handler]
        logging.getLogger("sluice.test").info("token=abc")
        assert first.getvalue() == ""
        assert second.getvalue().endswith("INFO sluice.test: token=***\n")
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.setLevel(level)
