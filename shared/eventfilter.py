"""Which events a subscriber wants: one filter for the HTTP event stream and ``sluice events``.

An :class:`EventFilter` holds one list per field; an event matches when it
matches every field, and a field matches when its list is empty (any value),
holds ``*`` (any value, as Flux's Alert ``eventSources[].name``) or holds the
event's value exactly:

=========== ==================================================================
field       compared with
=========== ==================================================================
kind        ``event.object.kind`` (``ks``, ``gitrepositories``... are accepted
            and stored as the kind: ``Kustomization``, ``GitRepository``)
name        ``event.object.name``
namespace   ``event.object.namespace``
cluster     ``event.cluster`` (the cluster a per-cluster run acted on) or
            ``event.object.scope`` (the Cluster scope the object lives in)
severity    ``event.severity``: ``info``, ``error`` or ``trace`` (an exact set,
            not Flux's "info and above" threshold)
reason      ``event.reason`` (``ReconciliationSucceeded``, ``HealthCheckFailed``...)
type        ``event.type`` (``applied``, ``revision-changed``...)
=========== ==================================================================

:func:`parse_filter` builds a filter from the raw strings of query
parameters or CLI options (repeated, or comma-separated) and raises
:class:`FilterError`, naming the parameter, for a value it cannot take. It is
pure: no Redis, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from shared.api.kinds import resolve_kind
from shared.events import Event

__all__ = ["ANY", "FILTER_PARAMETERS", "SEVERITIES", "EventFilter", "FilterError", "parse_filter"]

ANY = "*"
SEVERITIES = ("info", "error", "trace")
# Parameter name (query parameter, CLI option without ``--``) -> EventFilter field.
FILTER_PARAMETERS: Mapping[str, str] = {
    "kind": "kinds",
    "name": "names",
    "namespace": "namespaces",
    "cluster": "clusters",
    "severity": "severities",
    "reason": "reasons",
    "type": "types",
}


class FilterError(ValueError):
    """A filter value that cannot be taken; ``parameter`` is the query parameter / option name."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


@dataclass(frozen=True)
class EventFilter:
    """The events wanted: every field must match; an empty tuple matches any value."""

    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is one of the events wanted."""
        obj = event.object
        return (
            _takes(self.kinds, obj.kind)
            and _takes(self.names, obj.name)
            and _takes(self.namespaces, obj.namespace)
            and _takes_cluster(self.clusters, event)
            and _takes(self.severities, event.severity)
            and _takes(self.reasons, event.reason)
            and _takes(self.types, event.type)
        )

    @property
    def is_empty(self) -> bool:
        """True when every event matches."""
        return not any(getattr(self, f.name) for f in fields(self))

    def query(self) -> list[tuple[str, str]]:
        """The filter as query parameters (``[("kind", "Kustomization"), ...]``)."""
        return [
            (parameter, value)
            for parameter, field_name in FILTER_PARAMETERS.items()
            for value in getattr(self, field_name)
        ]


def _takes(wanted: tuple[str, ...], value: str) -> bool:
    return not wanted or ANY in wanted or value in wanted


def _takes_cluster(wanted: tuple[str, ...], event: Event) -> bool:
    if not wanted or ANY in wanted:
        return True
    return event.cluster in wanted or (bool(event.object.scope) and event.object.scope in wanted)


def parse_filter(values: Mapping[str, Iterable[str]]) -> EventFilter:
    """An EventFilter from parameter name -> raw values (each may be ``a,b``).

    Raises FilterError for a parameter that is not a filter, an empty value,
    an unknown kind or an unknown severity.
    """
    lists: dict[str, tuple[str, ...]] = {}
    for parameter, raw in values.items():
        field_name = FILTER_PARAMETERS.get(parameter)
        if field_name is None:
            known = ", ".join(FILTER_PARAMETERS)
            raise FilterError(parameter, f"not a filter (expected one of {known})")
        items = _split(parameter, raw)
        if items:
            lists[field_name] = tuple(dict.fromkeys(_checked(parameter, items)))
    return EventFilter(**lists)


def _split(parameter: str, raw: Iterable[str]) -> list[str]:
    items: list[str] = []
    for value in raw:
        parts = [part.strip() for part in value.split(",")]
        if not all(parts):
            raise FilterError(parameter, f"empty value in {value!r}")
        items.extend(parts)
    return items


def _checked(parameter: str, items: list[str]) -> list[str]:
    if parameter == "severity":
        unknown = [item for item in items if item not in (*SEVERITIES, ANY)]
        if unknown:
            raise FilterError(
                parameter, f"unknown severity {unknown[0]!r}: expected {', '.join(SEVERITIES)}"
            )
    if parameter == "kind":
        try:
            return [item if item == ANY else resolve_kind(item).kind for item in items]
        except ValueError as exc:
            raise FilterError(parameter, str(exc)) from None
    return items
