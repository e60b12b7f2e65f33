"""Services plug in through one declaration each, found through package entry points.

A service package declares one :class:`Service` in ``services/<name>/service.py``
and names it in pyproject.toml::

    [project.entry-points."sluice.services"]
    kustomize = "services.kustomize.service:SERVICE"

The declaration says everything ``shared`` needs to know about the service
without importing it: the kinds it reconciles and what the generic CLI must
know of each (:class:`KindFacts`), the Celery task modules a worker imports,
the events it subscribes to, the top-level CLI commands its ``cli`` function
adds (its own ``commands``, and flux-style ``verbs`` such as ``diff`` that
several services fill with a subcommand per kind), and how its worker runs
(:class:`WorkerShape`). ``shared`` never names a
service: it reads the declarations (:func:`load_services`).

A declaration module imports nothing but this one, so reading every
declaration costs one entry-point scan and a few tiny imports (the CLI does it
on every call). A declaration that fails to load is an error naming the
service and the reason (:class:`ServiceLoadError`), never a warning and a
missing command.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Literal

__all__ = [
    "ENTRY_POINT_GROUP",
    "POOLS",
    "KindFacts",
    "Pool",
    "Server",
    "Service",
    "ServiceLoadError",
    "WorkerShape",
    "check_services",
    "kind_facts",
    "load_attribute",
    "load_services",
    "reconciler_of",
    "service_named",
    "working_services",
]

ENTRY_POINT_GROUP = "sluice.services"
Pool = Literal["prefork", "threads", "solo"]
POOLS: tuple[Pool, ...] = ("prefork", "threads", "solo")
# Where a kind's status keeps the revision a user asks about: an applier's
# last applied revision, or a source's artifact revision.
RevisionField = Literal["lastAppliedRevision", "lastAttemptedRevision", "artifact.revision"]
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class ServiceLoadError(Exception):
    """A ``sluice.services`` entry point could not be loaded, or declares something wrong."""


@dataclass(frozen=True)
class KindFacts:
    """What the generic CLI and runtime need to know about one kind a service reconciles.

    ``command`` is the kind's word path in flux's CLI (``("kustomization",)``,
    ``("source", "git")``), ``aliases`` other spellings of its last word
    (``ks``). ``revision``: where its status keeps the revision ``sluice get``
    shows, None for a kind without one. ``fans_out``: status is kept per target cluster
    (``status.clusters``). ``inventory``: status records what it applied, so
    ``sluice tree`` can show it. ``reruns_on``: kinds whose change re-runs this
    kind's objects in the same namespace (a new Cluster, a changed Secret).
    ``suspendable``: ``spec.suspend`` exists, so ``sluice suspend`` applies
    (not to an ExternalArtifact, whose producer decides). ``own_verbs``: the
    generic verbs (``reconcile``, ...) whose command for this kind the
    service's ``cli`` adds itself, with the kind's own flags (``reconcile hr
    --force``); the generic command is then not added.
    """

    kind: str
    command: tuple[str, ...]
    revision: RevisionField | None  # None: the kind has no revision (an Alert)
    aliases: tuple[str, ...] = ()
    fans_out: bool = False
    inventory: bool = False
    reruns_on: tuple[str, ...] = ()
    suspendable: bool = True
    own_verbs: tuple[str, ...] = ()

    def revision_of(self, doc: dict[str, Any]) -> str:
        """The revision ``doc``'s status shows, or ""."""
        status = doc.get("status") or {}
        if self.revision is None:
            return ""
        if self.revision == "artifact.revision":
            return str((status.get("artifact") or {}).get("revision") or "")
        return str(status.get(self.revision) or "")


@dataclass(frozen=True)
class WorkerShape:
    """How one worker process of a service runs its tasks (see ``shared/celeryapp.py``)."""

    pool: Pool = "threads"
    concurrency: int = 1
    # Prefork only: replace a pool process after this many tasks (None: never).
    max_tasks_per_child: int | None = None


@dataclass(frozen=True)
class Server:
    """A long-running server a service runs beside its worker (an HTTP endpoint).

    ``command`` is its ``sluice`` command (one of the service's ``commands``),
    which must take ``--address HOST:PORT``; ``sluice up`` starts it as a
    supervised child on ``address`` (overridden with ``--listen NAME=HOST:PORT``)
    and waits for ``GET <health>`` to answer 200.
    """

    name: str
    command: tuple[str, ...]
    address: str
    health: str = "/healthz"


@dataclass(frozen=True)
class Service:
    """One service's whole declaration: kinds, tasks, subscriptions, CLI commands, worker.

    ``tasks`` are modules a worker imports; the first defines ``app``, the
    service's Celery app. A service with no tasks has nothing to run: ``sluice
    up`` starts no worker for it. ``cli`` is ``"module:function"``; the function
    takes the typer app and adds exactly ``commands`` and ``verbs``. ``servers``
    are its long-running HTTP servers, which ``sluice up`` supervises. A command
    is the service's alone; a verb is a flux-style group (``diff``, ``tree``)
    that other services and ``shared.cli`` may fill too, one subcommand per kind
    (``shared.cli.flux.flux_group``).
    """

    name: str
    kinds: tuple[KindFacts, ...] = ()
    tasks: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    cli: str | None = None
    worker: WorkerShape = WorkerShape()
    servers: tuple[Server, ...] = ()

    @property
    def has_work(self) -> bool:
        """Whether a worker of this service would have tasks to run."""
        return bool(self.tasks)


def check_services(found: list[tuple[str, object]]) -> tuple[Service, ...]:
    """The declarations (entry-point name, loaded object), checked against each other."""
    services: list[Service] = []
    owners: dict[str, str] = {}
    commands: dict[str, str] = {}
    servers: dict[str, str] = {}
    for entry, declared in found:
        if not isinstance(declared, Service):
            raise ServiceLoadError(
                f"service {entry!r}: its entry point gives a {type(declared).__name__}, "
                "expected a shared.plugins.Service"
            )
        if declared.name != entry or not _NAME.match(declared.name):
            raise ServiceLoadError(
                f"service {entry!r}: declares the name {declared.name!r}; expected the entry "
                "point's name, in lowercase letters, digits and '-'"
            )
        if any(s.name == entry for s in services):
            raise ServiceLoadError(f"service {entry!r}: declared by two installed packages")
        if bool(declared.commands or declared.verbs) != bool(declared.cli):
            raise ServiceLoadError(
                f"service {entry!r}: `commands` (or `verbs`) and `cli` go together"
            )
        for server in declared.servers:
            if not server.command or server.command[0] not in declared.commands:
                raise ServiceLoadError(
                    f"service {entry!r}: server {server.name!r} runs {server.command!r}, "
                    "which is not one of its commands"
                )
            if not _NAME.match(server.name) or server.name in servers:
                raise ServiceLoadError(
                    f"service {entry!r}: server name {server.name!r} is taken or not in "
                    "lowercase letters, digits and '-'"
                )
            servers[server.name] = entry
        for facts in declared.kinds:
            if facts.kind in owners:
                raise ServiceLoadError(
                    f"service {entry!r}: kind {facts.kind} is already reconciled by "
                    f"service {owners[facts.kind]!r}"
                )
            owners[facts.kind] = entry
        for command in declared.commands:
            if command in commands:
                raise ServiceLoadError(
                    f"service {entry!r}: command {command!r} is already added by "
                    f"{commands[command]!r}"
                )
            commands[command] = entry
        services.append(declared)
    for declared in services:
        for verb in declared.verbs:
            if verb in commands:
                raise ServiceLoadError(
                    f"service {declared.name!r}: verb {verb!r} is a command of "
                    f"{commands[verb]!r}, which no other service may add to"
                )
    return tuple(sorted(services, key=lambda s: s.name))


@cache
def load_services() -> tuple[Service, ...]:
    """Every installed service's declaration, by name; ServiceLoadError names a broken one."""
    found: list[tuple[str, object]] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.append((entry.name, entry.load()))
        except Exception as exc:
            raise ServiceLoadError(
                f"service {entry.name!r} ({entry.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return check_services(found)


def service_named(name: str) -> Service:
    """The declaration of service ``name``; ValueError lists the known ones."""
    services = load_services()
    for service in services:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in services) or "none installed"
    raise ValueError(f"unknown service {name!r}: expected one of {known}")


def working_services() -> tuple[Service, ...]:
    """The services that have tasks to run, so a worker of their own."""
    return tuple(s for s in load_services() if s.has_work)


def reconciler_of(kind: str) -> Service | None:
    """The service that reconciles ``kind``, or None (Cluster, Secret, ...: read by others)."""
    for service in load_services():
        if any(facts.kind == kind for facts in service.kinds):
            return service
    return None


def kind_facts(kind: str) -> KindFacts | None:
    """The facts a service declared for ``kind``, or None when no service reconciles it."""
    for service in load_services():
        for facts in service.kinds:
            if facts.kind == kind:
                return facts
    return None


def load_attribute(reference: str, *, service: str) -> Callable[..., Any]:
    """Import ``"module:attribute"`` of a declaration; ServiceLoadError names the service."""
    module, _, attribute = reference.partition(":")
    try:
        loaded: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    except Exception as exc:
        raise ServiceLoadError(
            f"service {service!r}: {reference} failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    return loaded
