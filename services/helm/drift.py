"""Drift of a Helm release from its manifest on one cluster: detect it, correct it.

``spec.driftDetection`` as Flux's helm-controller does it, on sluice's shared
kube kit rather than a second diff:

- :func:`detect` reads the manifest Helm stored for the release (``helm get
  manifest``: rendered templates after post-renderers, no hooks, no ``crds/``)
  and plans it with ``shared.kube.plan.plan``: a server-side dry-run apply of
  every object, forcing conflicts, under Helm's own field manager, compared
  with the live object. An object missing on the cluster is drift (re-applying
  creates it); an object whose fields the dry run would change is drift, and
  :mod:`services.helm.fieldchanges` lists those fields. Objects of the manifest
  that name no namespace are the release namespace's. As Helm does when it
  applies, and Flux before its diff, every object gets Helm's ownership
  metadata (``app.kubernetes.io/managed-by: Helm``, ``meta.helm.sh/release-name``
  and ``-namespace``). Objects labelled or annotated
  ``helm.toolkit.fluxcd.io/driftDetection: disabled`` (in the manifest or on
  the cluster) and objects a root ``""`` ignore rule covers are excluded and
  never dry-run; other ignore pointers are left out of the comparison
  (:mod:`services.helm.driftrules`). ``helm.sh/resource-policy: keep`` changes
  nothing here: the object is in the manifest and compared like the others.
  The toolkit's "leave alone" annotations ``plan`` honours for every apply
  (``kustomize.toolkit.fluxcd.io/reconcile: disabled``, ``ssa: Ignore``) make
  an object excluded too, as sluice applies nothing it would not.
- :func:`correct` re-applies the drifted objects of a report with
  ``shared.kube.apply.apply`` (server-side apply, conflicts forced): missing
  ones are created, changed ones patched, ignored fields keep their cluster
  value. The field manager is Helm's (:data:`HELM_FIELD_MANAGER`), as Flux
  corrects under ``kube.ManagedFieldsManager``, the manager its Helm applies
  with: the corrected fields stay Helm's, so the next ``helm upgrade`` of the
  release changes them without a conflict, and removes them when the chart
  drops them (a second manager would keep them alive). As on every sluice
  apply, kubectl's leftovers on a corrected object are taken over.

The caller passes the Owner whose labels (``helm.toolkit.fluxcd.io/name`` and
``/namespace``) the manifest's objects carry, as Flux's origin-labels
post-renderer puts them there. ``plan`` sets them on every object it applies,
so an object rendered without them would drift for ever (each correction
adding them, each upgrade taking them away): detect refuses such a manifest.

Exceptions::

    DriftError        the manifest cannot be read, its objects lack the owner's
                      labels, or the cluster refused to dry-run some of them
                      (``errors`` names each)
    InvalidIgnoreRule an ignore rule's pointer, regex or selector is bad
    ApplyError        (correct) objects refused; ``changes`` says what was corrected
    KubeError         the cluster could not be reached
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from services.helm.driftreport import DriftReport, ObjectDrift
from services.helm.driftrules import DriftRules, compile_drift_rules
from services.helm.fieldchanges import field_changes
from shared import yaml
from shared.kube.annotations import left_alone
from shared.kube.apply import apply
from shared.kube.client import KubeClient
from shared.kube.driftignore import RuleSpec, ignored_paths, without_paths
from shared.kube.errors import UnknownKindError
from shared.kube.inventory import Action, ChangeSet, ObjectError, ObjectRef
from shared.kube.owner import Owner
from shared.kube.plan import ApplyError, ApplyOptions, ObjectPlan, plan

__all__ = [
    "HELM_FIELD_MANAGER",
    "DriftError",
    "correct",
    "detect",
    "placed_release_objects",
    "release_objects",
]

# Helm 4's CLI applies as "helm" (cmd/helm/helm.go sets kube.ManagedFieldsManager).
HELM_FIELD_MANAGER = "helm"

_MANAGED_BY = "app.kubernetes.io/managed-by"
_RELEASE_NAME = "meta.helm.sh/release-name"
_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


class DriftError(Exception):
    """Drift could not be determined; ``errors`` names each object the cluster refused."""

    def __init__(self, message: str, errors: Sequence[ObjectError] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors)


def release_objects(manifest: str, *, release: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of a release manifest, with the metadata Helm gives them when it applies."""
    try:
        docs = yaml.load_all(manifest, source=f"manifest of release {namespace}/{release}")
    except yaml.DocumentError as exc:
        raise DriftError(str(exc)) from exc
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise DriftError(
                f"manifest of release {namespace}/{release}: document #{index} is not an object"
            )
        obj = copy.deepcopy(doc)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise DriftError(
                f"manifest of release {namespace}/{release}: "
                f"document #{index} has a metadata that is not a map"
            )
        meta["labels"] = {**(meta.get("labels") or {}), _MANAGED_BY: "Helm"}
        annotations = {_RELEASE_NAME: release, _RELEASE_NAMESPACE: namespace}
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        objects.append(obj)
    return objects


def _placed(client: KubeClient, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``obj`` in the namespace it lands in, so ignore targets can match it before any dry run.

    A kind the cluster does not serve is left as it is: ``plan`` defers it (its
    CRD is in the manifest) or names it as refused.
    """
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    if not (api_version and kind):
        return obj  # plan names what it lacks
    try:
        info = client.resource(api_version, kind)
    except UnknownKindError:
        return obj
    meta = obj["metadata"]
    if not info.namespaced:
        meta.pop("namespace", None)
    elif not meta.get("namespace"):
        meta["namespace"] = namespace
    return obj


def placed_release_objects(
    client: KubeClient, manifest: str, *, release: str, namespace: str
) -> list[dict[str, Any]]:
    """The release's objects, each in its namespace; kinds discovered side by side."""
    objects = release_objects(manifest, release=release, namespace=namespace)
    kinds = {(str(o.get("apiVersion") or ""), str(o.get("kind") or "")) for o in objects}
    client.prefetch(k for k in kinds if all(k))
    return [_placed(client, obj, namespace) for obj in objects]


def _options(namespace: str, rules: DriftRules, field_manager: str) -> ApplyOptions:
    return ApplyOptions(
        field_manager=field_manager, default_namespace=namespace, drift_ignore=rules.fields
    )


def _verdict(planned: ObjectPlan, rules: DriftRules) -> ObjectDrift:
    """What the plan of one object says about drift."""
    ref = planned.ref
    if planned.action == Action.SKIPPED:
        return ObjectDrift(ref, Action.SKIPPED, reason=left_alone(planned.obj, planned.live))
    if planned.live is not None and (why := rules.excludes(planned.live)):
        return ObjectDrift(ref, Action.SKIPPED, reason=why)
    if planned.action == Action.CREATED:
        return ObjectDrift(ref, Action.CREATED)
    if planned.action != Action.CONFIGURED or planned.live is None or planned.dry is None:
        return ObjectDrift(ref, Action.UNCHANGED)
    ignored = ignored_paths(rules.fields, planned.dry)
    live, dry = without_paths(planned.live, ignored), without_paths(planned.dry, ignored)
    # A plan also configures an object only to take kubectl's leftovers over: no drift.
    changes = field_changes(live, dry)
    return ObjectDrift(ref, Action.CONFIGURED if changes else Action.UNCHANGED, changes)


def detect(
    client: KubeClient,
    manifest: str,
    *,
    release: str,
    namespace: str,
    owner: Owner,
    ignore: Sequence[RuleSpec] = (),
    field_manager: str = HELM_FIELD_MANAGER,
) -> DriftReport:
    """Each object of the release ``manifest`` against the cluster, by a server-side dry run.

    ``release`` and ``namespace`` are the Helm release's name and namespace
    (``helm --namespace``); ``ignore`` is ``spec.driftDetection.ignore``.
    Nothing on the cluster changes.
    """
    rules = compile_drift_rules(ignore)
    desired = placed_release_objects(client, manifest, release=release, namespace=namespace)
    excluded = {id(obj): why for obj in desired if (why := rules.excludes(obj))}
    compared = [obj for obj in desired if id(obj) not in excluded]
    if unowned := [str(ObjectRef.from_object(o)) for o in compared if not owner.owns(o)]:
        raise DriftError(
            f"cannot compare release {namespace}/{release} with the cluster: "
            f"{', '.join(unowned)} lack the labels {owner.selector} "
            "(the origin labels every rendered object of a HelmRelease carries)"
        )
    try:
        options = _options(namespace, rules, field_manager)
        planned = plan(client, compared, owner=owner, options=options)
    except ApplyError as exc:
        raise DriftError(
            f"cannot compare release {namespace}/{release} with the cluster:\n{exc}", exc.errors
        ) from exc
    verdicts = {p.ref.id: _verdict(p, rules) for p in planned.objects}
    report = []
    for obj in desired:
        ref = ObjectRef.from_object(obj)
        if id(obj) in excluded:
            report.append(ObjectDrift(ref, Action.SKIPPED, reason=excluded[id(obj)]))
        else:
            report.append(verdicts[ref.id])
    return DriftReport(tuple(report))


def correct(
    client: KubeClient,
    manifest: str,
    *,
    release: str,
    namespace: str,
    owner: Owner,
    report: DriftReport,
    ignore: Sequence[RuleSpec] = (),
    field_manager: str = HELM_FIELD_MANAGER,
) -> ChangeSet:
    """Re-apply the objects ``report`` found missing or changed; what was created or configured.

    The same ``manifest``, ``release``, ``namespace``, ``owner`` and ``ignore``
    as the :func:`detect` that made ``report``. Each object is planned again
    first, so one put right in the meantime is left alone. Raises ApplyError
    (refused objects, and in ``changes`` the corrections made before).
    """
    wanted = {o.ref.id for o in report.changed}
    if not wanted:
        return ChangeSet()
    rules = compile_drift_rules(ignore)
    objects = [
        obj
        for obj in placed_release_objects(client, manifest, release=release, namespace=namespace)
        if ObjectRef.from_object(obj).id in wanted
    ]
    changes = apply(client, objects, owner=owner, options=_options(namespace, rules, field_manager))
    return ChangeSet(tuple(c for c in changes if c.action in (Action.CREATED, Action.CONFIGURED)))
