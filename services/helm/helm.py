"""The one adapter through which the helm service runs Helm 4 against one cluster.

:class:`Helm` installs, upgrades, rolls back, uninstalls and tests a release,
and reads its revisions from Helm's storage as
:class:`~services.helm.release_state.Release` values. Every run is the pinned
``helm`` under ``shared.toolrun`` caps, with a private home (mode 0700, removed
after the run) that holds the only copies of:

- the cluster's self-contained kubeconfig (``--kubeconfig <file>``, mode 0600):
  its contents never reach argv, the environment or a message;
- the release's values (``-f <file>``): never ``--set``.

A revision is read with two runs: ``helm get metadata --revision N -o json``
(chart name and version, status; ``helm status -o json`` has no chart in
Helm 4) and ``helm status --revision N -o json`` (values, hooks and their
last runs, the manifest). ``helm history -o json`` lists the revisions.

Exceptions::

    HelmError            helm failed (its stderr, masked, in the message)
     └── HelmLimitError  helm hit a memory, CPU or time cap
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from services.helm.actionoptions import (
    InstallOptions,
    RollbackOptions,
    TestOptions,
    UninstallOptions,
    UpgradeOptions,
)
from services.helm.digest import values_digest
from services.helm.postrender import PostRender
from services.helm.release_state import HelmStatus, HookPhase, Release, TestHook
from shared.private import mask, private_dir, write_private
from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool
from shared.tools import require_tool
from shared.yaml import DocumentError, load

__all__ = ["Helm", "HelmError", "HelmLimitError", "ReleaseRef"]

_MAX_MESSAGE = 2000
# helm's own --timeout bounds the wait; the wall-clock cap leaves it room to finish.
_TIMEOUT_MARGIN = 60.0
_NOT_FOUND = "release: not found"


class HelmError(RuntimeError):
    """helm failed; the message holds its error output with every secret masked."""


class HelmLimitError(HelmError):
    """helm was stopped by a memory, CPU or time cap."""


@dataclass(frozen=True)
class ReleaseRef:
    """A Helm release: its name and the namespace its storage lives in."""

    name: str
    namespace: str


def _json_digest(doc: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of a document as compact, key-sorted JSON."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _kubeconfig_secrets(kubeconfig: bytes) -> tuple[str, ...]:
    try:
        document = load(kubeconfig, source="kubeconfig")
    except DocumentError:  # helm will say what is wrong with it
        return ()
    found: list[str] = []
    for entry in (document or {}).get("users") or []:
        user = (entry or {}).get("user") or {}
        for key in ("token", "password", "client-key-data"):
            if isinstance(user.get(key), str) and user[key]:
                found.append(user[key])
    return tuple(found)


class Helm:
    """Helm 4 against one cluster, reached through ``kubeconfig`` (self-contained YAML bytes).

    ``scratch`` is where the private homes are made (the system's temporary
    directory when None).
    """

    def __init__(
        self, kubeconfig: bytes, *, limits: ToolLimits, scratch: Path | None = None
    ) -> None:
        self._kubeconfig = kubeconfig
        self._limits = limits
        self._scratch = scratch
        self._secrets = _kubeconfig_secrets(kubeconfig)

    def __repr__(self) -> str:
        return "Helm(kubeconfig=***)"

    # -- actions -----------------------------------------------------------

    def install(
        self,
        ref: ReleaseRef,
        *,
        chart: Path,
        values: Mapping[str, Any],
        options: InstallOptions,
        post_renderer: PostRender | None = None,
    ) -> Release:
        """``helm install`` of the packaged ``chart``; the revision it wrote.

        A failed install raises HelmError; its failed revision stays in storage.
        """
        with self._home() as home:
            values_file = write_private(home / "values.yaml", json.dumps(values).encode())
            args = ["install", ref.name, str(chart), *_where(ref), "-f", str(values_file)]
            self._run_action(
                [*args, *options.flags()], home=home, wait=options.timeout, post=post_renderer
            )
        return self._read_required(ref)

    def upgrade(
        self,
        ref: ReleaseRef,
        *,
        chart: Path,
        values: Mapping[str, Any],
        options: UpgradeOptions,
        post_renderer: PostRender | None = None,
    ) -> Release:
        """``helm upgrade`` to ``chart`` with exactly ``values``; the revision it wrote."""
        with self._home() as home:
            values_file = write_private(home / "values.yaml", json.dumps(values).encode())
            args = ["upgrade", ref.name, str(chart), *_where(ref), "-f", str(values_file)]
            self._run_action(
                [*args, *options.flags()], home=home, wait=options.timeout, post=post_renderer
            )
        return self._read_required(ref)

    def _run_action(
        self, args: Sequence[str], *, home: Path, wait: float, post: PostRender | None
    ) -> None:
        # A post-renderer's own error never reaches helm's output: it is read back here.
        plugin = post.install(home, limits=self._limits) if post is not None else None
        try:
            self._run([*args, *(plugin.flags if plugin else [])], home=home, wait=wait)
        except HelmError as err:
            why = plugin.failure() if plugin else None
            if why is None:
                raise
            raise type(err)(mask(f"{err}: {why}", self._secrets, limit=_MAX_MESSAGE)) from None

    def rollback(self, ref: ReleaseRef, *, to: int, options: RollbackOptions) -> Release:
        """``helm rollback`` to revision ``to``; the new revision it wrote."""
        with self._home() as home:
            args = ["rollback", ref.name, str(to), *_where(ref), *options.flags()]
            self._run(args, home=home, wait=options.timeout)
        return self._read_required(ref)

    def uninstall(self, ref: ReleaseRef, *, options: UninstallOptions) -> None:
        """``helm uninstall``; a release already gone is not an error."""
        with self._home() as home:
            args = ["uninstall", ref.name, *_where(ref), "--ignore-not-found"]
            self._run([*args, *options.flags()], home=home, wait=options.timeout)

    def test(self, ref: ReleaseRef, *, options: TestOptions) -> Release:
        """``helm test``; the tested revision with its hooks' phases.

        A failed test raises HelmError; the failed phase stays in storage.
        """
        with self._home() as home:
            args = ["test", ref.name, *_where(ref), *options.flags()]
            self._run(args, home=home, wait=options.timeout)
        return self._read_required(ref)

    # -- storage -----------------------------------------------------------

    def history(self, ref: ReleaseRef) -> tuple[Release, ...]:
        """Every revision in Helm's storage, newest first; () when there is none."""
        with self._home() as home:
            try:
                text = self._run(["history", ref.name, *_where(ref), "-o", "json"], home=home)
            except HelmError as err:
                if _NOT_FOUND in str(err):
                    return ()
                raise
        versions = sorted((int(entry["revision"]) for entry in json.loads(text)), reverse=True)
        return tuple(self._read_required(ref, version=v) for v in versions)

    def read(self, ref: ReleaseRef, *, version: int | None = None) -> Release | None:
        """One revision (the newest when ``version`` is None), or None when there is none."""
        with self._home() as home:
            at = ["--revision", str(version)] if version is not None else []
            try:
                meta = self._run(
                    ["get", "metadata", ref.name, *_where(ref), *at, "-o", "json"], home=home
                )
                # The metadata's revision pins the status to the same one.
                revision = ["--revision", str(json.loads(meta)["revision"])]
                status = self._run(
                    ["status", ref.name, *_where(ref), *revision, "-o", "json"], home=home
                )
            except HelmError as err:
                if _NOT_FOUND in str(err):
                    return None
                raise
        return _release(json.loads(meta), json.loads(status))

    def values(self, ref: ReleaseRef) -> dict[str, Any]:
        """The user-supplied values of the newest revision ({} when none)."""
        with self._home() as home:
            text = self._run(["get", "values", ref.name, *_where(ref), "-o", "json"], home=home)
        loaded = json.loads(text)
        return loaded if isinstance(loaded, dict) else {}

    # -- running helm ------------------------------------------------------

    def _read_required(self, ref: ReleaseRef, *, version: int | None = None) -> Release:
        release = self.read(ref, version=version)
        if release is None:
            raise HelmError(f"release {ref.namespace}/{ref.name} not found in Helm's storage")
        return release

    @contextmanager
    def _home(self) -> Iterator[Path]:
        with private_dir("sluice-helm-", parent=self._scratch) as home:
            write_private(home / "kubeconfig", self._kubeconfig)
            yield home

    def _run(self, args: Sequence[str], *, home: Path, wait: float = 0.0) -> str:
        helm = require_tool("helm")
        limits = self._limits
        if wait + _TIMEOUT_MARGIN > limits.timeout:
            limits = replace(limits, timeout=wait + _TIMEOUT_MARGIN)
        argv = [str(helm), *args, f"--kubeconfig={home / 'kubeconfig'}"]
        try:
            done = run_tool(argv, limits=limits, env=_env(home), cwd=home)
        except ToolLimitExceeded as err:
            raise HelmLimitError(str(err)) from None
        except OSError as err:
            raise HelmError(f"cannot run helm ({helm}): {err.strerror}") from err
        if done.returncode != 0:
            text = done.stderr.decode("utf-8", errors="replace").strip().removeprefix("Error: ")
            # Private paths change every run and mean nothing to the reader.
            text = text.replace(str(home), "$HELM_HOME")
            raise HelmError(mask(text, self._secrets, limit=_MAX_MESSAGE))
        return done.stdout.decode("utf-8", errors="replace")


def _where(ref: ReleaseRef) -> list[str]:
    return ["--namespace", ref.namespace]


def _env(home: Path) -> dict[str, str]:
    # No KUBECONFIG, no HELM_* from the worker: only the private files count.
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "TMPDIR": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONTENT_CACHE": str(home / "cache" / "content"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def _release(meta: Mapping[str, Any], status: Mapping[str, Any]) -> Release:
    hooks = [h for h in status.get("hooks") or [] if "test" in (h.get("events") or [])]
    phases = [
        TestHook(name=h["name"], phase=_phase(h))
        for h in hooks
        if (h.get("last_run") or {}).get("phase")
    ]
    return Release(
        name=str(meta["name"]),
        namespace=str(meta["namespace"]),
        version=int(meta["revision"]),
        status=_status(str(meta.get("status", ""))),
        chart_name=str(meta.get("chart", "")),
        chart_version=str(meta.get("version", "")),
        # Flux's snapshot configDigest: the same digest as lastAttemptedConfigDigest.
        config_digest=values_digest(status.get("config") or {}),
        digest=_digest(status),
        # No hook has run: the release was never tested (Helm keeps no other record).
        test_hooks=tuple(phases) if phases else None,
    )


def _phase(hook: Mapping[str, Any]) -> HookPhase:
    try:
        return HookPhase(hook["last_run"]["phase"])
    except ValueError:
        return HookPhase.UNKNOWN


def _status(text: str) -> HelmStatus:
    try:
        return HelmStatus(text)
    except ValueError:
        return HelmStatus.UNKNOWN


def _digest(status: Mapping[str, Any]) -> str:
    """Digest of the stored revision, without the live objects, test hooks and hook runs.

    ``info.resources`` is read from the cluster, not storage. A ``helm test``
    rewrites the test hooks (their last run, and the delete policy Helm
    defaults when it runs them): like Flux (``IgnoreHookTestEvents``), test
    hooks are left out, so a manual test does not look like someone else
    changed the release.
    """
    stored = dict(status)
    stored["info"] = {k: v for k, v in (status.get("info") or {}).items() if k != "resources"}
    stored["hooks"] = [
        {k: v for k, v in hook.items() if k != "last_run"}
        for hook in status.get("hooks") or []
        if "test" not in (hook.get("events") or [])
    ]
    return _json_digest(stored)
