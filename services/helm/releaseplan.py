"""What every target cluster of a HelmRelease should run: one chart, one set of values.

The reconcile resolves the chart's artifact and composes the values once, and
keeps the result in the fleet state for the per-cluster runs, as kustomize keeps
its build. Values may come from Secrets, so the plan travels as a Secret-shaped
object: ``shared.fleet.state`` seals a Secret's data like the store does, and
the values never sit in Redis in the clear.

The plan also keeps the HelmRelease document it was made from: a run that
uninstalls after the object was deleted still knows its uninstall options.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ReleasePlan"]


@dataclass(frozen=True, kw_only=True)
class ReleasePlan:
    """One chart and its values, for the release ``release_name`` on every target."""

    chart_url: str
    chart_digest: str
    chart_revision: str  # the source artifact's revision
    chart_name: str
    chart_version: str
    values: dict[str, Any] = field(repr=False)
    config_digest: str
    generation: int
    release_name: str
    release_namespace: str
    storage_namespace: str
    post_renderers_digest: str = ""
    common_metadata_digest: str = ""
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        """The build key: equal plans (the document aside, whose spec the generation pins)."""
        fields = {k: v for k, v in asdict(self).items() if k != "document"}
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_objects(self) -> list[dict[str, Any]]:
        """The plan as the fleet state keeps a build: one Secret-shaped object, sealed there."""
        text = json.dumps(asdict(self), separators=(",", ":"))
        return [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"helm-plan-{self.release_name}"},
                "data": {"plan": base64.b64encode(text.encode()).decode()},
            }
        ]

    @classmethod
    def from_objects(cls, objects: list[dict[str, Any]]) -> ReleasePlan:
        """Read back ``to_objects``; ValueError when the build is not a plan."""
        try:
            text = base64.b64decode(objects[0]["data"]["plan"]).decode()
            return cls(**json.loads(text))
        except (IndexError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a Helm release plan: {err}") from err
