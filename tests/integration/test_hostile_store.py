"""Hostile input to the store: big applies, big objects, credentials in URLs, a stalled Redis.

Against a real redis-server and the real CLI. What a user would check: sluice
answers with a clear message naming the file, the object and the limit,
stores nothing of a refused file, never blocks Redis for everyone, never
prints a traceback, and never keeps or shows a credential.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from shared.api import validate
from shared.cli.main import app
from shared.keys import ObjectKey
from shared.redisserver import RedisServer
from shared.settings import Settings
from shared.store import InvalidObject, Store
from tests.leaks import redis_bytes
from tests.sluicecli import configmaps_yaml, git_repository_yaml, run_sluice, sluice_env

# Longer than this, a command would hold every other Redis client up noticeably;
# one WATCH of 20,000 keys took 1.9 s on Redis 7.0, of 1,000 keys 8 ms.
SLOW_COMMAND_US = 250_000


@pytest.fixture
def sluice(redis_server: RedisServer, tmp_path: Path) -> Callable[..., tuple[int, str, str]]:
    """The CLI in-process against the test Redis: (exit code, stdout, stderr)."""
    runner = CliRunner()
    env = {"SLUICE_REDIS_URL": redis_server.url, "SLUICE_SECRET_KEY_FILE": str(tmp_path / "key")}

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    return run


# -- big applies never block Redis ---------------------------------------------


def test_a_file_of_more_than_1000_objects_is_refused_naming_the_file_and_the_limit(
    sluice: Callable[..., tuple[int, str, str]], settings: Settings, tmp_path: Path
) -> None:
    big = tmp_path / "many.yaml"
    big.write_text(configmaps_yaml(1001))
    code, out, err = sluice("apply", "-f", str(big))
    assert code == 1
    assert out == ""
    assert f"error: {big}: 1,001 objects in one apply; at most 1,000" in err
    assert "nothing from this file stored" in err
    assert Store.from_settings(settings).list("ConfigMap") == []


def test_a_file_over_8_mib_is_refused_before_it_is_read(
    sluice: Callable[..., tuple[int, str, str]], settings: Settings, tmp_path: Path
) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(configmaps_yaml(9, value_bytes=2**20 - 200))
    code, _, err = sluice("apply", "-f", str(big))
    assert code == 1
    assert f"error: {big}: the file is 9.0 MiB" in err
    assert "at most 8.0 MiB (8,388,608 bytes)" in err
    assert Store.from_settings(settings).list("ConfigMap") == []


def test_an_apply_at_the_limit_never_holds_redis_up_for_other_clients(
    sluice: Callable[..., tuple[int, str, str]], redis_server: RedisServer, tmp_path: Path
) -> None:
    admin = redis_server.client()
    admin.config_set("slowlog-log-slower-than", SLOW_COMMAND_US)
    admin.slowlog_reset()
    full = tmp_path / "full.yaml"
    full.write_text(configmaps_yaml(1000, value_bytes=2000))
    # Another client (as a worker or the scheduler would) writes all along.
    done, answered, failures = threading.Event(), [0], []

    def other_client() -> None:
        client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
        while not done.is_set():
            try:
                client.set("other:client", answered[0])
                answered[0] += 1
            except redis.RedisError as exc:
                failures.append(exc)
                return

    thread = threading.Thread(target=other_client, daemon=True)
    thread.start()
    code, out, err = sluice("apply", "-f", str(full))
    done.set()
    thread.join(timeout=10)
    assert (code, err) == (0, "")
    assert out.count(" created") == 1000
    assert failures == []
    assert answered[0] > 0
    slow = [(e["duration"], e["command"][:40]) for e in admin.slowlog_get(10)]
    assert slow == [], f"commands slower than {SLOW_COMMAND_US} us: {slow}"


def test_a_redis_that_stops_answering_is_a_clear_error_not_a_traceback(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "one.yaml"
    manifest.write_text(configmaps_yaml(1))
    admin = redis_server.client()
    # Writes wait (as behind a huge transaction); reads and this client go on.
    admin.execute_command("CLIENT", "PAUSE", "120000", "WRITE")
    try:
        result = run_sluice(
            sluice_env(redis_server.url, tmp_path, SLUICE_REDIS_TIMEOUT="1"),
            "apply",
            "-f",
            str(manifest),
        )
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: Redis did not answer in time" in result.stderr
    assert "run the command again" in result.stderr


# -- objects over 1 MiB --------------------------------------------------------


def test_an_object_over_1_mib_is_refused_at_apply_naming_it_and_its_size(
    sluice: Callable[..., tuple[int, str, str]], settings: Settings, tmp_path: Path
) -> None:
    manifest = tmp_path / "big-cm.yaml"
    manifest.write_text(configmaps_yaml(1, value_bytes=2**20, prefix="big"))
    code, _, err = sluice("apply", "-f", str(manifest))
    assert code == 1
    assert "(ConfigMap/default/big-0)" in err
    assert "the object is 1.0 MiB (1,048,6" in err
    assert "at most 1 MiB (1,048,576 bytes)" in err
    assert Store.from_settings(settings).list("ConfigMap") == []


def test_the_store_refuses_an_object_over_1_mib_from_a_build_too(settings: Settings) -> None:
    owner = ObjectKey("Kustomization", "flux-system", "fleet")
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": "flux-system"},
        "data": {"v": "x" * 2**20},
    }
    small = {**big, "metadata": {"name": "small", "namespace": "flux-system"}, "data": {}}
    # What a Kustomization's build goes through: validation, then the store.
    [error] = validate(big, source=f"{owner} build")
    assert "ConfigMap/flux-system/big" in str(error)
    assert "at most 1 MiB" in error.message
    store = Store.from_settings(settings)
    with pytest.raises(InvalidObject, match=r"ConfigMap/flux-system/big: the object is 1\.0 MiB"):
        store.apply_all([small, big], owner=owner)
    assert store.list("ConfigMap", "flux-system") == []


# -- credentials in URLs -------------------------------------------------------


def test_a_git_url_with_credentials_is_refused_and_never_stored_or_shown(
    sluice: Callable[..., tuple[int, str, str]], redis_client: redis.Redis, tmp_path: Path
) -> None:
    password = secrets.token_hex(8)
    manifest = tmp_path / "repo.yaml"
    manifest.write_text(
        git_repository_yaml("fleet", f"https://bot:{password}@github.com/org/fleet")
    )
    code, out, err = sluice("apply", "-f", str(manifest))
    assert code == 1
    assert 'spec.url: credentials in the URL "https://***@github.com/org/fleet"' in err
    assert "in a Secret named by spec.secretRef" in err
    assert password not in out + err
    assert password.encode() not in redis_bytes(redis_client)
    assert sluice("get", "gitrepo", "fleet")[0] == 1


def test_redis_keeps_its_files_private_to_the_user(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.set("k", "v")
    redis_client.save()
    modes = {
        str(p.relative_to(redis_server.data_dir)): p.stat().st_mode & 0o777
        for p in redis_server.data_dir.rglob("*")
    }
    assert redis_server.data_dir.stat().st_mode & 0o777 == 0o700
    assert {"redis.conf", "redis.log", "dump.rdb", "appendonlydir"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode not in (0o600, 0o700)} == {}
    assert modes["appendonlydir"] == 0o700
