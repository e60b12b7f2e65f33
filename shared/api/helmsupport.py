"""What sluice refuses in a HelmRelease: every field of Flux's API it does not act on (yet).

A field sluice would store and ignore is a silent surprise; each one here is
refused at ``sluice apply`` with a message saying what to do instead. A field
set to the value Flux uses when it is unset changes nothing, so it passes:
``rollback.recreate: false`` is accepted, ``true`` is refused.
Lifting a refusal is deleting its row (and implementing the field).

The keys are the field paths under ``spec`` of the apiVersion named first
(``helm.toolkit.fluxcd.io/v2`` unless the key starts with ``v1:``, the Helm
Operator's ``helm.fluxcd.io/v1``). Models attach a row to their field with
``Annotated[T, unsupported("rollback.recreate")]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import AfterValidator

__all__ = ["UNSUPPORTED", "Unsupported", "unsupported"]


@dataclass(frozen=True)
class Unsupported:
    """One refused field: the values that still pass, and what the user should do."""

    accepted: tuple[object, ...]
    why: str


_NOT_YET = "is not supported by sluice yet"

UNSUPPORTED: dict[str, Unsupported] = {
    "chart.spec.verify": Unsupported(
        (None,),
        f"signature verification of charts {_NOT_YET}: remove it, or verify the chart "
        "before it is published",
    ),
    "valuesFrom[].literal": Unsupported(
        (False,),
        f"a literal value (helm --set-literal) {_NOT_YET}: remove literal, or put the "
        "value in the values document under valuesKey",
    ),
    "healthCheckExprs": Unsupported(
        ([],),
        f"a CEL health check of a Helm release {_NOT_YET}: remove healthCheckExprs "
        "(sluice waits with the built-in kstatus rules)",
    ),
    "postRenderStrategy": Unsupported(
        ("combined",),
        f"a post-render strategy other than combined {_NOT_YET}: remove postRenderStrategy",
    ),
    "upgrade.chartNameChangeStrategy": Unsupported(
        ("Reinstall",),
        f"upgrading in place when the chart name changes {_NOT_YET}: remove "
        "chartNameChangeStrategy (the release is reinstalled, as Flux does by default)",
    ),
    # Deprecated by Flux and ignored by helm-controller: refused rather than ignored.
    "install.skipCRDs": Unsupported(
        (False,),
        "is deprecated and ignored by Flux: write install.crds: Skip (and upgrade.crds: Skip)",
    ),
    "rollback.recreate": Unsupported(
        (False,),
        "was removed in Helm 4 (Flux ignores it): remove it; pods restart when their "
        "template changes",
    ),
    # The Helm Operator's fields that have no helm.toolkit.fluxcd.io/v2 equivalent.
    "v1:helmVersion": Unsupported(
        (None, "v3"),
        "Helm 2 (Tiller) releases cannot be managed: migrate them with the helm-2to3 "
        "plugin, then set helmVersion: v3",
    ),
    "v1:valuesFrom[].externalSourceRef": Unsupported(
        (None,),
        "values from a URL have no Flux v2 equivalent: put the values in a ConfigMap "
        "and use configMapKeyRef",
    ),
    "v1:valuesFrom[].namespace": Unsupported(
        (None,),
        "values from another namespace have no Flux v2 equivalent: move the ConfigMap "
        "or Secret to the HelmRelease's namespace",
    ),
    "v1:rollback.recreate": Unsupported(
        (False,), "was removed in Helm 4: remove it; pods restart when their template changes"
    ),
}


def unsupported(key: str) -> AfterValidator:
    """The validator that refuses the field ``key`` of :data:`UNSUPPORTED` when set."""
    rule = UNSUPPORTED[key]

    def check(value: object) -> object:
        if value not in rule.accepted:
            raise ValueError(rule.why)
        return value

    return AfterValidator(check)
