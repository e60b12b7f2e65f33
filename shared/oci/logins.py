"""Registry logins remembered between clients, so a repeated scan sends one request.

A fresh ``RegistryClient`` learns how to log in from a 401: the request, the
challenge, a token from the realm, the request again (three round trips, and
go-containerregistry adds a ``GET /v2/`` ping). A service that scans the same
repository every minute can keep the ``Authorization`` it ended with and send
it on the first request of the next client; a registry that refuses it (an
expired token) answers 401 and the client logs in again as if it had none.
The scheme that answered is remembered too and tried first (a loopback
registry's failed HTTPS handshake is not repeated), never alone: a registry
that moved to TLS answers the remembered plain HTTP with 400, and the client
then starts afresh.

The key is the registry's API host, the repository, the actions and a SHA-256
fingerprint of the credentials, so two ImageRepositories with different
Secrets never share a login. Entries expire with the token (``expires_in``,
60 s by the distribution token spec when absent), less a margin; the cache
holds at most ``capacity`` entries, the oldest dropped first. It lives in the
process's memory only, and its repr shows no value.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.oci.auth import RegistryCredentials

__all__ = ["BASIC_SECONDS", "DEFAULT_TOKEN_SECONDS", "Login", "LoginCache", "LoginKey"]

DEFAULT_TOKEN_SECONDS = 60.0
_MARGIN_SECONDS = 10.0
BASIC_SECONDS = 300.0  # a Basic login does not expire; re-check it now and then


@dataclass(frozen=True)
class Login:
    """What a client learned: the ``Authorization`` it sends ("" for anonymous) and the scheme
    the registry answered on (a loopback registry's HTTPS attempt is not repeated)."""

    authorization: str = field(default="", repr=False)
    scheme: str = ""


@dataclass(frozen=True)
class LoginKey:
    """Which login: the API host, repository, actions and a fingerprint of the credentials."""

    host: str
    repository: str
    actions: str
    fingerprint: str

    @classmethod
    def of(
        cls, host: str, repository: str, *, actions: str, credentials: RegistryCredentials
    ) -> LoginKey:
        """The key for ``credentials`` (hashed: the key may be logged, the secret never)."""
        material = "\0".join(
            (credentials.username, credentials.password, credentials.identity_token)
        )
        return cls(host, repository, actions, hashlib.sha256(material.encode()).hexdigest())


class LoginCache:
    """Logins by LoginKey, until they expire; thread-safe."""

    def __init__(
        self, *, capacity: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[LoginKey, tuple[Login, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LoginCache({len(self._entries)} logins)"

    def get(self, key: LoginKey) -> Login | None:
        """The remembered login for ``key``, or None when none is fresh."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[key]
                return None
            return entry[0]

    def put(self, key: LoginKey, login: Login, *, seconds: float) -> None:
        """Remember ``login`` for ``seconds`` (less a margin; nothing when too short)."""
        lifetime = seconds - _MARGIN_SECONDS if seconds > 2 * _MARGIN_SECONDS else seconds / 2
        if lifetime <= 0:
            return
        with self._lock:
            self._entries[key] = (login, self._clock() + lifetime)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, key: LoginKey) -> None:
        """Drop ``key``'s login (the registry refused it)."""
        with self._lock:
            self._entries.pop(key, None)
