"""Where the store keeps things in Redis; every key starts with the prefix (``sluice:``).

    sluice:object:<key>                STRING  the object as JSON (Secret values sealed)
    sluice:index:[<scope>:]<Kind>      SET     "<ns>/<name>" of every object of that kind
    sluice:index:[<scope>:]<Kind>/<ns> SET     "<name>" of every object of that kind in <ns>
    sluice:owned:<key>                 SET     keys of the objects it owns
    sluice:scopes                      SET     every Cluster scope that ever held an object
    sluice:resourceVersion             STRING  global counter; every write takes the next value
    sluice:changes                     STREAM  {key, type, resourceVersion} per write, capped

``<key>`` is ``str(ObjectKey)``: ``Kind/ns/name`` in the fleet-wide scope (the
keys every object had before scopes), ``<scope>:Kind/ns/name`` in a Cluster's.

Lists read one index set and MGET its objects, so their cost grows with the
objects of one kind, never with the database. An object and its index
entries change in one MULTI/EXEC, so the indexes never point at nothing for
long: a reader racing a delete skips the missing object. The owner's set
outlives the owner so a pruner can still find what it owned; it empties as
the owned objects go. All keys live on one Redis (no Cluster hash slots).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.keys import SCOPE_SEPARATOR, ObjectKey

__all__ = ["Layout", "check_key"]

_KIND_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$")


def check_key(key: ObjectKey) -> str | None:
    """Why ``key`` cannot name a stored object, or None when it can."""
    if key.scope and not _NAME_RE.match(key.scope):
        return f"cluster scope {key.scope!r} is not valid: expected a Cluster name"
    if not _KIND_RE.match(key.kind):
        return f"kind {key.kind!r} is not valid: expected letters and digits, e.g. GitRepository"
    for field, value in (("metadata.namespace", key.namespace), ("metadata.name", key.name)):
        if not _NAME_RE.match(value):
            return (
                f"{field} {value!r} is not valid: expected letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit"
            )
    return None


def _scoped(scope: str) -> str:
    return f"{scope}{SCOPE_SEPARATOR}" if scope else ""


@dataclass(frozen=True)
class Layout:
    """Redis key names under one prefix."""

    prefix: str = "sluice:"

    def object(self, key: ObjectKey) -> str:
        """The key holding the object's JSON."""
        return f"{self.prefix}object:{key}"

    def kind_index(self, kind: str, scope: str = "") -> str:
        """The set of ``ns/name`` of one kind across namespaces of one scope."""
        return f"{self.prefix}index:{_scoped(scope)}{kind}"

    def namespace_index(self, kind: str, namespace: str, scope: str = "") -> str:
        """The set of names of one kind in one namespace of one scope."""
        return f"{self.prefix}index:{_scoped(scope)}{kind}/{namespace}"

    @property
    def scopes(self) -> str:
        """The set of Cluster scopes that hold (or held) objects."""
        return f"{self.prefix}scopes"

    def owned(self, owner: ObjectKey) -> str:
        """The set of keys of the objects ``owner`` owns."""
        return f"{self.prefix}owned:{owner}"

    @property
    def resource_version(self) -> str:
        """The global resourceVersion counter."""
        return f"{self.prefix}resourceVersion"

    @property
    def changes(self) -> str:
        """The capped stream of changes."""
        return f"{self.prefix}changes"
