"""A TLS client context from a Flux certSecretRef Secret: ``ca.crt``, ``tls.crt`` + ``tls.key``.

As Flux's ``secrets.TLSConfigFromSecretRef`` with the system pool: the CA in
``ca.crt`` is trusted besides the system's, and ``tls.crt``/``tls.key`` (given
together) are the client certificate for mutual TLS. The legacy keys
``caFile``, ``certFile`` and ``keyFile`` are read when the new ones are absent.
Messages name the Secret and the key, never a value.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping

__all__ = ["TLSSecretError", "tls_context"]


class TLSSecretError(ValueError):
    """The Secret's TLS data is incomplete or not valid PEM."""


def _field(data: Mapping[str, bytes], key: str, legacy: str) -> bytes:
    return data.get(key) or data.get(legacy) or b""


def tls_context(data: Mapping[str, bytes], *, secret: str) -> ssl.SSLContext:
    """The client context for Secret ``secret``'s decoded ``data``."""
    ca = _field(data, "ca.crt", "caFile")
    cert = _field(data, "tls.crt", "certFile")
    key = _field(data, "tls.key", "keyFile")
    if not (ca or cert or key):
        raise TLSSecretError(
            f"secret '{secret}' has none of the TLS keys: expected 'ca.crt', "
            "and/or 'tls.crt' with 'tls.key'"
        )
    if bool(cert) != bool(key):
        raise TLSSecretError(f"secret '{secret}': 'tls.crt' and 'tls.key' must be given together")
    context = ssl.create_default_context()
    if ca:
        try:
            context.load_verify_locations(cadata=ca.decode())
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
            raise TLSSecretError(
                f"secret '{secret}': 'ca.crt' is not a valid PEM certificate"
            ) from err
    if cert and key:
        # ssl reads a key only from a file: owner-only, and only until loaded.
        with tempfile.TemporaryDirectory(prefix="sluice-tls-") as tmp:
            path = os.path.join(tmp, "client.pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(cert.rstrip() + b"\n" + key)
            try:
                context.load_cert_chain(path)
            except ssl.SSLError as err:
                raise TLSSecretError(
                    f"secret '{secret}': 'tls.crt' and 'tls.key' are not a valid key pair"
                ) from err
    return context
