"""Process configuration: environment variables over an optional TOML file over defaults.

Every sluice process (CLI, workers, scheduler) reads the same settings, so a
worker started on another machine needs only ``SLUICE_REDIS_URL`` (with
``SLUICE_REDIS_PASSWORD_FILE`` when Redis wants a password) and the secret key
to join an installation.

Everything an installation keeps on disk lives under ``data_dir``: artifacts,
the cache (Git mirrors, fetched artifacts, kustomize builds), and for ``sluice
up`` its logs and Redis. ``artifact_dir`` and ``cache_dir`` follow ``data_dir``
unless set themselves, so two installations with two data dirs share nothing.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings", "load_settings"]


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "sluice"


_DATA_HOME = _data_home()


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))


@dataclass(frozen=True)
class Settings:
    """Settings shared by every sluice process. Field ``x_y`` reads ``SLUICE_X_Y``."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # A file holding Redis' password (one line), for URLs that carry none: the
    # password then never appears in an environment, argv or printed URL.
    redis_password_file: Path | None = None
    # Seconds one Redis command may take before the client gives up; above the
    # longest blocking read sluice makes (1 s).
    redis_timeout: float = 15.0
    # Fernet key (urlsafe base64, 32 bytes) for Secrets at rest; when empty the
    # key is read from (or created once in) secret_key_file.
    secret_key: str = ""
    secret_key_file: Path = _config_home() / "sluice" / "secret.key"
    tools_dir: Path = _cache_home() / "sluice" / "tools"
    # The installation's state on this machine; artifact_dir and cache_dir
    # default to folders in it (see load_settings).
    data_dir: Path = _DATA_HOME
    # Artifacts are written by source workers into artifact_dir and served at
    # artifact_url (the artifact server); other machines fetch them over HTTP.
    artifact_dir: Path = _DATA_HOME / "artifacts"
    artifact_url: str = "http://127.0.0.1:9090"
    # HOST:PORT where the source worker serves artifact_dir itself, as Flux's
    # source-controller serves its storage: one process less than a separate
    # `sluice artifact-server`, for installations whose source workers share the
    # folder or run as one. Empty: a separate artifact server serves it.
    artifact_listen: str = ""
    artifact_retention: int = 2
    # Git mirrors, extracted artifacts and kustomize builds, per machine.
    cache_dir: Path = _DATA_HOME / "cache"
    # How long a dependent waits before looking at its dependencies again.
    requeue_dependency: float = 30.0
    # Connection timeout towards target clusters: a down cluster fails fast.
    cluster_timeout: float = 10.0
    # Kubeconfigs naming an http:// server send their credentials in clear
    # text: refused unless this is set (a local test cluster without TLS).
    allow_http_clusters: bool = False
    # Multi-tenancy lockdown, as Flux's --no-cross-namespace-refs and
    # --default-service-account: every reference stays in the object's namespace,
    # and objects without serviceAccountName are applied impersonating this account.
    no_cross_namespace_refs: bool = False
    default_service_account: str = ""
    # Redis transport: a task not acked within visibility_timeout is handed to
    # another worker, so it must exceed the longest task (task_time_limit is
    # kept below it). kombu looks for such tasks every unacked_restore_interval.
    visibility_timeout: int = 1800
    unacked_restore_interval: int = 10
    task_time_limit: int = 900
    # A lease outlives a dead holder by at most lease_ttl seconds.
    lease_ttl: int = 30
    # A queued request older than this may have been lost with a killed worker:
    # the next request for the same object sends again.
    pending_stale_after: float = 30.0
    # Caps for kustomize, helm, sops and git runs on content from Git or registries
    # (shared/toolrun.py says how they were chosen).
    tool_memory_limit_mb: int = 2048
    tool_cpu_seconds: int = 300
    events_max_len: int = 10_000
    # A file holding the bearer token `GET /events` (sluice receiver) asks
    # for; unset, the stream is open to whoever reaches its address.
    events_token_file: Path | None = None
    scheduler_tick: float = 1.0
    interval_jitter_percent: float = 5.0
    log_level: str = "INFO"

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with the given fields replaced (``data_dir`` alone moves nothing else)."""
        return replace(self, **changes)


# Folders under data_dir unless set on their own.
_UNDER_DATA_DIR = {"artifact_dir": "artifacts", "cache_dir": "cache"}


def _is_path(name: str, like: object) -> bool:
    return isinstance(like, Path) or name.endswith(("_dir", "_file"))


def _coerce(name: str, value: str, like: object) -> object:
    if _is_path(name, like):
        return Path(value).expanduser() if value else None
    if isinstance(like, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``SLUICE_CONFIG`` (a TOML file) and ``SLUICE_*`` variables."""
    env = dict(os.environ) if env is None else env
    defaults = Settings()
    values: dict[str, object] = {}
    config_file = env.get("SLUICE_CONFIG")
    if config_file:
        path = Path(config_file).expanduser()
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"SLUICE_CONFIG {path}: cannot read settings: {exc}") from exc
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"SLUICE_CONFIG {path}: unknown settings {', '.join(unknown)}")
        values.update(data)
    for f in fields(Settings):
        raw = env.get(f"SLUICE_{f.name.upper()}")
        if raw is not None:
            try:
                values[f.name] = _coerce(f.name, raw, getattr(defaults, f.name))
            except ValueError as exc:
                raise ValueError(f"SLUICE_{f.name.upper()}={raw!r}: {exc}") from exc
    for name, value in list(values.items()):
        if _is_path(name, getattr(defaults, name)) and not isinstance(value, Path | None):
            values[name] = Path(str(value)).expanduser() if value else None
    # An empty path means "the default" (or none, for an optional file).
    values = {k: v for k, v in values.items() if v is not None}
    data_dir = values.get("data_dir", defaults.data_dir)
    for name, folder in _UNDER_DATA_DIR.items():
        values.setdefault(name, Path(str(data_dir)) / folder)
    return replace(defaults, **values)  # type: ignore[arg-type]
