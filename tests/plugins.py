"""Install a service plug-in for one test: a real distribution on a folder put on PYTHONPATH.

``importlib.metadata`` finds a ``*.dist-info`` folder on ``sys.path`` like any
installed package, so a subprocess started with that folder on PYTHONPATH
sees the plug-in's ``sluice.services`` entry point exactly as it would see one
that pip installed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["install_service", "plugin_env"]


def install_service(
    root: Path, name: str, *, value: str, module: str = "", source: str = ""
) -> Path:
    """A distribution in ``root`` declaring service ``name`` as ``value`` ("module:attribute").

    With ``module`` and ``source``, also writes ``root/<module>.py`` holding ``source``.
    """
    dist = root / f"sluice_test_{name.replace('-', '_')}-0.0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: sluice-test-{name}\nVersion: 0.0.0\n"
    )
    (dist / "entry_points.txt").write_text(f"[sluice.services]\n{name} = {value}\n")
    if module:
        (root / f"{module}.py").write_text(source)
    return root


def plugin_env(root: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with ``root`` first on PYTHONPATH."""
    base = dict(os.environ if env is None else env)
    rest = base.get("PYTHONPATH", "")
    base["PYTHONPATH"] = f"{root}{os.pathsep}{rest}" if rest else str(root)
    return base
