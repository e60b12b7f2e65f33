"""The pinned ``helm`` binary: package a chart and build its dependencies.

Every run goes through ``shared.toolrun`` (memory, CPU and time caps) with a
private, owner-only home: helm's cache, config and data directories, and the
repository and registry configuration that carry credentials, live in a
temporary directory of mode 0700 that is removed after the run. Credentials
reach helm only through those files, never through argv or the environment,
and any secret that helm echoes back in an error is masked before the message
leaves this module.

Exceptions::

    HelmError            helm failed (its stderr, masked, in the message)
     └── HelmLimitError  helm hit a memory, CPU or time cap
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared.private import mask, private_dir, write_private
from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool
from shared.tools import require_tool
from shared.yaml import dump

__all__ = [
    "HelmError",
    "HelmLimitError",
    "RepositoryLogin",
    "build_dependencies",
    "package",
]

_MAX_MESSAGE = 2000


class HelmError(RuntimeError):
    """helm failed; the message holds its error output with every secret masked."""


class HelmLimitError(HelmError):
    """helm was stopped by a memory, CPU or time cap."""


@dataclass(frozen=True, repr=False)
class RepositoryLogin:
    """How helm logs in to one chart repository (HTTP) or registry host (OCI).

    ``url`` is the repository URL as a chart's dependency names it (HTTP), or
    the registry host (OCI). PEM bytes for TLS are written to private files.
    """

    url: str
    username: str = ""
    password: str = ""
    ca_pem: bytes = b""
    cert_pem: bytes = b""
    key_pem: bytes = b""
    insecure_skip_tls_verify: bool = False
    pass_credentials: bool = False
    # OCI only: the registry speaks plain HTTP (a HelmRepository's ``insecure``).
    plain_http: bool = False

    def __repr__(self) -> str:
        return f"RepositoryLogin(url={self.url!r}, username=***, password=***)"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a message."""
        return tuple(s for s in (self.password, self.key_pem.decode(errors="replace")) if s)


def _env(home: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "TMPDIR": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        # Helm 4's cache of the charts it pulls (new in 4): it defaults under
        # HELM_CACHE_HOME, named here so every folder helm writes is listed.
        "HELM_CONTENT_CACHE": str(home / "cache" / "content"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(home / "cache" / "repository"),
        "HELM_REGISTRY_CONFIG": str(home / "registry.json"),
    }
    # A proxy or CA bundle the worker was given reaches helm too.
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        for spelling in (name, name.lower()):
            if spelling in os.environ:
                env[spelling] = os.environ[spelling]
    return env


def _run(
    args: Sequence[str], *, home: Path, limits: ToolLimits, cwd: Path, secrets: Sequence[str]
) -> str:
    helm = require_tool("helm")
    try:
        done = run_tool([str(helm), *args], limits=limits, env=_env(home), cwd=cwd)
    except ToolLimitExceeded as err:
        raise HelmLimitError(str(err)) from None
    except OSError as err:
        raise HelmError(f"cannot run helm ({helm}): {err.strerror}") from err
    stdout = done.stdout.decode("utf-8", errors="replace")
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace").removeprefix("Error: ")
        # helm prints why a repository could not be read as a warning on stdout
        # ("...Unable to get an update from ...: 401 Unauthorized") and then
        # fails on what that left missing: both say what went wrong.
        text = "; ".join([*_warnings(stdout), stderr.strip()])
        # Private paths change every run and mean nothing to the reader.
        text = text.replace(str(home), "$HELM_HOME").replace(str(cwd), "<chart>")
        raise HelmError(mask(text, secrets, limit=_MAX_MESSAGE))
    return stdout


def _warnings(stdout: str) -> list[str]:
    """helm's "...Unable to ..." warnings, each with its indented detail line(s)."""
    found: list[str] = []
    for line in stdout.splitlines():
        if "Unable to" in line:
            found.append(line.strip(". :"))
        elif line.startswith(("\t", " ")) and found:
            found[-1] += f": {line.strip()}"
    return found


def _repositories_file(home: Path, logins: Sequence[RepositoryLogin]) -> None:
    entries = []
    for index, login in enumerate(logins):
        entry: dict[str, object] = {
            "name": f"repo-{index}",
            "url": login.url,
            "username": login.username,
            "password": login.password,
            "insecure_skip_tls_verify": login.insecure_skip_tls_verify,
            "pass_credentials_all": login.pass_credentials,
        }
        for field, pem, suffix in (
            ("caFile", login.ca_pem, "ca.crt"),
            ("certFile", login.cert_pem, "tls.crt"),
            ("keyFile", login.key_pem, "tls.key"),
        ):
            if pem:
                entry[field] = str(write_private(home / f"repo-{index}-{suffix}", pem))
        entries.append(entry)
    document = {"apiVersion": "", "generated": "0001-01-01T00:00:00Z", "repositories": entries}
    write_private(home / "repositories.yaml", dump(document).encode())


def _registry_file(home: Path, logins: Sequence[RepositoryLogin]) -> None:
    auths = {}
    for login in logins:
        if login.username or login.password:
            token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
            # Registries are keyed by host: oci://host:5000/charts logs in to host:5000.
            host = urlsplit(login.url).netloc if "://" in login.url else login.url
            auths[host] = {"auth": token}
    write_private(home / "registry.json", json.dumps({"auths": auths}).encode())


def build_dependencies(
    chart_dir: Path, *, logins: Sequence[RepositoryLogin], limits: ToolLimits
) -> None:
    """``helm dependency build``: fill ``charts/`` from Chart.lock, else from Chart.yaml.

    ``logins`` are the repositories whose credentials helm may use; a
    dependency from any other repository is fetched without credentials.
    """
    secrets = [s for login in logins for s in login.secrets]
    with private_dir("sluice-helm-") as home:
        _repositories_file(home, [lg for lg in logins if not lg.url.startswith("oci://")])
        _registry_file(home, [lg for lg in logins if lg.url.startswith("oci://")])
        args = ["dependency", "build", str(chart_dir)]
        if any(lg.plain_http for lg in logins if lg.url.startswith("oci://")):
            args.append("--plain-http")  # helm has no per-registry setting
        _run(
            args,
            home=home,
            limits=limits,
            cwd=chart_dir,
            secrets=secrets,
        )


def package(chart_dir: Path, *, version: str, dest: Path, limits: ToolLimits) -> Path:
    """``helm package`` of ``chart_dir`` at ``version`` into ``dest``; the .tgz written."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    with private_dir("sluice-helm-") as home:
        _run(
            ["package", str(chart_dir), "--version", version, "--destination", str(dest)],
            home=home,
            limits=limits,
            cwd=chart_dir,
            secrets=(),
        )
    written = [p for p in dest.iterdir() if p not in before and p.suffix == ".tgz"]
    if len(written) != 1:
        raise HelmError(f"helm package wrote {len(written)} archives, expected one")
    return written[0]
