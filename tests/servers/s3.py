"""A real S3-compatible server for tests: versitygw's posix backend on a temp dir.

versitygw is built from its Go module by ``make tools`` (hack/tools.sh). It
listens on loopback with one root account (``access_key`` / ``secret_key``),
over HTTP or, with ``tls=True``, HTTPS with a certificate from a fresh test CA
(``ca_cert``). Its S3 access log is how a test counts what a client did on
the server side: :meth:`S3Server.body_gets` counts successful GetObject
requests, the only ones that send an object's body.
"""

from __future__ import annotations

import io
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from minio import Minio

from shared.redisserver import free_port
from shared.sandbox.certs import write_credentials
from shared.tools import find_tool
from tests.servers.process import (
    ServerStartError,
    port_open,
    start_process,
    stop_process,
    wait_until_ready,
)

__all__ = ["S3Server"]

REGION = "us-east-1"


@dataclass
class S3Server:
    """One versitygw process serving the buckets under ``state_dir / "root"``."""

    state_dir: Path
    tls: bool = False
    access_key: str = "sluice-test"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``: what a Bucket's ``spec.endpoint`` says."""
        return f"127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """The CA that signed the server's certificate (with ``tls=True``)."""
        return self.state_dir / "certs" / "ca.crt"

    @property
    def access_log(self) -> Path:
        return self.state_dir / "access.log"

    def start(self, timeout: float = 30.0) -> None:
        """Start versitygw and wait until it accepts connections."""
        binary = find_tool("versitygw")
        if binary is None:
            raise ServerStartError("versitygw not found: run `make tools` (hack/tools.sh)")
        root = self.state_dir / "root"
        root.mkdir(parents=True, exist_ok=True)
        argv = [
            str(binary),
            "--port",
            self.endpoint,
            "--region",
            REGION,
            "--access-log",
            str(self.access_log),
            "--quiet",
        ]
        if self.tls:
            creds = write_credentials(self.state_dir / "certs")
            argv += ["--cert", str(creds.serving_cert), "--key", str(creds.serving_key)]
        # The root account's keys go in the environment, never in argv (ps shows argv).
        env = {"ROOT_ACCESS_KEY": self.access_key, "ROOT_SECRET_KEY": self.secret_key}
        env["PATH"] = "/usr/bin:/bin"
        log_path = self.state_dir / "versitygw.log"
        self.process = start_process([*argv, "posix", str(root)], log_path=log_path, env=env)
        wait_until_ready(
            self.process,
            lambda: port_open(self.port),
            what="versitygw",
            log_path=log_path,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Stop the server."""
        stop_process(self.process)
        self.process = None

    def client(self) -> Minio:
        """An S3 client with the root account's keys."""
        http = None
        if self.tls:
            http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(self.ca_cert))
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.tls,
            region=REGION,
            http_client=http,
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name``."""
        self.client().make_bucket(name)

    def put(self, bucket: str, key: str, data: bytes | str) -> None:
        """Write object ``key`` (a new etag when the bytes change)."""
        body = data.encode() if isinstance(data, str) else data
        self.client().put_object(bucket, key, io.BytesIO(body), len(body))

    def put_all(self, bucket: str, objects: dict[str, bytes | str]) -> None:
        """Write each object of ``objects`` (key -> bytes)."""
        for key, data in objects.items():
            self.put(bucket, key, data)

    def delete(self, bucket: str, key: str) -> None:
        """Delete object ``key``."""
        self.client().remove_object(bucket, key)

    def body_gets(self, bucket: str, key: str | None = None) -> int:
        """How many GetObject requests on ``bucket`` (``key`` only, if given) sent a body.

        Read from the server's S3 access log: one line per request, with the
        operation, the key and the HTTP status as fields 7, 8 and 10 (counted
        from 0; the bracketed time holds one space). Test keys hold no space.
        """
        try:
            lines = self.access_log.read_text().splitlines()
        except FileNotFoundError:
            return 0
        count = 0
        for line in lines:
            fields = line.split(" ")
            if len(fields) < 11 or fields[1] != bucket:
                continue
            operation, object_key, status = fields[7], fields[8], fields[10]
            if operation != "s3_GetObject" or status not in ("200", "206"):
                continue
            if key is None or object_key == key:
                count += 1
        return count
