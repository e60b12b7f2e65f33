"""Secrets are sealed at rest with the installation's key, and redacted for display."""

from __future__ import annotations

import base64
import json
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from shared.secrets import (
    LAST_APPLIED_ANNOTATION,
    REDACTED,
    SecretCipher,
    SecretKeyError,
    fold_string_data,
    redact,
)
from shared.settings import Settings

PLAIN = "hunter2-correct-horse"
B64 = base64.b64encode(PLAIN.encode()).decode()


def _secret(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git-auth", "namespace": "flux-system"},
        "data": {"password": B64},
        **extra,
    }


def _settings(tmp_path: Path, key: str = "") -> Settings:
    return Settings(secret_key=key, secret_key_file=tmp_path / "cfg" / "secret.key")


def test_sealed_secret_holds_neither_the_value_nor_its_base64() -> None:
    cipher = SecretCipher(SecretCipher.generate_key())
    doc = _secret(stringData={"token": PLAIN})
    doc["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: json.dumps(doc)}
    sealed = json.dumps(cipher.seal(doc))
    assert PLAIN not in sealed
    assert B64 not in sealed
    assert '"password"' in sealed  # keys stay readable, like kubectl describe
    assert cipher.unseal(json.loads(sealed)) == doc


def test_other_kinds_pass_through_unsealed() -> None:
    cipher = SecretCipher(SecretCipher.generate_key())
    config = {"kind": "ConfigMap", "metadata": {"name": "vars"}, "data": {"a": "b"}}
    assert cipher.seal(config) == config
    assert cipher.unseal(config) == config


def test_without_copy_other_kinds_are_returned_as_they_are_and_secrets_still_sealed() -> None:
    cipher = SecretCipher(SecretCipher.generate_key())
    config = {"kind": "ConfigMap", "metadata": {"name": "vars"}, "data": {"a": "b"}}
    assert cipher.seal(config) is not config
    assert cipher.seal(config, copy_other=False) is config
    assert cipher.unseal(config, copy_other=False) is config
    secret = _secret()
    sealed = cipher.seal(secret, copy_other=False)
    assert B64 not in json.dumps(sealed) and secret["data"]["password"] == B64
    assert cipher.unseal(sealed, copy_other=False) == secret


def test_wrong_key_names_the_secret_and_field_but_not_the_value() -> None:
    sealed = SecretCipher(SecretCipher.generate_key()).seal(_secret())
    with pytest.raises(SecretKeyError) as info:
        SecretCipher(SecretCipher.generate_key(), source="SLUICE_SECRET_KEY").unseal(sealed)
    message = str(info.value)
    assert "Secret/flux-system/git-auth data.password" in message
    assert "SLUICE_SECRET_KEY" in message
    assert PLAIN not in message and B64 not in message


def test_an_unsealed_value_in_storage_is_reported_as_damage() -> None:
    with pytest.raises(SecretKeyError, match="not encrypted in the store"):
        SecretCipher(SecretCipher.generate_key()).unseal(_secret())


def test_rotated_keys_decrypt_old_values_and_encrypt_with_the_first() -> None:
    old, new = SecretCipher.generate_key(), SecretCipher.generate_key()
    sealed_with_old = SecretCipher(old).seal(_secret())
    rotated = SecretCipher([new, old])
    assert rotated.unseal(sealed_with_old) == _secret()
    with pytest.raises(SecretKeyError):
        SecretCipher(old).unseal(rotated.seal(_secret()))


def test_key_from_settings_wins_over_the_key_file(tmp_path: Path) -> None:
    key = SecretCipher.generate_key()
    sealed = SecretCipher(key).seal(_secret())
    cipher = SecretCipher.from_settings(_settings(tmp_path, key))
    assert cipher.unseal(sealed) == _secret()
    assert not (tmp_path / "cfg" / "secret.key").exists()


def test_key_file_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    sealed = SecretCipher.from_settings(settings).seal(_secret())
    path = settings.secret_key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert SecretCipher.from_settings(settings).unseal(sealed) == _secret()
    assert path.read_text() == first
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temp files left


def test_processes_starting_together_agree_on_one_key_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ciphers: list[SecretCipher] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        ciphers.append(SecretCipher.from_settings(settings))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sealed = ciphers[0].seal(_secret())
    assert all(c.unseal(sealed) == _secret() for c in ciphers)


@pytest.mark.parametrize("bad", ["not-a-key", "c2hvcnQ=", " "])
def test_malformed_key_is_refused_without_echoing_it(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SecretKeyError) as info:
        SecretCipher.from_settings(_settings(tmp_path, bad + ","))
    assert "SLUICE_SECRET_KEY" in str(info.value)
    assert bad.strip() == "" or bad not in str(info.value)


def test_malformed_key_file_names_the_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.secret_key_file.parent.mkdir()
    settings.secret_key_file.write_text("garbage\n")
    with pytest.raises(SecretKeyError, match=r"secret key file .*secret\.key is not a Fernet key"):
        SecretCipher.from_settings(settings)


def test_string_data_folds_into_base64_data() -> None:
    folded = fold_string_data(_secret(stringData={"user": "git", "password": PLAIN}))
    assert "stringData" not in folded
    assert folded["data"] == {"password": B64, "user": base64.b64encode(b"git").decode()}


def test_redact_hides_every_secret_value_and_leaves_the_input_alone() -> None:
    doc = _secret(stringData={"token": PLAIN})
    doc["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: json.dumps(doc), "team": "a"}
    before = json.dumps(doc)
    shown = redact(doc)
    assert json.dumps(doc) == before
    assert shown["data"] == {"password": REDACTED}
    assert shown["stringData"] == {"token": REDACTED}
    assert shown["metadata"]["annotations"] == {LAST_APPLIED_ANNOTATION: REDACTED, "team": "a"}
    assert PLAIN not in json.dumps(shown) and B64 not in json.dumps(shown)


def test_redact_reaches_into_lists_and_keeps_other_kinds() -> None:
    config = {"kind": "ConfigMap", "metadata": {"name": "vars"}, "data": {"a": "b"}}
    shown = redact({"kind": "List", "items": [_secret(), config]})
    assert shown["items"][0]["data"] == {"password": REDACTED}
    assert shown["items"][1] == config
