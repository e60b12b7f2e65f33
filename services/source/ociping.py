"""Does an OCI registry answer and take these credentials? GET /v2/, as `helm registry login`.

The distribution API's ping: ``/v2/`` answers 200 (open) or 401 with a
challenge. A ``Basic`` challenge is answered with the credentials; a
``Bearer`` challenge by the token exchange (the realm, with basic auth,
gives a token that ``/v2/`` must then accept). Without credentials any
answer of the API is enough: Flux does not log in then either, and a pull
fails later with the registry's own words. Plain HTTP only with ``insecure``.

::

    RegistryError
    ├── RegistryUnreachable   no answer, or no distribution API at that address
    └── RegistryLoginError    the registry refused the credentials
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from services.source.helmauth import RepositoryAuth

__all__ = ["RegistryError", "RegistryLoginError", "RegistryUnreachable", "check_registry"]

_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(RuntimeError):
    """The registry check failed; the message names the address, never credentials."""


class RegistryUnreachable(RegistryError):
    """The registry did not answer, or not as a distribution registry."""


class RegistryLoginError(RegistryError):
    """The registry refused the credentials."""


def registry_ping_url(auth: RepositoryAuth) -> str:
    """``https://host[:port]/v2/`` (``http://`` with ``insecure``) of ``oci://host/path``."""
    host = urlsplit(auth.url).netloc
    return f"{'http' if auth.insecure else 'https'}://{host}/v2/"


def check_registry(auth: RepositoryAuth) -> None:
    """Return when the registry answers and, with credentials, logs them in; else RegistryError."""
    url = registry_ping_url(auth)
    credentials = (auth.username, auth.password) if auth.has_login else None
    try:
        client = auth.client()
        first = client.get(url)
        if first.status_code == 200:
            return
        if first.status_code != 401:
            raise RegistryUnreachable(
                f"{url} answered {first.status_code} {first.reason_phrase}: "
                "not an OCI distribution registry"
            )
        if credentials is None:
            return  # it answers; without credentials there is nothing to log in
        challenge = first.headers.get("WWW-Authenticate", "")
        if challenge.lower().startswith("bearer"):
            answer = _bearer(client, url, challenge, credentials)
        else:
            answer = client.get(url, auth=credentials)
    except httpx.HTTPError as err:
        raise RegistryUnreachable(f"{url}: {err or type(err).__name__}") from err
    if answer.status_code != 200:
        raise RegistryLoginError(
            f"login attempt to {url} failed with status: {answer.status_code} "
            f"{answer.reason_phrase}"
        )


def _bearer(
    client: httpx.Client, url: str, challenge: str, credentials: tuple[str, str]
) -> httpx.Response:
    """The token exchange of a ``Bearer realm=...,service=...`` challenge, then ``/v2/`` again."""
    params = dict(_PARAM.findall(challenge))
    realm = params.pop("realm", "")
    if not realm:
        raise RegistryUnreachable(f"{url}: a Bearer challenge without a realm")
    token_answer = client.get(realm, params=params, auth=credentials)
    if token_answer.status_code != 200:
        return token_answer
    try:
        body = token_answer.json()
        token = str(body.get("token") or body.get("access_token") or "")
    except (ValueError, AttributeError):
        token = ""
    if not token:
        raise RegistryLoginError(f"the token service {realm} gave no token")
    return client.get(url, headers={"Authorization": f"Bearer {token}"})
