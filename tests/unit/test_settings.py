from pathlib import Path

import pytest

from shared.keys import ObjectKey
from shared.settings import load_settings


def test_environment_overrides_defaults_with_types() -> None:
    s = load_settings({"SLUICE_REDIS_URL": "redis://h:1/2", "SLUICE_LEASE_TTL": "7"})
    assert s.redis_url == "redis://h:1/2"
    assert s.lease_ttl == 7


def test_config_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "sluice.toml"
    cfg.write_text('redis_url = "redis://file:1/0"\nlease_ttl = 9\n')
    s = load_settings({"SLUICE_CONFIG": str(cfg), "SLUICE_LEASE_TTL": "3"})
    assert (s.redis_url, s.lease_ttl) == ("redis://file:1/0", 3)


def test_unknown_setting_in_file_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "sluice.toml"
    cfg.write_text("redis_uri = 'x'\n")
    with pytest.raises(ValueError, match="redis_uri"):
        load_settings({"SLUICE_CONFIG": str(cfg)})


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="SLUICE_LEASE_TTL"):
        load_settings({"SLUICE_LEASE_TTL": "soon"})


def test_object_key_round_trips() -> None:
    key = ObjectKey("GitRepository", "flux-system", "fleet")
    assert ObjectKey.parse(str(key)) == key
    with pytest.raises(ValueError):
        ObjectKey.parse("GitRepository/fleet")
