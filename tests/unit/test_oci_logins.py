"""Registry logins remembered between clients: per credentials, until they expire, bounded."""

from __future__ import annotations

from shared.oci.auth import RegistryCredentials
from shared.oci.logins import Login, LoginCache, LoginKey


def test_a_remembered_login_expires_and_is_kept_per_credentials() -> None:
    now = [100.0]
    cache = LoginCache(clock=lambda: now[0])
    alice = LoginKey.of(
        "r:5000", "app", actions="pull", credentials=RegistryCredentials("a", "hunter2")
    )
    bob = LoginKey.of("r:5000", "app", actions="pull", credentials=RegistryCredentials("b", "2"))
    cache.put(alice, Login("Bearer t", "http"), seconds=60)
    assert cache.get(alice) == Login("Bearer t", "http")
    assert cache.get(bob) is None
    assert "Bearer" not in repr(cache) and "Bearer" not in repr(cache.get(alice))
    assert "hunter2" not in repr(alice)  # the key holds a hash of the credentials
    now[0] += 49
    assert cache.get(alice) is not None
    now[0] += 2
    assert cache.get(alice) is None


def test_the_login_cache_keeps_at_most_its_capacity() -> None:
    cache = LoginCache(capacity=2)
    keys = [
        LoginKey.of("h", f"r{n}", actions="pull", credentials=RegistryCredentials())
        for n in range(3)
    ]
    for key in keys:
        cache.put(key, Login("", "https"), seconds=60)
    assert [cache.get(key) is not None for key in keys] == [False, True, True]
