"""Key material for a sandbox: a CA, one serving certificate, a service-account key, tokens."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ADMIN_USER", "RESTRICTED_USER", "Credentials", "write_credentials"]

ADMIN_USER = "sandbox-admin"
RESTRICTED_USER = "sandbox-user"

# Names a client may use for any sandbox apiserver: loopback, plus the
# in-cluster service names and the first address of the service range.
_DNS_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
_IPS = ("127.0.0.1", "::1", "10.0.0.1")
_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Credentials:
    """Where a sandbox's key material lives, and the two users' bearer tokens."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_public_key: Path
    token_file: Path
    admin_token: str
    restricted_token: str

    @classmethod
    def in_dir(cls, certs_dir: Path) -> Credentials:
        """Read back what ``write_credentials`` wrote to ``certs_dir``."""
        tokens = dict(
            (line.split(",")[1], line.split(",")[0])
            for line in (certs_dir / "tokens.csv").read_text().splitlines()
            if line
        )
        return cls(
            ca_cert=certs_dir / "ca.crt",
            serving_cert=certs_dir / "apiserver.crt",
            serving_key=certs_dir / "apiserver.key",
            sa_key=certs_dir / "sa.key",
            sa_public_key=certs_dir / "sa.pub",
            token_file=certs_dir / "tokens.csv",
            admin_token=tokens[ADMIN_USER],
            restricted_token=tokens[RESTRICTED_USER],
        )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdated so a clock a little behind still accepts it.
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in _DNS_NAMES]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in _IPS]
        builder = builder.add_extension(
            x509.SubjectAlternativeName(names), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def write_credentials(certs_dir: Path) -> Credentials:
    """Create a CA, a serving cert for loopback, a service-account key and a token file."""
    certs_dir.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sluice-sandbox-ca")])
    ca_cert = _certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    serving_cert = _certificate(serving_name, serving_key.public_key(), ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (certs_dir / "ca.crt").write_bytes(ca_cert.public_bytes(pem))
    _write_private(certs_dir / "ca.key", _key_pem(ca_key))
    (certs_dir / "apiserver.crt").write_bytes(serving_cert.public_bytes(pem))
    _write_private(certs_dir / "apiserver.key", _key_pem(serving_key))
    sa_key = ec.generate_private_key(ec.SECP256R1())
    _write_private(certs_dir / "sa.key", _key_pem(sa_key))
    (certs_dir / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    admin_token, restricted_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    # Format: token,user,uid,"group1,group2"
    _write_private(
        certs_dir / "tokens.csv",
        (
            f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
            f"{restricted_token},{RESTRICTED_USER},{RESTRICTED_USER}\n"
        ).encode(),
    )
    return Credentials.in_dir(certs_dir)
