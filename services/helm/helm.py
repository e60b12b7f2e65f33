"""The one adapter through which the helm service runs Helm 4 against one cluster.

:class:`Helm` installs, upgrades, rolls back, uninstalls and tests a release
(and renders one, for ``sluice diff hr``),
and reads its revisions from Helm's storage as
:class:`~services.helm.release_state.Release` values. Every run is the pinned
``helm`` under ``shared.toolrun`` caps, with a private home (mode 0700, removed
after the run) that holds the only copies of:

- the cluster's self-contained kubeconfig (``--kubeconfig <file>``, mode 0600):
  its contents never reach argv, the environment or a message;
- the release's values (``-f <file>``): never ``--set``.

Revisions are read from Helm's storage directly, through the cluster's
:class:`~shared.kube.client.KubeClient` (:mod:`services.helm.storage`: one list
call instead of two helm runs per revision).

Exceptions::

    HelmError            helm failed (its stderr, masked, in the message)
     └── HelmLimitError  helm hit a memory, CPU or time cap

Reading the revision an action wrote may also raise ``shared.kube.errors``
KubeError (UnreachableError: worth retrying).
"""

from __future__ import annotations

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
from services.helm.postrender import PostRender
from services.helm.release_state import Release
from services.helm.storage import ReleaseStorage
from shared.kube.client import KubeClient
from shared.private import mask, private_dir, write_private
from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool
from shared.tools import require_tool
from shared.yaml import DocumentError, load

__all__ = ["Helm", "HelmError", "HelmLimitError", "ReleaseRef"]

_MAX_MESSAGE = 2000
# helm's own --timeout bounds the wait; the wall-clock cap leaves it room to finish.
_TIMEOUT_MARGIN = 60.0


class HelmError(RuntimeError):
    """helm failed; the message holds its error output with every secret masked."""


class HelmLimitError(HelmError):
    """helm was stopped by a memory, CPU or time cap."""


@dataclass(frozen=True)
class ReleaseRef:
    """A Helm release: its name and the namespace its storage lives in."""

    name: str
    namespace: str


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

    ``client`` talks to the same cluster: it reads the revisions helm wrote.
    ``scratch`` is where the private homes are made (the system's temporary
    directory when None).
    """

    def __init__(
        self,
        kubeconfig: bytes,
        *,
        client: KubeClient,
        limits: ToolLimits,
        scratch: Path | None = None,
    ) -> None:
        self._kubeconfig = kubeconfig
        self._client = client
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

    def template(
        self,
        ref: ReleaseRef,
        *,
        chart: Path,
        values: Mapping[str, Any],
        upgrade: bool = False,
        post_renderer: PostRender | None = None,
    ) -> str:
        """``helm template``: the manifest an install (``upgrade``: an upgrade) would apply.

        The chart's templates after ``post_renderer``, as Helm stores a
        release's manifest: no hooks, no ``crds/``. Rendered here, with Helm's
        default capabilities: nothing is sent to the cluster (``lookup`` finds
        nothing). Raises HelmError.
        """
        with self._home() as home:
            values_file = write_private(home / "values.yaml", json.dumps(values).encode())
            args = ["template", ref.name, str(chart), *_where(ref), "-f", str(values_file)]
            flags = ["--no-hooks", *(["--is-upgrade"] if upgrade else [])]
            return self._run_action([*args, *flags], home=home, wait=0.0, post=post_renderer)

    def _run_action(
        self, args: Sequence[str], *, home: Path, wait: float, post: PostRender | None
    ) -> str:
        # A post-renderer's own error never reaches helm's output: it is read back here.
        plugin = post.install(home, limits=self._limits) if post is not None else None
        try:
            return self._run([*args, *(plugin.flags if plugin else [])], home=home, wait=wait)
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

    def storage(self, namespace: str) -> ReleaseStorage:
        """Helm's release storage in ``namespace``, read and written without running helm."""
        return ReleaseStorage(self._client, namespace)

    def history(self, ref: ReleaseRef) -> tuple[Release, ...]:
        """Every revision in Helm's storage, newest first; () when there is none."""
        return self.storage(ref.namespace).history(ref.name)

    def read(self, ref: ReleaseRef, *, version: int | None = None) -> Release | None:
        """One revision (the newest when ``version`` is None), or None when there is none."""
        history = self.history(ref)
        if version is None:
            return history[0] if history else None
        return next((r for r in history if r.version == version), None)

    # -- running helm ------------------------------------------------------

    def _read_required(self, ref: ReleaseRef) -> Release:
        release = self.storage(ref.namespace).latest(ref.name)
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
