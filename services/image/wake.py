"""Who follows whom among the image kinds: the objects an image event wakes.

- An ImageRepository whose scan found new tags wakes the ImagePolicies that
  read it: they record that use as they run (``shared.dependents``), as
  image-reflector-controller watches the repositories its policies name.
- An ImagePolicy whose choice changed wakes the ImageUpdateAutomations of
  its namespace whose ``policySelector`` selects it (listed, not indexed: a
  new automation selects a policy before it has ever run).

Other kinds' ``revision-changed`` events (a GitRepository's new commit)
reach this service too; they wake nothing here.
"""

from __future__ import annotations

from shared.api import InvalidObjects, parse_as
from shared.api.imagepolicy import ImagePolicy
from shared.api.imageupdateautomation import ImageUpdateAutomation
from shared.dependents import DependentsIndex
from shared.events import Event
from shared.keys import ObjectKey
from shared.store import Store

__all__ = ["followers"]


def followers(store: Store, index: DependentsIndex, event: Event) -> list[ObjectKey]:
    """The image objects ``event`` (a ``revision-changed``) should reconcile now."""
    changed = event.object
    if changed.kind == "ImageRepository":
        found = []
        for key in index.dependents(changed):
            if key.kind != "ImagePolicy":
                continue
            if store.get(key) is None:
                index.drop(key)  # a deleted policy: its edges go with it
                continue
            found.append(key)
        return found
    if changed.kind == "ImagePolicy":
        doc = store.get(changed)
        if doc is None:
            return []
        try:
            policy = parse_as(doc, ImagePolicy, source=str(changed))
        except InvalidObjects:
            return []
        return [
            ObjectKey.of(auto_doc, changed.scope)
            for auto_doc in store.list(
                "ImageUpdateAutomation", changed.namespace, scope=changed.scope
            )
            if _selects(auto_doc, policy, changed)
        ]
    return []


def _selects(doc: dict[str, object], policy: ImagePolicy, key: ObjectKey) -> bool:
    try:
        automation = parse_as(doc, ImageUpdateAutomation, source=f"{key.namespace}")
    except InvalidObjects:
        return False
    selector = automation.spec.policy_selector
    return selector is None or selector.matches(policy.metadata.labels)
