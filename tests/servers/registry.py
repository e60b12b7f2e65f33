"""A real OCI distribution registry (Debian's docker-registry) and a tiny image pusher."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tarfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.redisserver import free_port
from tests.servers.process import ServerStartError, start_process, stop_process, wait_until_ready
from tests.servers.registryauth import RegistryTls, TokenService

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "INDEX_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "OciRegistry",
    "bcrypt_hash",
]

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REALM = "sluice-test-registry"


def bcrypt_hash(password: str) -> str | None:
    """A bcrypt hash for an htpasswd file, or None when this Python cannot make one."""
    try:
        import bcrypt  # type: ignore[import-not-found, unused-ignore]

        hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
        return hashed.decode()
    except ImportError:
        pass
    # The stdlib crypt module (3.11/3.12 only) reaches libxcrypt, which knows bcrypt on Debian.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
    method = getattr(crypt, "METHOD_BLOWFISH", None)
    if method is None:
        return None
    hashed_text = crypt.crypt(password, crypt.mksalt(method, rounds=16))
    return hashed_text if hashed_text and hashed_text.startswith("$2") else None


@dataclass
class OciRegistry:
    """One docker-registry process with its storage in ``state_dir``."""

    state_dir: Path
    username: str | None = None
    password: str | None = None
    # Log every request (combined log format) to registry.log, for tests that count them.
    access_log: bool = False
    # Bearer tokens from this service instead of htpasswd, and TLS with client certificates.
    token: TokenService | None = None
    tls: RegistryTls | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of an image reference."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The registry's base URL."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def image(self, repo: str, tag: str | None = None) -> str:
        """An image reference such as ``127.0.0.1:PORT/app:1.0.0``."""
        return f"{self.host}/{repo}" + (f":{tag}" if tag else "")

    def client(self) -> httpx.Client:
        """An httpx client for the registry API, with the credentials if auth is on."""
        auth = (self.username, self.password) if self.username and self.password else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=30)

    def start(self, timeout: float = 20.0) -> None:
        """Write the config, start the registry, and wait until GET /v2/ answers."""
        binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        if not Path(binary).exists():
            raise ServerStartError("docker-registry not found: install Debian's docker-registry")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "config.yml"
        # JSON is YAML, so the config needs no YAML writer.
        config.write_text(json.dumps(self._config(), indent=2))
        # REGISTRY_* variables override the config file; none of the machine's may leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        log_path = self.state_dir / "registry.log"
        self.process = start_process([binary, "serve", str(config)], log_path=log_path, env=env)
        wait_until_ready(
            self.process,
            self._answers,
            what="docker-registry",
            log_path=log_path,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Stop the registry."""
        stop_process(self.process)
        self.process = None

    def push_image(
        self,
        repo: str,
        tag: str,
        *,
        files: dict[str, bytes] | None = None,
        config: dict[str, Any] | None = None,
    ) -> str:
        """Push a one-layer OCI image holding ``files`` as ``repo:tag``; return its digest.
        ``config`` adds fields to the image config (``created``, ``container_config``...)."""
        layer_tar = _tar(files if files is not None else {"hello.txt": b"hello from sluice\n"})
        layer = gzip.compress(layer_tar, mtime=0)
        config_blob = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
                **(config or {}),
            },
            sort_keys=True,
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": _descriptor(CONFIG_MEDIA_TYPE, config_blob),
                "layers": [_descriptor(LAYER_MEDIA_TYPE, layer)],
            },
            sort_keys=True,
        ).encode()
        with self.client() as client:
            for blob in (config_blob, layer):
                self._upload_blob(client, repo, blob)
            response = client.put(
                f"/v2/{repo}/manifests/{tag}",
                content=manifest,
                headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            )
            response.raise_for_status()
        digest = _digest(manifest)
        served = response.headers.get("Docker-Content-Digest", digest)
        if served != digest:
            raise RuntimeError(f"registry stored {repo}:{tag} as {served}, expected {digest}")
        return digest

    def push_index(self, repo: str, tag: str, platforms: list[tuple[str, str, str]]) -> str:
        """Push an image index of ``(digest, os, architecture)`` manifests already in ``repo``
        as ``repo:tag``; return its digest."""
        entries = []
        with self.client() as client:
            for digest, os_name, arch in platforms:
                got = client.get(
                    f"/v2/{repo}/manifests/{digest}", headers={"Accept": MANIFEST_MEDIA_TYPE}
                )
                got.raise_for_status()
                entry = _descriptor(MANIFEST_MEDIA_TYPE, got.content)
                entries.append({**entry, "platform": {"os": os_name, "architecture": arch}})
            index = json.dumps(
                {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries},
                sort_keys=True,
            ).encode()
            client.put(
                f"/v2/{repo}/manifests/{tag}",
                content=index,
                headers={"Content-Type": INDEX_MEDIA_TYPE},
            ).raise_for_status()
        return _digest(index)

    def list_tags(self, repo: str) -> list[str]:
        """The tags of ``repo``; empty when it has none or does not exist."""
        with self.client() as client:
            response = client.get(f"/v2/{repo}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return list(response.json().get("tags") or [])

    def manifest_digest(self, repo: str, reference: str) -> str | None:
        """The digest ``repo:reference`` resolves to, or None when it does not exist."""
        with self.client() as client:
            response = client.head(
                f"/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_MEDIA_TYPE}
            )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        digest: str | None = response.headers.get("Docker-Content-Digest")
        return digest

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete the manifest ``digest`` (and with it every tag pointing at it)."""
        with self.client() as client:
            client.delete(f"/v2/{repo}/manifests/{digest}").raise_for_status()

    def requests(self, method: str, path_part: str, *, status: int | None = None) -> int:
        """How many ``method`` requests for a path containing ``path_part`` were served
        (answered with ``status``, when given; needs ``access_log``)."""
        log = self.state_dir / "registry.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        # Combined log format: "GET /v2/app/tags/list HTTP/1.1" 401 151 ...
        answered = f'" {status} ' if status is not None else ""
        return sum(
            1
            for line in text.splitlines()
            if f'"{method} ' in line and path_part in line and answered in line
        )

    def _upload_blob(self, client: httpx.Client, repo: str, blob: bytes) -> None:
        digest = _digest(blob)
        if client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
            return
        started = client.post(f"/v2/{repo}/blobs/uploads/")
        started.raise_for_status()
        location = httpx.URL(self.url).join(started.headers["Location"])
        done = client.put(
            location.copy_merge_params({"digest": digest}),
            content=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
        done.raise_for_status()

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": not self.access_log}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.state_dir / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.username is not None and self.password is not None:
            hashed = bcrypt_hash(self.password)
            if hashed is None:
                raise ServerStartError(
                    "registry auth needs bcrypt: install the bcrypt package or use Python < 3.13"
                )
            htpasswd = self.state_dir / "htpasswd"
            htpasswd.write_text(f"{self.username}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": REALM, "path": str(htpasswd)}}
        if self.token is not None:
            config["auth"] = self.token.registry_config()
        if self.tls is not None:
            config["http"]["tls"] = self.tls.registry_config()
        return config

    def _answers(self) -> bool:
        if self.tls is not None:
            return self._answers_tls()
        try:
            response = httpx.get(f"{self.url}/v2/", timeout=1)
        except httpx.HTTPError:
            return False
        return response.status_code in (200, 401)

    def _answers_tls(self) -> bool:
        assert self.tls is not None
        cert = (str(self.tls.directory / "client.crt"), str(self.tls.directory / "client.key"))
        context = ssl.create_default_context(cafile=str(self.tls.directory / "ca.crt"))
        if self.tls.client_auth:
            context.load_cert_chain(*cert)
        try:
            response = httpx.get(f"{self.url}/v2/", timeout=1, verify=context)
        except httpx.HTTPError:
            return False
        return response.status_code in (200, 401)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


def _tar(files: dict[str, bytes]) -> bytes:
    """A reproducible tar (fixed mode and mtime, sorted names): equal files, equal digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()
