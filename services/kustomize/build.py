"""Run the real kustomize over a private copy of an artifact; cache what it renders by content.

The artifact directory is shared by every build of its revision, so it is never written: the
tree is copied (symlinks leaving the root are dropped), the overlaid kustomization is written
into the copy, and ``kustomize build`` runs there with a load restrictor, under the memory,
CPU-time and wall-clock caps of ``shared.toolrun``.
``build_cached`` keys rendered objects by artifact digest, path, spec, variables, a hash of the
decryption keys and kustomize version, so one revision is built once however many clusters it is
applied to.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from services.kustomize.cache import BuildCache
from services.kustomize.decrypt import Decryption, decrypt_objects, decrypt_sources
from services.kustomize.generate import (
    BuildSpec,
    check_references,
    is_empty_kustomization,
    prepare_kustomization,
    render_kustomization,
)
from services.kustomize.manifests import (
    BuildFailed,
    KustomizeError,
    apply_common_metadata,
    parse_objects,
)
from services.kustomize.substitute import PostBuild, substitute_objects
from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool
from shared.tools import find_tool, probe_version, require_tool

__all__ = [
    "ArtifactPathError",
    "BuildCache",
    "BuildLimitExceeded",
    "BuildOptions",
    "LoadRestrictor",
    "RunCounter",
    "build",
    "build_cached",
    "build_key",
    "find_kustomize",
    "kustomize_runs",
    "normalize_path",
    "render",
    "resolve_path",
]

LoadRestrictor = Literal["LoadRestrictionsRootOnly", "LoadRestrictionsNone"]
_KEY_FORMAT = 1
_MAX_MESSAGE = 4000
# The reconcile passes the installation's caps and the Kustomization's timeout.
_DEFAULT_LIMITS = ToolLimits(memory_bytes=2048 << 20, cpu_seconds=300, timeout=120.0)


class ArtifactPathError(KustomizeError):
    """``spec.path`` is missing, not a directory, or leaves the artifact root."""


class BuildLimitExceeded(BuildFailed):
    """kustomize was stopped by its memory, CPU-time or wall-clock cap."""


class RunCounter:
    """A thread-safe count of kustomize processes started (``value``), for tests and metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def increment(self) -> None:
        """Count one more run."""
        with self._lock:
            self.value += 1


kustomize_runs = RunCounter()


@dataclass(frozen=True)
class BuildOptions:
    """How kustomize is run; ``kustomize=None`` finds the binary as ``sluice check`` does."""

    kustomize: Path | None = None
    limits: ToolLimits = _DEFAULT_LIMITS
    load_restrictor: LoadRestrictor = "LoadRestrictionsRootOnly"
    # Off by default: a remote base changes without the artifact digest changing,
    # which a content-keyed cache cannot see.
    allow_remote_bases: bool = False
    work_dir: Path | None = None


def find_kustomize(env: Mapping[str, str] | None = None) -> Path | None:
    """kustomize from ``$KUBEBUILDER_ASSETS``, then the tool cache, then ``$PATH``."""
    env = dict(os.environ if env is None else env)
    if env.get("KUBEBUILDER_ASSETS"):
        candidate = Path(env["KUBEBUILDER_ASSETS"]).expanduser() / "kustomize"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return find_tool("kustomize", env=env)


def _require_kustomize(options: BuildOptions) -> Path:
    # require_tool raises ToolMissingError whose message says to run `make tools`.
    return options.kustomize or find_kustomize() or require_tool("kustomize")


def normalize_path(path: str) -> str:
    """``spec.path`` in one spelling: ``./apps/``, ``apps`` and ``/apps`` are ``apps``."""
    cleaned = os.path.normpath("/" + path.strip()).lstrip("/")
    return cleaned or "."


def resolve_path(root: Path, path: str) -> tuple[Path, Path]:
    """(real artifact root, real directory of ``path``); ArtifactPathError names the path."""
    try:
        real_root = root.resolve(strict=True)
        # Flux joins spec.path to the root even when it starts with '/'.
        directory = (real_root / (path.strip().lstrip("/") or ".")).resolve()
    except (OSError, RuntimeError) as exc:
        raise ArtifactPathError(f"spec.path {path!r} cannot be resolved: {exc}") from exc
    if directory != real_root and not directory.is_relative_to(real_root):
        raise ArtifactPathError(f"spec.path {path!r} resolves outside the artifact root")
    if not directory.exists():
        raise ArtifactPathError(f"spec.path {path!r} not found in the artifact")
    if not directory.is_dir():
        raise ArtifactPathError(f"spec.path {path!r} is not a directory")
    return real_root, directory


def _copy_tree(root: Path, dest: Path) -> None:
    """Copy real dir ``root`` to ``dest``; links inside it stay links, links leaving it go."""
    scratch = dest.parent.resolve()
    for current, dirs, files in os.walk(root):
        here = Path(current)
        # A work dir inside the artifact must not copy itself into itself.
        dirs[:] = [d for d in dirs if (here / d).resolve() != scratch]
        target = dest / here.relative_to(root)
        target.mkdir(parents=True, exist_ok=True)
        for name in [*dirs, *files]:
            source = here / name
            if source.is_symlink():
                try:
                    real = source.resolve(strict=True)
                except (OSError, RuntimeError):
                    continue  # dangling or looping
                if real == root or real.is_relative_to(root):
                    link = os.path.relpath(dest / real.relative_to(root), target)
                    os.symlink(link, target / name)
            elif name in files and source.is_file():
                shutil.copyfile(source, target / name)


_ACCUMULATION = re.compile(
    r"accumulation err='(?P<inner>.*)': must build at directory: .*"
    r"(?:file is not directory|not a valid directory).*$"
)
_FILE_PATTERNS = (re.compile(r"in File: (\S+)"), re.compile(r"(?:from|file) '([^']+)'"))


def _explain(stderr: str, *, tree: Path, workdir: Path, path: str) -> BuildFailed:
    """A BuildFailed from kustomize's stderr, its temp paths made artifact-relative."""
    text = stderr.replace(f"{tree}/", "").replace(str(tree), ".").strip()
    # An error may span lines (it quotes the config it failed on); warnings come before it.
    start = text.rfind("Error: ")
    text = text[start + len("Error: ") :] if start >= 0 else text
    message = " ".join(text.split()) or "kustomize exited with an error"
    # When a resource is a file, kustomize's second attempt as a directory only adds noise.
    message = _ACCUMULATION.sub(lambda m: m.group("inner"), message)
    file = next((found[-1] for rx in _FILE_PATTERNS if (found := rx.findall(message))), None)
    if file is not None:
        # kustomize names files relative to the kustomization that loads them.
        near = (workdir / file).resolve()
        if near.is_file() and near.is_relative_to(tree.resolve()):
            file = near.relative_to(tree.resolve()).as_posix()
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "…"
    return BuildFailed(f"kustomize build of {path!r} failed: {message}", file=file)


def _run_kustomize(
    binary: Path, workdir: Path, *, tree: Path, path: str, options: BuildOptions
) -> str:
    home = tree.parent
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "TMPDIR": str(home)}
    command = [str(binary), "build", str(workdir), "--load-restrictor", options.load_restrictor]
    kustomize_runs.increment()
    try:
        done = run_tool(command, limits=options.limits, env=env, cwd=tree)
    except ToolLimitExceeded as exc:
        raise BuildLimitExceeded(f"kustomize build of {path!r} failed: {exc}") from None
    except OSError as exc:
        raise BuildFailed(f"cannot run kustomize ({binary}): {exc.strerror}") from exc
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace")
        raise _explain(stderr, tree=tree, workdir=workdir, path=path)
    return done.stdout.decode("utf-8", errors="replace")


def build(
    root: Path,
    path: str = "",
    *,
    spec: BuildSpec | None = None,
    options: BuildOptions | None = None,
    decryption: Decryption | None = None,
) -> list[dict[str, Any]]:
    """``kustomize build`` of ``path`` in the artifact at ``root``, overlaid by ``spec``.

    SOPS-encrypted files that generators read are decrypted in the private copy first.
    """
    spec = spec or BuildSpec()
    options = options or BuildOptions()
    shown = normalize_path(path)
    real_root, directory = resolve_path(root, path)
    file_name, doc = prepare_kustomization(real_root, directory, spec)
    check_references(
        real_root, directory, doc, file_name=file_name, allow_remote=options.allow_remote_bases
    )
    if is_empty_kustomization(doc):
        return []
    binary = _require_kustomize(options)
    with tempfile.TemporaryDirectory(prefix="sluice-build-", dir=options.work_dir) as scratch:
        tree = Path(scratch) / "tree"
        _copy_tree(real_root, tree)
        workdir = tree / directory.relative_to(real_root)
        kustomization = workdir / file_name
        # Unlink first: never write through a link into anything but this copy.
        kustomization.unlink(missing_ok=True)
        kustomization.write_text(render_kustomization(doc))
        decrypt_sources(tree, workdir, decryption)
        output = _run_kustomize(binary, workdir, tree=tree, path=shown, options=options)
    return parse_objects(output, source=f"kustomize build of {shown!r}")


def render(
    root: Path,
    path: str = "",
    *,
    spec: BuildSpec | None = None,
    post_build: PostBuild | None = None,
    options: BuildOptions | None = None,
    decryption: Decryption | None = None,
) -> list[dict[str, Any]]:
    """Build, SOPS decryption, postBuild substitution, then commonMetadata: Flux's order."""
    spec = spec or BuildSpec()
    objects = build(root, path, spec=spec, options=options, decryption=decryption)
    objects = decrypt_objects(objects, decryption)
    if post_build is not None:
        objects = substitute_objects(objects, post_build)
    return apply_common_metadata(
        objects, labels=spec.common_labels, annotations=spec.common_annotations
    )


@functools.lru_cache(maxsize=8)
def _tool_version(binary: str, mtime_ns: int) -> str:
    return probe_version("kustomize", Path(binary)) or f"unknown@{mtime_ns}"


def build_key(
    *,
    digest: str,
    path: str,
    spec: BuildSpec,
    post_build: PostBuild | None = None,
    options: BuildOptions | None = None,
    tool: str = "",
    decryption: Decryption | None = None,
) -> str:
    """sha256 of the canonical JSON of everything that decides a build's output."""
    if not digest:
        raise ValueError("build_key: an artifact digest is required to key a build")
    options = options or BuildOptions()
    payload = {
        "format": _KEY_FORMAT,
        "digest": digest,
        "path": normalize_path(path),
        "spec": spec.cache_key(),
        "postBuild": post_build.cache_key() if post_build is not None else None,
        "loadRestrictor": options.load_restrictor,
        "remoteBases": options.allow_remote_bases,
        "tool": tool,
        "decryption": decryption.cache_key() if decryption is not None else None,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_cached(
    cache: BuildCache,
    root: Path,
    *,
    digest: str,
    path: str = "",
    spec: BuildSpec | None = None,
    post_build: PostBuild | None = None,
    options: BuildOptions | None = None,
    decryption: Decryption | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """(rendered objects, whether they came from the cache) for one artifact revision."""
    spec = spec or BuildSpec()
    options = options or BuildOptions()
    binary = _require_kustomize(options)
    tool = _tool_version(str(binary), binary.stat().st_mtime_ns)
    key = build_key(
        digest=digest,
        path=path,
        spec=spec,
        post_build=post_build,
        options=options,
        tool=tool,
        decryption=decryption,
    )
    cached = cache.get(key)
    if cached is not None:
        return cached, True
    with cache.lock(key):
        cached = cache.get(key)
        if cached is not None:
            return cached, True
        objects = render(
            root, path, spec=spec, post_build=post_build, options=options, decryption=decryption
        )
        cache.put(key, objects)
    return objects, False
