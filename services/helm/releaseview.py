"""What ``sluice tree|history|diff helmrelease`` show, and the HelmRelease's chart source.

The work behind ``services/helm/cli.py``'s commands, imported only when one of
them runs (the CLI loads this service's commands for every ``reconcile``):

- :func:`tree`: per cluster, the objects of the release's manifest as Helm
  stored it (``ReleaseStorage.manifest`` of the revision the cluster's last run
  recorded), and the chart CRDs sluice applied for it (they carry the
  HelmRelease's owner labels), as ``flux tree ks`` shows a HelmRelease's objects.
- :func:`history`: per cluster, the ``status.history`` snapshots Flux keeps.
- :func:`diff`: the chart rendered with the HelmRelease's values, composed as
  its reconcile composes them (``valuesources.release_values``), through the
  pinned ``helm template`` with its post-renderers; each target cluster's dry
  run through the shared plan, printed as ``diff ks`` prints it. Objects of the
  deployed revision the render no longer has are listed as deleted. Hooks and
  ``crds/`` are not compared, and the render uses Helm's default capabilities
  (``lookup`` finds nothing). Nothing that came from a Secret is printed:
  Secret objects are masked as ``diff ks`` masks them, and any value a
  ``valuesFrom`` Secret holds is masked wherever the chart put it
  (:func:`mask_strings`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.helm.chart import ChartError, chart_root, chart_source_key, read_artifact
from services.helm.drift import HELM_FIELD_MANAGER, DriftError, placed_release_objects
from services.helm.helm import Helm, HelmError, ReleaseRef
from services.helm.postrender import PostRender, PostRenderSetupError
from services.helm.storage import ReleaseStorage, StorageError
from services.helm.values import ValuesReferenceError
from services.helm.valuesources import release_values, secret_strings, values_objects
from shared.api import InvalidObjects, parse_as
from shared.api.helmrelease import HelmRelease
from shared.artifacts import ArtifactError, fetch_artifact
from shared.cli.context import cli_scope, scoped
from shared.cli.diffview import MASK, object_diff
from shared.cli.flux import Session, TreeNode
from shared.fleet.connect import TargetAccess, clusters_for, target_access
from shared.fleet.targets import Target, select_targets
from shared.keys import ObjectKey
from shared.kube.errors import KubeError
from shared.kube.inventory import ObjectRef
from shared.kube.owner import Owner
from shared.kube.plan import ApplyError, ApplyOptions, plan
from shared.reconcile import Waiting
from shared.toolrun import ToolLimits
from shared.tools import ToolMissingError

__all__ = [
    "HISTORY_COLUMNS",
    "Loaded",
    "chart_source",
    "diff",
    "history",
    "history_rows",
    "load",
    "mask_strings",
    "tree",
]

HISTORY_COLUMNS = ["CLUSTER", "REVISION", "STATUS", "CHART", "APP VERSION", "DEPLOYED", "DIGEST"]
# Shorter Secret texts are masked only as a whole YAML value, not inside other words.
_MIN_INSIDE = 4
_DIGEST_HEX = 12
# A YAML scalar at the end of a line (``key: value``, ``- value``), diff markers included.
_YAML_VALUE = re.compile(r"^(?P<head>.*(?:: |- ))(?P<value>[^:]+)$")


def mask_strings(lines: Iterable[str], secrets: Sequence[str]) -> list[str]:
    """``lines`` with every text of ``secrets`` replaced by ``***``.

    A secret of four characters or more is masked wherever it appears; a
    shorter one (``"42"``) only where it is a whole YAML value on its line
    (``key: 42``, ``- 42``), so a diff stays readable and a value is never shown.
    """
    inside = [s for s in secrets if len(s) >= _MIN_INSIDE]
    short = {s for s in secrets if 0 < len(s) < _MIN_INSIDE}
    out = []
    for line in lines:
        for secret in inside:
            line = line.replace(secret, MASK)
        found = _YAML_VALUE.match(line) if short else None
        if found and found["value"].strip().strip("'\"") in short:
            line = found["head"] + MASK
        out.append(line)
    return out


def history_rows(doc: Mapping[str, Any], *, cluster: str | None = None) -> list[list[str]]:
    """``status.history`` of each cluster, newest first, as rows of :data:`HISTORY_COLUMNS`."""
    status = doc.get("status") or {}
    entries = status.get("clusters") or []
    if not entries and status.get("history"):
        entries = [{"name": "", "history": status["history"]}]
    rows = []
    for entry in entries:
        if cluster is not None and entry.get("name") != cluster:
            continue
        for snap in entry.get("history") or []:
            digest = str(snap.get("configDigest") or "")
            algorithm, _, hexa = digest.partition(":")
            rows.append(
                [
                    str(entry.get("name") or ""),
                    str(snap.get("version", "")),
                    str(snap.get("status", "")),
                    f"{snap.get('chartName', '')}-{snap.get('chartVersion', '')}",
                    str(snap.get("appVersion") or ""),
                    str(snap.get("lastDeployed") or snap.get("firstDeployed") or ""),
                    f"{algorithm}:{hexa[:_DIGEST_HEX]}" if hexa else digest,
                ]
            )
    return rows


@dataclass(frozen=True)
class Loaded:
    """A HelmRelease as stored (in the CLI's scope) and as parsed."""

    key: ObjectKey
    doc: dict[str, Any]
    hr: HelmRelease


def load(session: Session, namespace: str, name: str) -> Loaded:
    key = scoped(ObjectKey("HelmRelease", namespace, name))
    doc = session.require(key)
    try:
        hr = parse_as(doc, HelmRelease)
    except InvalidObjects as exc:
        raise session.fail(f"HelmRelease '{namespace}/{name}' is invalid: {exc}") from exc
    return Loaded(key, doc, hr)


def chart_source(doc: dict[str, Any], key: ObjectKey) -> ObjectKey | None:
    """flux's source of a HelmRelease: the HelmChart of spec.chart, or chartRef's object."""
    try:
        return chart_source_key(parse_as(doc, HelmRelease))
    except InvalidObjects:
        return None


def _targets(session: Session, loaded: Loaded, only: str | None) -> list[Target]:
    clusters, default = clusters_for(session.store, loaded.key)
    try:
        selection = select_targets(loaded.hr.spec, clusters, default=default)
    except ValueError as exc:
        raise session.fail(str(exc)) from exc
    targets = [t for t in selection.targets if only is None or t.name == only]
    if not targets:
        names = ", ".join(t.name for t in selection.targets) or "none"
        wanted = f"cluster '{only}'" if only else "any cluster"
        where = f"{loaded.hr.namespace}/{loaded.hr.name}"
        raise session.fail(f"HelmRelease '{where}' targets {names}, not {wanted}")
    return targets


def _access(session: Session, loaded: Loaded, target: Target) -> TargetAccess:
    return target_access(
        session.store,
        loaded.hr.namespace,
        target,
        service_account=loaded.hr.spec.service_account_name,
        settings=session.settings,
        scope=cli_scope(),
    )


def _entries(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``status.clusters[]`` by cluster name."""
    return {str(e.get("name")): e for e in (doc.get("status") or {}).get("clusters") or []}


def _deployed_refs(access: TargetAccess, entry: Mapping[str, Any] | None) -> list[ObjectRef]:
    """The objects of the revision the cluster's run last recorded, with chart CRDs it owns."""
    history = (entry or {}).get("history") or []
    if not history:
        return []
    latest = history[0]
    client = access.client()
    name, namespace = str(latest["name"]), str(latest["namespace"])
    manifest = ReleaseStorage(client, namespace).manifest(name, int(latest["version"]))
    objects = placed_release_objects(client, manifest, release=name, namespace=namespace)
    return [ObjectRef.from_object(o) for o in objects]


def _crds(access: TargetAccess, owner: Owner) -> list[ObjectRef]:
    """The chart CRDs sluice applied for the HelmRelease (they carry its owner labels)."""
    found = access.client().list_objects(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", label_selector=owner.selector
    )
    return [ObjectRef.from_object(o) for o in found]


def _cluster_tree(session: Session, loaded: Loaded, target: Target) -> TreeNode:
    node = TreeNode(f"cluster {target.name}")
    entry = _entries(loaded.doc).get(target.name)
    try:
        access = _access(session, loaded, target)
        refs = _deployed_refs(access, entry)
        owner = Owner.helm_release(loaded.hr.name, loaded.hr.namespace)
        extra = [r for r in _crds(access, owner) if r not in refs]
    except (KubeError, StorageError, DriftError) as exc:
        return TreeNode(f"cluster {target.name}: {exc}")
    if not refs:
        return TreeNode(f"cluster {target.name}: no release yet")
    node.children = [TreeNode(str(r)) for r in (*refs, *extra)]
    return node


def _render(
    session: Session, loaded: Loaded, access: TargetAccess, chart: Path, *, upgrade: bool
) -> str:
    hr = loaded.hr
    values = release_values(session.store, hr, scope=loaded.key.scope)
    limits = ToolLimits.from_settings(session.settings, timeout=300.0)
    helm = Helm(access.kubeconfig.encode(), client=access.client(), limits=limits)
    ref = ReleaseRef(hr.release_name, hr.release_namespace)
    return helm.template(
        ref, chart=chart, values=values, upgrade=upgrade, post_renderer=PostRender.of(hr)
    )


def _chart(session: Session, loaded: Loaded) -> Path:
    ref = chart_source_key(loaded.hr)
    try:
        found = read_artifact(session.store, ref, scope=loaded.key.scope, retry_after=0)
        unpacked = fetch_artifact(found.url, found.digest, cache_dir=session.settings.cache_dir)
        return chart_root(unpacked)
    except Waiting as exc:
        raise session.fail(exc.message) from exc
    except (ArtifactError, ChartError) as exc:
        raise session.fail(f"{ref.kind} '{ref.namespace}/{ref.name}': {exc}") from exc


def _diff_cluster(session: Session, loaded: Loaded, target: Target, chart: Path) -> list[str]:
    """What releasing the chart on one cluster would change, as ``diff ks`` prints it."""
    hr = loaded.hr
    access = _access(session, loaded, target)
    entry = _entries(loaded.doc).get(target.name)
    deployed = _deployed_refs(access, entry)
    manifest = _render(session, loaded, access, chart, upgrade=bool(deployed))
    client = access.client()
    namespace = hr.release_namespace
    objects = placed_release_objects(client, manifest, release=hr.release_name, namespace=namespace)
    owner = Owner.helm_release(hr.name, hr.namespace)
    options = ApplyOptions(field_manager=HELM_FIELD_MANAGER, default_namespace=namespace)
    try:
        planned = plan(client, objects, owner=owner, options=options)
    except ApplyError as exc:
        raise KubeError(str(exc)) from exc
    lines = [line for p in planned.objects for line in object_diff(p)]
    rendered = {p.ref for p in planned.objects}
    lines += [f"► {ref} deleted" for ref in deployed if ref not in rendered]
    return lines


def _diff_errors() -> tuple[type[Exception], ...]:
    return (
        KubeError,
        HelmError,
        StorageError,
        DriftError,
        ValuesReferenceError,
        PostRenderSetupError,
        ToolMissingError,
    )


def tree(session: Session, namespace: str, name: str, *, cluster: str | None) -> TreeNode:
    """The HelmRelease, what it owns in the store, and its release's objects per cluster."""
    loaded = load(session, namespace, name)
    root = TreeNode(str(loaded.key))
    root.children = [TreeNode(str(k)) for k in session.store.list_owned(loaded.key)]
    root.children += [_cluster_tree(session, loaded, t) for t in _targets(session, loaded, cluster)]
    return root


def history(session: Session, namespace: str, name: str, *, cluster: str | None) -> None:
    """Print the Helm revisions of each cluster, newest first."""
    loaded = load(session, namespace, name)
    names = list(_entries(loaded.doc))
    if cluster is not None and cluster not in names:
        raise session.fail(
            f"HelmRelease '{namespace}/{name}' has no cluster '{cluster}': "
            f"it has {', '.join(names) or 'none yet'}"
        )
    rows = history_rows(loaded.doc, cluster=cluster)
    if not rows:
        session.say("✗", f"HelmRelease '{namespace}/{name}' has no release history yet")
        return
    session.out.table(HISTORY_COLUMNS, rows)


def diff(session: Session, namespace: str, name: str, *, cluster: str | None) -> bool:
    """Print what releasing the HelmRelease would change on each cluster; whether anything would."""
    loaded = load(session, namespace, name)
    chosen = _targets(session, loaded, cluster)
    rendered = _chart(session, loaded)
    secrets = secret_strings(values_objects(session.store, loaded.hr, scope=loaded.key.scope))
    changed = False
    for target in chosen:
        session.out.line(f"◎ cluster {target.name}")
        try:
            lines = _diff_cluster(session, loaded, target, rendered)
        except _diff_errors() as exc:
            session.say("✗", mask_strings([f"cluster {target.name}: {exc}"], secrets)[0])
            changed = True
            continue
        for line in mask_strings(lines, secrets) or [f"✔ cluster {target.name}: no changes"]:
            session.out.line(line)
        changed = changed or bool(lines)
    return changed
