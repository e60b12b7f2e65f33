"""Commit messages as image-automation-controller renders ``spec.git.commit.messageTemplate``.

The template (Go text/template with Sprig, run by :mod:`services.image.gotemplate`)
sees Flux's ``TemplateData``:

- ``.AutomationObject``: the ImageUpdateAutomation's namespaced name (prints ``ns/name``);
- ``.Values``: ``messageTemplateValues`` (a missing key prints ``<no value>``);
- ``.Changed`` (``update.Result``): ``.FileChanges`` (file -> object ->
  ``[]Change{OldValue, NewValue, Setter}``), ``.Changes`` (each change once)
  and ``.Objects`` (object -> changes, across files).

With ``legacy`` (``ImageUpdateAutomation.legacy_template_data``: applied as
v1beta1) the template gets the v0.x controllers' data too: ``.Updated``
(``.Files`` -> ``.Objects`` -> images, ``.Objects``, ``.Images``; an image
prints as its reference and has ``.Identifier``, ``.Repository``,
``.Registry``, ``.Name`` and ``.Policy``) and ``.Changed.ImageResult`` (the
same). Otherwise those fields are gone, as in Flux v1: a template using them
raises RemovedTemplateFieldError (Flux's reason ``RemovedTemplateField``,
Stalled). The Go types themselves are in :mod:`services.image.templatedata`.

Where Go iterates a map in random order (``Changes``, ``Images``), sluice
keeps the order the files were walked in.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.image.gotemplate import Template, TemplateExecError, TemplateParseError
from services.image.setters import SetterResult
from services.image.templatedata import template_data
from shared.api.imageupdateautomation import DEFAULT_MESSAGE_TEMPLATE

__all__ = [
    "DEFAULT_MESSAGE_TEMPLATE",
    "CommitMessageError",
    "RemovedTemplateFieldError",
    "commit_message",
    "template_data",
]

_TEMPLATE_NAME = "commit message"
_DOCS = "https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"
_REMOVED = {
    ".Updated": (
        "can't evaluate field Updated in type source.TemplateData",
        "template uses removed '.Updated' field. Please use '.Changed' instead.",
    ),
    ".Changed.ImageResult": (
        "can't evaluate field ImageResult in type update.Result",
        "template uses removed '.Changed.ImageResult' field. "
        "Please use '.Changed.FileChanges' or '.Changed.Objects' instead.",
    ),
}


class CommitMessageError(ValueError):
    """The message template does not parse or fails to run; worded as Flux words it."""


class RemovedTemplateFieldError(CommitMessageError):
    """A v1 template uses ``.Updated`` or ``.Changed.ImageResult`` (Flux: Stalled)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{_REMOVED[field][1]} See: {_DOCS}")
        self.field = field


def commit_message(
    template: str,
    result: SetterResult,
    *,
    namespace: str,
    name: str,
    values: Mapping[str, str] | None = None,
    legacy: bool = False,
) -> str:
    """The commit message for ``result`` by the automation ``namespace/name``.

    ``legacy`` gives v1beta1/v1beta2 objects their ``.Updated`` data. An empty
    template is Flux's default message. Raises CommitMessageError (a
    RemovedTemplateFieldError for a v1 template using removed fields).
    """
    try:
        parsed = Template.parse(template or DEFAULT_MESSAGE_TEMPLATE, name=_TEMPLATE_NAME)
    except TemplateParseError as error:
        raise CommitMessageError(
            f"unable to create commit message template from spec: {error}"
        ) from None
    data = template_data(result, namespace=namespace, name=name, values=values, legacy=legacy)
    try:
        return parsed.render(data)
    except TemplateExecError as error:
        if not legacy:
            for field, (pattern, _) in _REMOVED.items():
                if pattern in str(error):
                    raise RemovedTemplateFieldError(field) from None
        raise CommitMessageError(f"failed to run template from spec: {error}") from None
