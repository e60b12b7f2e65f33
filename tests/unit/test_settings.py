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


def test_two_data_dirs_share_no_folder(tmp_path: Path) -> None:
    one = load_settings({"SLUICE_DATA_DIR": str(tmp_path / "one")})
    two = load_settings({"SLUICE_DATA_DIR": str(tmp_path / "two")})
    assert (one.artifact_dir, one.cache_dir) == (tmp_path / "one/artifacts", tmp_path / "one/cache")
    assert (two.artifact_dir, two.cache_dir) == (tmp_path / "two/artifacts", tmp_path / "two/cache")


def test_artifact_and_cache_dirs_set_on_their_own_win_over_the_data_dir(tmp_path: Path) -> None:
    s = load_settings(
        {"SLUICE_DATA_DIR": str(tmp_path / "data"), "SLUICE_ARTIFACT_DIR": str(tmp_path / "a")}
    )
    assert (s.artifact_dir, s.cache_dir) == (tmp_path / "a", tmp_path / "data/cache")


def test_the_default_install_keeps_its_folders_under_one_data_dir() -> None:
    s = load_settings({})
    assert s.artifact_dir.parent == s.cache_dir.parent == s.data_dir


def test_redis_password_file_is_a_path_and_empty_means_none(tmp_path: Path) -> None:
    assert load_settings({}).redis_password_file is None
    assert load_settings({"SLUICE_REDIS_PASSWORD_FILE": ""}).redis_password_file is None
    s = load_settings({"SLUICE_REDIS_PASSWORD_FILE": str(tmp_path / "pw")})
    assert s.redis_password_file == tmp_path / "pw"
