"""A TLS client context from a certSecretRef Secret's keys, as Flux reads them."""

from __future__ import annotations

import pytest

from shared.sandbox.certs import write_credentials
from shared.tlssecret import TLSSecretError, tls_context


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    one = write_credentials(tmp_path_factory.mktemp("one"))
    other = write_credentials(tmp_path_factory.mktemp("other"))
    return {
        "ca": one.ca_cert.read_bytes(),
        "cert": one.serving_cert.read_bytes(),
        "key": one.serving_key.read_bytes(),
        "other-key": other.serving_key.read_bytes(),
    }


def _subjects(context: object) -> list[str]:
    certs = context.get_ca_certs()  # type: ignore[attr-defined]
    return [dict(n[0] for n in c["subject"]).get("commonName", "") for c in certs]


@pytest.mark.parametrize("key", ["ca.crt", "caFile"])
def test_the_secrets_ca_is_trusted(pems: dict[str, bytes], key: str) -> None:
    context = tls_context({key: pems["ca"]}, secret="s3-ca")
    assert "sluice-sandbox-ca" in _subjects(context)


def test_a_client_key_pair_loads(pems: dict[str, bytes]) -> None:
    tls_context({"tls.crt": pems["cert"], "tls.key": pems["key"]}, secret="mtls")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "secret 'x' has none of the TLS keys"),
        ({"tls.crt": "cert"}, "'tls.crt' and 'tls.key' must be given together"),
        ({"tls.key": "key"}, "'tls.crt' and 'tls.key' must be given together"),
        ({"ca.crt": b"not a certificate"}, "'ca.crt' is not a valid PEM certificate"),
        ({"tls.crt": "cert", "tls.key": "other-key"}, "are not a valid key pair"),
    ],
)
def test_incomplete_or_broken_tls_data_is_refused_without_its_values(
    pems: dict[str, bytes], data: dict[str, str | bytes], message: str
) -> None:
    secret = {k: pems[v] if isinstance(v, str) else v for k, v in data.items()}
    with pytest.raises(TLSSecretError) as info:
        tls_context(secret, secret="x")
    assert message in str(info.value)
    assert b"PRIVATE KEY" not in str(info.value).encode()
