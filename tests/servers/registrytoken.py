"""docker-registry behind token auth, as ghcr.io and Docker Hub are, with its token service.

The registry answers ``/v2/`` with ``401`` and ``WWW-Authenticate: Bearer
realm=...,service=...``; the :class:`TokenServer` here checks Basic
credentials and issues the ES256 JWT that docker-registry's ``token`` auth
verifies against the certificate bundle it is configured with (the signing
certificate travels in the token's ``x5c`` header).
"""

from __future__ import annotations

import base64
import datetime
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.servers.background import BackgroundServer
from tests.servers.registry import OciRegistry

__all__ = ["TokenRegistry", "TokenServer"]

SERVICE = "sluice-test-registry"
ISSUER = "sluice-test-token-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """Issues registry tokens to ``username``/``password``; 401 to anyone else."""

    username: str
    password: str
    issued: int = 0
    _key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()), repr=False
    )
    _cert: x509.Certificate | None = field(default=None, repr=False)
    _server: BackgroundServer | None = field(default=None, repr=False)

    @property
    def realm(self) -> str:
        """The token endpoint the registry's challenge names."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/token"

    def write_bundle(self, path: Path) -> Path:
        """The signing certificate (self-signed) as the registry's ``rootcertbundle``."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        return path

    def start(self) -> None:
        """Serve the token endpoint on a free loopback port."""
        self._server = BackgroundServer.start(_Handler, port=0, owner=self, name="registry-token")

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def token(self, subject: str) -> str:
        """A JWT docker-registry accepts: ES256, x5c chain, its issuer and service."""
        assert self._cert is not None, "write_bundle first"
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": [],
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        r, s = decode_dss_signature(
            self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(signature)}"

    def _login(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(
            password, self.password
        )


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        owner: TokenServer = self.server.owner  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query)
        if query.get("service") != [SERVICE] or not owner._login(
            self.headers.get("Authorization", "")
        ):
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
            return
        token = owner.token(owner.username)
        owner.issued += 1
        self._reply(200, {"token": token, "access_token": token, "expires_in": 300})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class TokenRegistry(OciRegistry):
    """An :class:`OciRegistry` whose auth is ``token`` against ``tokens``."""

    tokens: TokenServer | None = None

    def _config(self) -> dict[str, Any]:
        assert self.tokens is not None
        config = super()._config()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        bundle = self.tokens.write_bundle(self.state_dir / "token-root.crt")
        config["auth"] = {
            "token": {
                "realm": self.tokens.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(bundle),
            }
        }
        return config
