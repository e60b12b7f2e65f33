"""Send one provider Request over HTTP(S) with httpx: the only module that talks to endpoints.

The outcome is a value, not an exception, so the delivery loop decides on
retries: a connection failure, a timeout, a 429 or a 5xx is worth another
try (as Flux's retrying HTTP client); any other 4xx is not. Messages never
carry the URL, headers or body: a webhook URL is itself a credential.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx

from services.notify.notice import Request
from services.notify.providers import ResponseCheck
from services.notify.targets import Transport
from shared.private import private_dir, write_private

__all__ = ["Sender", "Sent"]


@dataclass(frozen=True)
class Sent:
    """What came of one request: ok, or why not and whether another try may help."""

    ok: bool
    retryable: bool = False
    message: str = ""


def _tls(transport: Transport) -> ssl.SSLContext | bool:
    if transport.ca_pem is None and transport.client_cert_pem is None:
        return True
    context = (
        ssl.create_default_context(cadata=transport.ca_pem)
        if transport.ca_pem
        else (ssl.create_default_context())
    )
    if transport.client_cert_pem and transport.client_key_pem:
        # ssl loads a key pair only from files: private ones, gone at once.
        with private_dir("sluice-notify-tls-") as home:
            cert = write_private(home / "tls.crt", transport.client_cert_pem.encode())
            key = write_private(home / "tls.key", transport.client_key_pem.encode())
            context.load_cert_chain(cert, key)
    return context


class Sender:
    """An HTTP client for one Provider's run of deliveries (keeps its connection open)."""

    def __init__(self, transport: Transport) -> None:
        self._client = httpx.Client(
            verify=_tls(transport),
            proxy=transport.proxy,
            timeout=transport.timeout,
            follow_redirects=False,
            trust_env=False,
        )

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def send(self, request: Request, *, check: ResponseCheck | None = None) -> Sent:
        """Send ``request``; the outcome says whether it landed (``check`` reads a 2xx body)."""
        try:
            response = self._client.request(
                request.method, request.url, headers=list(request.headers), content=request.body
            )
        except httpx.TimeoutException:
            return Sent(ok=False, retryable=True, message="the endpoint did not answer in time")
        except httpx.TransportError as err:
            return Sent(
                ok=False,
                retryable=True,
                message=f"could not reach the endpoint ({type(err).__name__})",
            )
        code = response.status_code
        if code < 300:
            refused = check(request.url, response.content) if check is not None else None
            return Sent(ok=False, message=refused) if refused else Sent(ok=True)
        retryable = code == 429 or code >= 500
        return Sent(ok=False, retryable=retryable, message=f"the endpoint answered HTTP {code}")
