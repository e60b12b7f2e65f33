"""Find the external tools sluice runs (etcd, kube-apiserver, helm, ...) and tell their versions.

Search order for each tool: ``$KUBEBUILDER_ASSETS`` (envtest tools only), then
``<tools_dir>/bin`` (where ``make tools`` builds them), then ``$PATH``, then the
Debian location of system daemons (``/usr/sbin/sshd``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from shared.settings import Settings, load_settings

__all__ = [
    "TOOLS",
    "ToolMissingError",
    "ToolSpec",
    "ToolStatus",
    "check_tools",
    "find_tool",
    "pinned_versions",
    "probe_version",
    "require_tool",
]

_MAKE_TOOLS = "run `make tools`"


class ToolMissingError(RuntimeError):
    """A tool sluice needs is not installed; the message says how to get it."""


@dataclass(frozen=True)
class ToolSpec:
    """How to find, version and obtain one tool."""

    name: str
    version_args: tuple[str, ...]
    # Group 1 of the first match in the tool's output is its version.
    pattern: str
    required: bool
    hint: str
    envtest: bool = False
    pin: str | None = None
    system_paths: tuple[str, ...] = ()


def _built(
    name: str, args: tuple[str, ...], pattern: str, pin: str, *, envtest: bool = False
) -> ToolSpec:
    return ToolSpec(
        name=name,
        version_args=args,
        pattern=pattern,
        required=True,
        hint=f"{_MAKE_TOOLS} (builds {name} into the tool cache)",
        envtest=envtest,
        pin=pin,
    )


def _debian(
    name: str, args: tuple[str, ...], pattern: str, package: str, *, path: str | None = None
) -> ToolSpec:
    return ToolSpec(
        name=name,
        version_args=args,
        pattern=pattern,
        required=True,
        hint=f"{_MAKE_TOOLS} (installs Debian's {package}: apt-get install {package})",
        system_paths=(path,) if path else (),
    )


_SEMVER = r"v?(\d+\.\d+(?:\.\d+)?)"

TOOLS: tuple[ToolSpec, ...] = (
    _built("etcd", ("--version",), "etcd Version: " + _SEMVER, "ETCD_VERSION", envtest=True),
    _built(
        "kube-apiserver",
        ("--version",),
        "Kubernetes " + _SEMVER,
        "KUBERNETES_VERSION",
        envtest=True,
    ),
    _built(
        "kubectl",
        ("version", "--client"),
        "Client Version: " + _SEMVER,
        "KUBERNETES_VERSION",
        envtest=True,
    ),
    # What a workload-capable sandbox cluster runs beside its apiserver.
    _built(
        "kube-controller-manager", ("--version",), "Kubernetes " + _SEMVER, "KUBERNETES_VERSION"
    ),
    _built("kube-scheduler", ("--version",), "Kubernetes " + _SEMVER, "KUBERNETES_VERSION"),
    _built("kwok", ("--version",), r"kwok version " + _SEMVER, "KWOK_VERSION"),
    _built("kustomize", ("version",), _SEMVER, "KUSTOMIZE_VERSION"),
    _built("helm", ("version", "--short"), _SEMVER, "HELM_VERSION"),
    _built("sops", ("--version",), "sops " + _SEMVER, "SOPS_VERSION"),
    # The S3-compatible server of the Bucket tests; sluice itself never runs it.
    replace(
        _built("versitygw", ("--version",), r"Version\s*:\s*" + _SEMVER, "VERSITYGW_VERSION"),
        required=False,
    ),
    # sops reads age keys itself; the age CLI only makes keys by hand.
    replace(_built("age", ("--version",), _SEMVER, "AGE_VERSION"), required=False),
    _debian("redis-server", ("--version",), r"v=(\d+\.\d+\.\d+)", "redis-server"),
    _debian(
        "docker-registry",
        ("--version",),
        r"\s" + _SEMVER,
        "docker-registry",
        path="/usr/bin/docker-registry",
    ),
    _debian("git", ("--version",), r"git version (\d+\.\d+\.\d+)", "git"),
    # Only Git-over-SSH tests need sshd.
    replace(
        _debian(
            "sshd", ("-V",), r"OpenSSH_(\d+\.\d+(?:p\d+)?)", "openssh-server", path="/usr/sbin/sshd"
        ),
        required=False,
    ),
)
_BY_NAME = {spec.name: spec for spec in TOOLS}


@dataclass(frozen=True)
class ToolStatus:
    """What ``sluice check`` found for one tool."""

    name: str
    path: Path | None
    version: str | None
    pinned: str | None
    required: bool
    hint: str

    @property
    def mismatch(self) -> bool:
        """True when the tool is found at a version other than the pinned one."""
        if self.version is None or self.pinned is None:
            return False
        # A tool built without version stamping may report only major.minor.
        have, want = self.version.split("."), self.pinned.split(".")
        return have != want[: len(have)]

    def to_json(self) -> dict[str, object]:
        """The ``sluice check -o json`` entry for this tool."""
        doc: dict[str, object] = {
            "path": str(self.path) if self.path else None,
            "version": self.version,
            "required": self.required,
        }
        if self.pinned:
            doc["pinned"] = self.pinned
        if self.path is None:
            doc["hint"] = self.hint
        elif self.mismatch:
            doc["hint"] = f"pinned at {self.pinned}: {_MAKE_TOOLS} to rebuild it"
        return doc


def _spec(name: str) -> ToolSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown tool {name!r}: expected one of {', '.join(_BY_NAME)}") from None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(
    name: str, *, settings: Settings | None = None, env: dict[str, str] | None = None
) -> Path | None:
    """The path of tool ``name``, or None when it is not installed."""
    spec = _spec(name)
    env = dict(os.environ) if env is None else env
    settings = settings or load_settings(env)
    folders: list[Path] = []
    if spec.envtest and env.get("KUBEBUILDER_ASSETS"):
        folders.append(Path(env["KUBEBUILDER_ASSETS"]).expanduser())
    folders.append(settings.tools_dir / "bin")
    for folder in folders:
        if _executable(folder / name):
            return folder / name
    found = shutil.which(name, path=env.get("PATH", ""))
    if found:
        return Path(found)
    for candidate in map(Path, spec.system_paths):
        if _executable(candidate):
            return candidate
    return None


def require_tool(
    name: str, *, settings: Settings | None = None, env: dict[str, str] | None = None
) -> Path:
    """The path of tool ``name``; raises ToolMissingError saying how to get it."""
    path = find_tool(name, settings=settings, env=env)
    if path is None:
        raise ToolMissingError(f"{name} not found: {_spec(name).hint}")
    return path


def probe_version(name: str, path: Path, *, timeout: float = 10.0) -> str | None:
    """Run the tool to ask its version; None when it cannot say."""
    spec = _spec(name)
    try:
        done = subprocess.run(
            [str(path), *spec.version_args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            # sops may otherwise ask GitHub for its latest release.
            env={**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # sshd -V prints to stderr and exits non-zero, so the exit code is not trusted.
    match = re.search(spec.pattern, done.stdout + "\n" + done.stderr)
    return match.group(1) if match else None


def _tools_env_file() -> Path | None:
    # An editable install or a checkout: hack/ sits beside the shared package.
    candidate = Path(__file__).resolve().parent.parent / "hack" / "tools.env"
    return candidate if candidate.is_file() else None


def pinned_versions(path: Path | None = None) -> dict[str, str]:
    """Tool name -> pinned version from hack/tools.env; empty when the file is not reachable."""
    path = path or _tools_env_file()
    if path is None:
        return {}
    try:
        text = path.read_text()
    except OSError:
        return {}
    variables: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        variables[key.strip()] = value.strip().strip("\"'")
    return {s.name: variables[s.pin] for s in TOOLS if s.pin and s.pin in variables}


def check_tools(
    names: list[str] | None = None,
    *,
    settings: Settings | None = None,
    env: dict[str, str] | None = None,
) -> list[ToolStatus]:
    """Find every tool (or just ``names``) and ask each its version, in parallel."""
    specs = [_spec(n) for n in names] if names else list(TOOLS)
    env = dict(os.environ) if env is None else env
    settings = settings or load_settings(env)
    pins = pinned_versions()

    def one(spec: ToolSpec) -> ToolStatus:
        path = find_tool(spec.name, settings=settings, env=env)
        version = probe_version(spec.name, path) if path else None
        return ToolStatus(
            name=spec.name,
            path=path,
            version=version,
            pinned=pins.get(spec.name),
            required=spec.required,
            hint=spec.hint,
        )

    with ThreadPoolExecutor(max_workers=len(specs) or 1) as pool:
        return list(pool.map(one, specs))
