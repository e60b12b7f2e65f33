"""SOPS decryption in the build layer, with the real sops, age-keygen and kustomize."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from services.kustomize.build import BuildCache, BuildOptions, build, build_cached, render
from services.kustomize.decrypt import (
    Decryption,
    DecryptionFailed,
    decrypt_objects,
    decryption_keys,
    is_encrypted,
)
from services.kustomize.manifests import parse_objects
from services.kustomize.substitute import PostBuild
from shared.api import Kustomization, parse_as
from shared.secrets import SecretCipher
from shared.settings import Settings
from shared.store import Store
from tests.leaks import file_bytes
from tests.sops import AgeKey, Sops, find_sops

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
stringData:
  password: {password}
"""
DIGEST = "sha256:" + "ef" * 32
CIPHER = SecretCipher(SecretCipher.generate_key())


@pytest.fixture
def sops() -> Sops:
    return find_sops()


@pytest.fixture
def key(sops: Sops) -> AgeKey:
    return sops.new_key()


@pytest.fixture
def options(tmp_path: Path) -> BuildOptions:
    work = tmp_path / "work"
    work.mkdir()
    # kustomize=None: found as the reconcile finds it (skips via require_tool's message).
    return BuildOptions(work_dir=work)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def encrypted_secret(sops: Sops, key: AgeKey, password: str, **annotations: str) -> dict[str, Any]:
    text = SECRET.format(password=password)
    if annotations:
        lines = "".join(f"    {k}: {v}\n" for k, v in annotations.items())
        text = text.replace("metadata:\n", f"metadata:\n  annotations:\n{lines}", 1)
    [obj] = parse_objects(sops.encrypt(text, key.recipient), source="test")
    return obj


def test_an_encrypted_secret_is_decrypted_before_substitution(
    tmp_path: Path, sops: Sops, key: AgeKey, options: BuildOptions
) -> None:
    write(tmp_path / "secret.yaml", sops.encrypt(SECRET.format(password="p-${env}"), key.recipient))
    objects = render(
        tmp_path,
        options=options,
        post_build=PostBuild(substitute={"env": "prod"}),
        decryption=Decryption((key.identity,)),
    )
    assert [o["stringData"] for o in objects] == [{"password": "p-prod"}]
    assert "sops" not in objects[0]


def test_any_of_several_identities_may_match(sops: Sops, key: AgeKey) -> None:
    obj = encrypted_secret(sops, key, "hunter2")
    other = sops.new_key()
    [plain] = decrypt_objects([obj], Decryption((other.identity, key.identity)))
    assert plain["stringData"] == {"password": "hunter2"}


@pytest.mark.parametrize("mark", ["Disabled", "disabled"])
def test_a_document_marked_decrypt_disabled_is_left_encrypted(
    sops: Sops, key: AgeKey, mark: str
) -> None:
    obj = encrypted_secret(sops, key, "hunter2", **{"kustomize.toolkit.fluxcd.io/decrypt": mark})
    assert is_encrypted(obj)
    assert decrypt_objects([obj], None) == [obj]
    assert decrypt_objects([obj], Decryption(("AGE-SECRET-KEY-1NOTUSED",))) == [obj]


def test_an_encrypted_document_without_spec_decryption_fails_naming_it(
    sops: Sops, key: AgeKey
) -> None:
    obj = encrypted_secret(sops, key, "hunter2")
    with pytest.raises(DecryptionFailed) as caught:
        decrypt_objects([obj], None)
    assert "Secret/apps/db is SOPS-encrypted and spec.decryption is not set" in str(caught.value)


def test_a_wrong_key_fails_without_echoing_keys_or_values(sops: Sops, key: AgeKey) -> None:
    obj = encrypted_secret(sops, key, "hunter2")
    wrong = sops.new_key()
    with pytest.raises(DecryptionFailed) as caught:
        decrypt_objects([obj], Decryption((wrong.identity,), "decryption Secret 'ns/sops'"))
    message = str(caught.value)
    assert "Secret/apps/db" in message
    assert "no age identity in decryption Secret 'ns/sops' matches" in message
    for secret in (wrong.identity, key.identity, "hunter2"):
        assert secret not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_a_malformed_key_is_named_as_such(sops: Sops, key: AgeKey) -> None:
    obj = encrypted_secret(sops, key, "hunter2")
    bogus = "AGE-SECRET-KEY-1BOGUS"
    with pytest.raises(
        DecryptionFailed, match="an age key in decryption Secret 'ns/s' is malformed"
    ):
        decrypt_objects([obj], Decryption((bogus,), "decryption Secret 'ns/s'"))


def test_a_tampered_document_fails_with_a_mac_mismatch(sops: Sops, key: AgeKey) -> None:
    obj = encrypted_secret(sops, key, "hunter2")
    obj["metadata"]["name"] = "changed"
    with pytest.raises(DecryptionFailed, match="MAC does not match"):
        decrypt_objects([obj], Decryption((key.identity,)))


def test_decryption_without_a_secret_ref_says_what_is_expected(sops: Sops, key: AgeKey) -> None:
    obj = encrypted_secret(sops, key, "hunter2")
    with pytest.raises(DecryptionFailed, match=r"no secretRef .* \*\.agekey"):
        decrypt_objects([obj], Decryption())


def test_generator_files_are_decrypted_in_the_build_copy_only(
    tmp_path: Path, sops: Sops, key: AgeKey, options: BuildOptions
) -> None:
    artifact = tmp_path / "artifact"
    env_file = write(
        artifact / "app/secret.env",
        sops.encrypt("USER=admin\nPASS=s3cr3t\n", key.recipient, fmt="dotenv"),
    )
    json_file = write(
        artifact / "app/creds.json", sops.encrypt('{"token": "t0k3n"}', key.recipient, fmt="json")
    )
    before = env_file.read_text(), json_file.read_text()
    write(
        artifact / "app/kustomization.yaml",
        "secretGenerator:\n- name: app\n  namespace: apps\n  envs: [secret.env]\n"
        "  files: [creds=creds.json]\n  options: {disableNameSuffixHash: true}\n",
    )
    write(artifact / "kustomization.yaml", "resources: [app]\n")
    [secret] = build(artifact, options=options, decryption=Decryption((key.identity,)))
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["USER"] == "admin" and data["PASS"] == "s3cr3t"
    assert "t0k3n" in data["creds"] and "sops" not in data["creds"]
    assert (env_file.read_text(), json_file.read_text()) == before
    with pytest.raises(
        DecryptionFailed,
        match=r"app/\S+ \(a SOPS-encrypted generator file\).*spec.decryption is not set",
    ):
        build(artifact, options=options)


def test_the_cache_key_follows_the_keys_and_failures_are_not_cached(
    tmp_path: Path, sops: Sops, key: AgeKey, options: BuildOptions
) -> None:
    artifact = tmp_path / "artifact"
    write(artifact / "secret.yaml", sops.encrypt(SECRET.format(password="hunter2"), key.recipient))
    cache = BuildCache(tmp_path / "cache", CIPHER)
    wrong = Decryption((sops.new_key().identity,))
    with pytest.raises(DecryptionFailed):
        build_cached(cache, artifact, digest=DIGEST, options=options, decryption=wrong)
    assert list((tmp_path / "cache").glob("??/*.json")) == []
    right = Decryption((key.identity,))
    objects, hit = build_cached(cache, artifact, digest=DIGEST, options=options, decryption=right)
    assert not hit and objects[0]["stringData"] == {"password": "hunter2"}
    assert build_cached(cache, artifact, digest=DIGEST, options=options, decryption=right)[1]
    rotated = Decryption((key.identity, sops.new_key().identity))
    assert not build_cached(cache, artifact, digest=DIGEST, options=options, decryption=rotated)[1]
    stored = file_bytes(tmp_path / "cache")
    assert b"hunter2" not in stored and key.identity.encode() not in stored
    assert right.cache_key() != rotated.cache_key() and key.identity not in right.cache_key()


def test_keys_are_read_from_the_store_secret_by_agekey_suffix(
    settings: Settings, key: AgeKey
) -> None:
    store = Store.from_settings(settings)
    ks = parse_as(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {
                "interval": "1m",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
            },
        },
        Kustomization,
    )
    with pytest.raises(DecryptionFailed, match="'flux-system/sops-age' not found"):
        decryption_keys(store, ks)
    secret = {"apiVersion": "v1", "kind": "Secret"}
    meta = {"name": "sops-age", "namespace": "flux-system"}
    store.apply({**secret, "metadata": meta, "stringData": {"key.asc": "pgp"}})
    with pytest.raises(
        DecryptionFailed, match=r"has no age key: expected entries named \*\.agekey"
    ):
        decryption_keys(store, ks)
    store.apply(
        {**secret, "metadata": meta, "stringData": {"identity.agekey": key.identity + "\n"}}
    )
    found = decryption_keys(store, ks)
    assert found is not None and found.identities == (key.identity,)
    assert key.identity not in repr(found)
