"""Where Redis' password comes from: the URL, else the password file; never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.redisconn import RedisPasswordError, broker_url, redis_password
from shared.settings import load_settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://:pw%2Fx@127.0.0.1:6379/0"),
        ("redis://sluice@10.0.0.5:6380/2", "redis://sluice:pw%2Fx@10.0.0.5:6380/2"),
        ("rediss://sluice@redis.example:6380/0", "rediss://sluice:pw%2Fx@redis.example:6380/0"),
        ("redis://sluice:other@h:1/0", "redis://sluice:other@h:1/0"),
    ],
)
def test_the_password_file_fills_in_a_url_without_password(
    tmp_path: Path, url: str, expected: str
) -> None:
    (tmp_path / "pw").write_text("pw/x\n")
    settings = load_settings(
        {"SLUICE_REDIS_URL": url, "SLUICE_REDIS_PASSWORD_FILE": str(tmp_path / "pw")}
    )
    assert broker_url(settings) == expected


def test_without_a_password_file_the_url_is_used_as_given() -> None:
    settings = load_settings({"SLUICE_REDIS_URL": "redis://h:1/0"})
    assert (broker_url(settings), redis_password(settings)) == ("redis://h:1/0", None)


@pytest.mark.parametrize(("content", "says"), [(None, "cannot read it"), ("\n", "is empty")])
def test_a_missing_or_empty_password_file_is_named(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content)
    settings = load_settings({"SLUICE_REDIS_PASSWORD_FILE": str(path)})
    with pytest.raises(RedisPasswordError, match=says) as caught:
        redis_password(settings)
    assert str(path) in str(caught.value)
