"""The first half of a staged server-side apply: a dry run and its verdict per object (§3.6).

Objects get their owner's labels and field manager ``sluice``. Every object is
applied as a server-side dry run (``dryRun=All``) and compared with the live
one: that checks the whole revision and says what would change (created /
configured / unchanged / skipped), with nothing changed. If the API server
refuses any object, ``ApplyError`` names each refused object with the server's
reason and message. Objects whose kind or namespace is created by the same
revision cannot be dry-run yet: they are planned as created and ``deferred``,
and ``plan_late`` dry-runs them once the definitions stage is applied.

Round trips, for remote clusters: every object's read goes out beside its dry
run, and all objects at once (``parallel.py``). An object whose payload this
client already put in place is not dry-run again while it keeps the
resourceVersion it had then (``known.py``); those objects are read with one
labelled list per kind and namespace, and the others take the full path.

``apply.py`` carries a plan out; ``sluice diff`` prints one, so a preview and
the next apply cannot disagree. Toolkit annotations (§1.4): objects
``annotations.left_alone`` names are skipped, ``ssa: Merge`` leaves other field
managers alone, and otherwise kubectl's leftovers will be taken over. With
``force`` (spec or ``force: Enabled``) an object the API server will not change
in place is to be recreated, if a dry-run create shows the new one is valid.
Drift ignore rules (``spec.ignore``, ``driftignore.py``) leave their fields out
of the comparison, and resolve them in the payload of an object to be patched.

An object that another Kustomization applied is taken over, as Flux does: every
Kustomization applies with the same field manager, so the API server sees no
conflict and the object gets the last applier's owner labels; prune deletes only
objects that still carry the pruner's labels (§1.4, §3.7). Flux relies on this
when objects move between Kustomizations in Git (fluxcd/kustomize-controller#732).
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from shared.kube.annotations import FORCE_KEY, SSA_KEY, left_alone, metadata_value
from shared.kube.client import KubeClient
from shared.kube.driftignore import IgnoreRule, ignored_paths, resolve_payload, without_paths
from shared.kube.errors import ApiError, UnknownKindError
from shared.kube.inventory import Action, ChangeSet, ObjectError, ObjectRef
from shared.kube.known import payload_digest
from shared.kube.order import stages
from shared.kube.owner import Owner
from shared.kube.parallel import run_all
from shared.kube.takeover import cleanup_ops

__all__ = [
    "FIELD_MANAGER",
    "SERVER_FIELDS",
    "ApplyError",
    "ApplyOptions",
    "ObjectPlan",
    "Plan",
    "PlannedStage",
    "plan",
    "plan_late",
    "prepare_object",
]

FIELD_MANAGER = "sluice"
SERVER_FIELDS = ("resourceVersion", "uid", "generation", "managedFields", "selfLink")


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply; the defaults are Flux's."""

    field_manager: str = FIELD_MANAGER
    force: bool = False  # spec.force: recreate objects whose immutable fields changed
    default_namespace: str = ""  # for namespaced objects that name none
    custom_stage_kinds: frozenset[tuple[str, str]] = frozenset()  # (group, kind)
    wait_timeout: float = 300.0  # stage readiness, recreation, CRD discovery
    poll: float = 1.0
    # Managers whose fields sluice takes over, besides kubectl's: e.g. "kustomize-controller".
    override_managers: tuple[str, ...] = ()
    # spec.ignore: fields whose drift is left alone (driftignore.py).
    drift_ignore: tuple[IgnoreRule, ...] = ()


class ApplyError(Exception):
    """Objects refused or not ready; ``changes`` is what was applied before stopping."""

    def __init__(self, errors: Sequence[ObjectError], *, changes: ChangeSet | None = None) -> None:
        self.errors = tuple(errors)
        self.changes = changes or ChangeSet()
        super().__init__("\n".join(str(e) for e in self.errors))


class _Refused(Exception):
    """One object refused; collected into an ApplyError."""

    def __init__(self, error: ObjectError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class ObjectPlan:
    """What applying one object will do, by the API server's dry run."""

    obj: dict[str, Any]  # as it will be sent
    action: Action
    live: Mapping[str, Any] | None = None
    dry: Mapping[str, Any] | None = None  # the dry run's answer: the object after apply
    recreate: bool = False
    cleanup: bool = False  # kubectl's leftovers will be taken over
    # Its kind or namespace comes with this revision: dry-run after the definitions stage.
    deferred: bool = False
    digest: str = ""  # of the payload as planned (known.py), before drift-ignore resolution

    @property
    def ref(self) -> ObjectRef:
        """The object's reference."""
        return ObjectRef.from_object(self.obj)


@dataclass(frozen=True)
class PlannedStage:
    """One apply stage and the plans of its objects, in apply order."""

    name: str
    wait: bool
    objects: tuple[ObjectPlan, ...]


@dataclass(frozen=True)
class Plan:
    """What applying one revision will do, stage by stage; nothing has changed yet."""

    stages: tuple[PlannedStage, ...]

    @property
    def objects(self) -> tuple[ObjectPlan, ...]:
        """Every object's plan, in apply order."""
        return tuple(p for stage in self.stages for p in stage.objects)


def _prepare(raw: Mapping[str, Any], index: int, owner: Owner) -> dict[str, Any]:
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if not (raw.get("apiVersion") and raw.get("kind") and meta.get("name")):
        message = f"object #{index} of the revision needs apiVersion, kind and metadata.name"
        raise _Refused(ObjectError(ObjectRef.from_object(raw), "Invalid", message, "build"))
    return prepare_object(raw, owner)


def prepare_object(raw: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    """An object as apply sends it: server fields gone, Secret stringData folded, owner labels."""
    obj = copy.deepcopy(dict(raw))
    meta = obj.setdefault("metadata", {})
    for key in SERVER_FIELDS:
        meta.pop(key, None)
    if obj.get("status") == {}:
        del obj["status"]
    secret = obj["kind"] == "Secret" and obj["apiVersion"] == "v1"
    if secret and isinstance(string_data := obj.pop("stringData", None), dict):
        # As Flux does: stringData is write-only, so SSA could never drop a key of it.
        encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}
        obj["data"] = {**(obj.get("data") or {}), **encoded}
    meta["labels"] = {**(meta.get("labels") or {}), **owner.labels}
    return obj


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    kept = ("labels", "annotations", "finalizers", "ownerReferences")
    body["metadata"] = {k: meta.get(k) or None for k in kept}
    return body


def _forced(obj: Mapping[str, Any], options: ApplyOptions) -> bool:
    return options.force or metadata_value(obj, FORCE_KEY) == "enabled"


def _recreatable(client: KubeClient, obj: dict[str, Any], options: ApplyOptions) -> bool:
    # Validation runs before the name check, so AlreadyExists means "valid as a new object".
    query = {"dryRun": "All", "fieldManager": options.field_manager}
    try:
        client.request("POST", client.path(obj, collection=True), query=query, body=obj)
    except ApiError as exc:
        return exc.status == 409
    return True


def _resolve(
    client: KubeClient,
    obj: dict[str, Any],
    options: ApplyOptions,
    *,
    crd_kinds: set[tuple[str, str, str]],
    new_namespaces: set[str],
) -> bool:
    """Settle ``obj``'s namespace by its kind; False when it must wait for the definitions stage."""
    ref = ObjectRef.from_object(obj)
    try:
        info = client.resource(str(obj["apiVersion"]), ref.kind)
    except UnknownKindError as exc:
        if (ref.group, ref.version, ref.kind) in crd_kinds:
            return False
        raise _Refused(ObjectError(ref, "NoKindMatch", str(exc), "dry-run")) from exc
    meta = obj["metadata"]
    if not info.namespaced:
        meta.pop("namespace", None)
    elif not meta.get("namespace"):
        if not options.default_namespace:
            raise _Refused(ObjectError(ref, "Invalid", "namespace not specified", "dry-run"))
        meta["namespace"] = options.default_namespace
    return ObjectRef.from_object(obj).namespace not in new_namespaces


def _read(client: KubeClient, obj: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return client.get(obj)
    except ApiError as exc:
        ref = ObjectRef.from_object(obj)
        raise _Refused(ObjectError(ref, exc.reason, exc.message, "dry-run")) from exc


def _dry_run(
    client: KubeClient, obj: dict[str, Any], options: ApplyOptions
) -> dict[str, Any] | ApiError:
    # A refusal is an answer here: _verdict may still recreate the object.
    try:
        return client.apply(obj, field_manager=options.field_manager, dry_run=True)
    except ApiError as exc:
        return exc


def _verdict(
    client: KubeClient,
    obj: dict[str, Any],
    options: ApplyOptions,
    *,
    live: dict[str, Any] | None,
    dry: dict[str, Any] | ApiError,
    digest: str,
) -> ObjectPlan:
    """What applying ``obj`` would do, given the live object and the dry run's answer."""
    ref = ObjectRef.from_object(obj)
    if left_alone(obj, live):
        return ObjectPlan(obj, Action.SKIPPED, live)
    if isinstance(dry, ApiError):
        immutable = live is not None and dry.status == 422 and _forced(obj, options)
        if immutable and _recreatable(client, obj, options):
            return ObjectPlan(obj, Action.CREATED, live, recreate=True, digest=digest)
        raise _Refused(ObjectError(ref, dry.reason, dry.message, "dry-run"))
    if live is None:
        return ObjectPlan(obj, Action.CREATED, dry=dry, digest=digest)
    managers = options.field_manager, options.override_managers
    ssa = metadata_value(obj, SSA_KEY)
    cleanup = ssa != "merge" and bool(cleanup_ops(live, *managers))
    ignored = ignored_paths(options.drift_ignore, dry)
    drifted = _comparable(without_paths(live, ignored)) != _comparable(without_paths(dry, ignored))
    action = Action.CONFIGURED if drifted or cleanup else Action.UNCHANGED
    if action == Action.UNCHANGED:
        client.known.remember(digest, live)
    if ignored and action == Action.CONFIGURED:
        # Ignored fields that drifted: keep another applier's, or the value in the cluster.
        obj = resolve_payload(
            obj, live=live, dry_run=dry, paths=ignored, field_manager=options.field_manager
        )
    return ObjectPlan(obj, action, live, dry, cleanup=cleanup, digest=digest)


def _shaping(options: ApplyOptions) -> str:
    """The options a verdict depends on, for the payload digest (known.py)."""
    return repr((options.field_manager, options.override_managers, options.drift_ignore))


def _plan(
    client: KubeClient,
    obj: dict[str, Any],
    options: ApplyOptions,
    *,
    digest: str,
) -> ObjectPlan:
    """What applying ``obj`` (kind and namespace settled) would do, by a dry run.

    The live object is read while the dry run is under way: one round trip, not two.
    """
    both: list[Callable[[], Any]] = [
        partial(_read, client, obj),
        partial(_dry_run, client, obj, options),
    ]
    live, dry = run_all(both)
    return _verdict(client, obj, options, live=live, dry=dry, digest=digest)


def _plan_or_refusal(
    client: KubeClient, obj: dict[str, Any], options: ApplyOptions, *, digest: str
) -> ObjectPlan | ObjectError:
    try:
        return _plan(client, obj, options, digest=digest)
    except _Refused as refused:
        return refused.error


def _owned_live(
    client: KubeClient, objs: Sequence[dict[str, Any]], owner: Owner
) -> dict[int, dict[str, Any]]:
    """The live objects of ``objs`` (by id()), one labelled list per kind and namespace."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        info = client.resource(str(obj["apiVersion"]), str(obj["kind"]))
        groups.setdefault(info.path(str(obj["metadata"].get("namespace") or "")), []).append(obj)
    paths = list(groups)
    query = {"labelSelector": owner.selector}
    listings = run_all([partial(client.request, "GET", path, query=query) for path in paths])
    live: dict[int, dict[str, Any]] = {}
    for path, listing in zip(paths, listings, strict=True):
        items = {str(i["metadata"]["name"]): i for i in listing.get("items") or []}
        for obj in groups[path]:
            item = items.get(str(obj["metadata"]["name"]))
            if item is not None:  # list items name no apiVersion and kind
                live[id(obj)] = {**item, "apiVersion": obj["apiVersion"], "kind": obj["kind"]}
    return live


def _known_unchanged(
    client: KubeClient, objs: Sequence[dict[str, Any]], digests: dict[int, str], owner: Owner
) -> dict[int, ObjectPlan]:
    """Plans for the objects this client put in place and nobody wrote to since (known.py).

    Their live versions come from one list per kind and namespace, by the owner's
    labels, instead of a read each; the rest get the full read and dry run.
    """
    candidates = [o for o in objs if client.known.has(digests[id(o)])]
    if not candidates:
        return {}
    try:
        live = _owned_live(client, candidates, owner)
    except ApiError:
        return {}  # not allowed to list: every object gets its own read and dry run
    return {
        id(obj): ObjectPlan(obj, Action.UNCHANGED, live[id(obj)], digest=digests[id(obj)])
        for obj in candidates
        if id(obj) in live
        and client.known.unchanged(digests[id(obj)], live[id(obj)])
        and not left_alone(obj, live[id(obj)])
    }


def _late(
    client: KubeClient, obj: dict[str, Any], options: ApplyOptions, deadline: float
) -> ObjectPlan | ObjectError:
    while True:
        try:
            settled = _resolve(client, obj, options, crd_kinds=set(), new_namespaces=set())
            assert settled  # nothing is deferred twice
            digest = payload_digest(obj, shaping=_shaping(options))
            return _plan(client, obj, options, digest=digest)
        except _Refused as refused:
            if refused.error.reason == "NoKindMatch" and time.monotonic() < deadline:
                time.sleep(options.poll)
                continue
            return refused.error


def plan_late(
    client: KubeClient, objs: Sequence[dict[str, Any]], options: ApplyOptions
) -> tuple[list[ObjectPlan], list[ObjectError]]:
    """Plan the deferred objects once the definitions stage is applied.

    New CRDs are given ``options.wait_timeout`` to be served.
    """
    deadline = time.monotonic() + options.wait_timeout
    found = run_all([partial(_late, client, obj, options, deadline) for obj in objs])
    plans = [f for f in found if isinstance(f, ObjectPlan)]
    return plans, [f for f in found if isinstance(f, ObjectError)]


def _prepare_all(objects: Sequence[Mapping[str, Any]], owner: Owner) -> list[dict[str, Any]]:
    errors: list[ObjectError] = []
    desired: list[dict[str, Any]] = []
    for index, raw in enumerate(objects):
        try:
            desired.append(_prepare(raw, index, owner))
        except _Refused as refused:
            errors.append(refused.error)
    seen: set[str] = set()
    for obj in desired:
        ref = ObjectRef.from_object(obj)
        if ref.id in seen:
            errors.append(ObjectError(ref, "Duplicate", "object is in the revision twice", "build"))
        seen.add(ref.id)
    if errors:
        raise ApplyError(errors)
    return desired


def _crd_kinds(desired: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """(group, version, kind) served by the CRDs of the revision."""
    kinds = set()
    for obj in desired:
        spec = obj.get("spec")
        if obj["kind"] == "CustomResourceDefinition" and isinstance(spec, Mapping):
            group, kind = str(spec.get("group", "")), str((spec.get("names") or {}).get("kind"))
            for version in spec.get("versions") or []:
                if version.get("served"):
                    kinds.add((group, str(version.get("name")), kind))
    return kinds


def _missing_namespaces(client: KubeClient, desired: Sequence[Mapping[str, Any]]) -> set[str]:
    """Namespaces the revision creates that the cluster lacks yet.

    Their objects are planned after the definitions stage without a first try:
    a dry run into a missing namespace is refused only after kube-apiserver's
    NamespaceLifecycle admission has waited for its cache, ~50 ms per object.
    """
    names = sorted({str(o["metadata"]["name"]) for o in desired if o["kind"] == "Namespace"})
    probe = {"apiVersion": "v1", "kind": "Namespace"}
    reads = [partial(client.get, {**probe, "metadata": {"name": n}}) for n in names]
    try:
        return {n for n, live in zip(names, run_all(reads), strict=True) if live is None}
    except ApiError:
        # Not allowed to read Namespaces: defer all theirs, the safe order anyway.
        return set(names)


def plan(
    client: KubeClient,
    objects: Sequence[Mapping[str, Any]],
    *,
    owner: Owner,
    options: ApplyOptions | None = None,
) -> Plan:
    """Dry-run one revision: what applying it would do to each object, or ApplyError."""
    options = options or ApplyOptions()
    desired = _prepare_all(objects, owner)
    crd_kinds = _crd_kinds(desired)
    new_namespaces = _missing_namespaces(client, desired)
    ordered = stages(desired, custom_kinds=options.custom_stage_kinds)
    flat = [obj for stage in ordered for obj in stage.objects]
    client.prefetch((str(o["apiVersion"]), str(o["kind"])) for o in flat)
    verdicts: dict[int, ObjectPlan | ObjectError] = {}
    ready = []
    for obj in flat:
        try:
            if _resolve(client, obj, options, crd_kinds=crd_kinds, new_namespaces=new_namespaces):
                ready.append(obj)
        except _Refused as refused:
            verdicts[id(obj)] = refused.error
    shaping = _shaping(options)
    digests = {id(obj): payload_digest(obj, shaping=shaping) for obj in ready}
    verdicts.update(_known_unchanged(client, ready, digests, owner))
    # Every other object of every stage at once: a dry run changes nothing, so order can't matter.
    rest = [obj for obj in ready if id(obj) not in verdicts]
    answers = run_all(
        [partial(_plan_or_refusal, client, o, options, digest=digests[id(o)]) for o in rest]
    )
    verdicts.update(zip((id(o) for o in rest), answers, strict=True))
    in_order = [verdicts.get(id(obj)) for obj in flat]
    if errors := [v for v in in_order if isinstance(v, ObjectError)]:
        raise ApplyError(errors)
    planned: list[PlannedStage] = []
    for stage in ordered:
        plans: list[ObjectPlan] = []
        for obj in stage.objects:
            verdict = verdicts.get(id(obj))
            assert not isinstance(verdict, ObjectError)
            plans.append(verdict or ObjectPlan(obj, Action.CREATED, deferred=True))
        planned.append(PlannedStage(stage.name, stage.wait, tuple(plans)))
    return Plan(tuple(planned))
