"""What a registry needs for bearer tokens and TLS in tests: a token service and certificates.

``TokenService`` is the registry's token server (the docker distribution
token protocol): ``GET /token?service=..&scope=repository:NAME:ACTIONS`` with
Basic credentials answers a JWT (ES256) that docker-registry verifies against
the service's certificate (``auth.token.rootcertbundle``), found by the key id
libtrust computes. ``RegistryTls`` makes a CA, a serving certificate for
127.0.0.1 and a client certificate, for ``http.tls`` (and ``clientcas``).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import secrets
import time
from base64 import b32encode
from dataclasses import dataclass, field
from hashlib import sha256
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.servers.background import BackgroundServer

__all__ = ["RegistryTls", "TokenService"]

SERVICE = "sluice-test-registry"
ISSUER = "sluice-test-token-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _libtrust_key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The key id docker-registry matches a token's ``kid`` against (libtrust's format)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = b32encode(sha256(der).digest()[:30]).decode()
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


@dataclass
class TokenService:
    """A token server on loopback for one user; counts the tokens it issued."""

    state_dir: Path
    username: str
    password: str
    issued: int = 0
    refused: int = 0
    _key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    _server: BackgroundServer | None = None

    def start(self) -> None:
        """Write the certificate bundle and serve ``/token``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cert = _cert("sluice-test-token-issuer", self._key)
        self.cert_bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._server = BackgroundServer.start(_TokenHandler, port=0, owner=self, name="token")

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()

    @property
    def cert_bundle(self) -> Path:
        return self.state_dir / "token-cert.pem"

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/token"

    def registry_config(self) -> dict[str, object]:
        """The registry's ``auth`` section for this service."""
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.cert_bundle),
            }
        }

    def token(self, scopes: list[str]) -> str:
        """A JWT granting ``scopes`` (``repository:NAME:pull,push``)."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": _libtrust_key_id(self._key.public_key())}
        claims = {
            "iss": ISSUER,
            "sub": self.username,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64(signature)}"


class _TokenHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        service: TokenService = self.server.owner  # type: ignore[attr-defined]
        expected = base64.b64encode(f"{service.username}:{service.password}".encode()).decode()
        if self.headers.get("Authorization", "") != f"Basic {expected}":
            service.refused += 1
            self._answer(401, {"details": "incorrect username or password"})
            return
        query = parse_qs(urlsplit(self.path).query)
        token = service.token(query.get("scope", []))
        service.issued += 1
        self._answer(200, {"token": token, "access_token": token, "expires_in": 300})

    def _answer(self, status: int, doc: dict[str, object]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@dataclass(frozen=True)
class RegistryTls:
    """A CA, a serving pair for 127.0.0.1 and a client pair, as PEM files in ``directory``."""

    directory: Path
    client_auth: bool = True

    @classmethod
    def create(cls, directory: Path, *, client_auth: bool = True) -> RegistryTls:
        directory.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("sluice-test-registry-ca", ca_key)
        ca_name = ca.subject
        pem = serialization.Encoding.PEM
        (directory / "ca.crt").write_bytes(ca.public_bytes(pem))
        for name, usage in (
            ("server", ExtendedKeyUsageOID.SERVER_AUTH),
            ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _cert(f"sluice-test-{name}", key, issuer=(ca_name, ca_key), usage=usage)
            (directory / f"{name}.crt").write_bytes(cert.public_bytes(pem))
            (directory / f"{name}.key").write_bytes(_pem(key))
        return cls(directory, client_auth)

    def read(self, name: str) -> bytes:
        """``ca.crt``, ``server.crt``/``.key`` or ``client.crt``/``.key``."""
        return (self.directory / name).read_bytes()

    def registry_config(self) -> dict[str, object]:
        """The registry's ``http.tls`` section: serve TLS (and require a client certificate)."""
        config: dict[str, object] = {
            "certificate": str(self.directory / "server.crt"),
            "key": str(self.directory / "server.key"),
        }
        if self.client_auth:
            config["clientcas"] = [str(self.directory / "ca.crt")]
        return config
