"""Where ``hack/tools.sh build_flux`` put Flux's controllers and their CRDs, and their check."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shared.settings import load_settings

__all__ = ["CONTROLLERS", "FluxMissing", "FluxTools", "flux_tools"]

CONTROLLERS = ("source-controller", "kustomize-controller")


class FluxMissing(RuntimeError):
    """The Flux binaries or CRDs are not in the tool cache (run ``hack/tools.sh build_flux``)."""


@dataclass(frozen=True)
class FluxTools:
    """Where ``hack/tools.sh build_flux`` put the controllers and their CRDs."""

    binaries: dict[str, Path]
    crds: list[Path]


def flux_tools(tools_dir: Path | None = None) -> FluxTools:
    """The built controllers and CRD files; FluxMissing when any is absent."""
    base = tools_dir or load_settings().tools_dir
    binaries = {name: base / "bin" / name for name in CONTROLLERS}
    crds = sorted((base / "flux-crds").glob("*/*.yaml"))
    missing = [str(p) for p in binaries.values() if not os.access(p, os.X_OK)]
    if missing or not crds:
        raise FluxMissing(
            f"Flux is not built ({', '.join(missing) or 'no CRDs in ' + str(base / 'flux-crds')}):"
            " run `bash hack/tools.sh build_flux`"
        )
    return FluxTools(binaries, crds)
