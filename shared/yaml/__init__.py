"""The one YAML loader and dumper of sluice: every file, build output and kubeconfig goes here.

sluice reads YAML the way Kubernetes does, because the documents it reads are
the ones a user also gives to kubectl, kustomize and the API server, which
turn YAML into JSON before anything looks at it:

- the result is JSON data: mappings with string keys, lists, strings,
  numbers, booleans and null. Unquoted dates and times stay strings
  (``day: 2024-01-01`` is ``"2024-01-01"``), as after Kubernetes' YAML to
  JSON step; non-string keys become their JSON text (``1: a`` and
  ``true: b`` give the keys ``"1"`` and ``"true"``); tags that have no JSON
  form (``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``) are refused.
- a key given twice in one mapping is refused. kubectl (strict decoding,
  its default), kustomize and sigs.k8s.io/yaml's strict mode refuse it too,
  and keeping the last one silently drops half of a spec. Keys merged in with
  ``<<`` may still be overridden, as YAML's merge key intends.
- anchors and aliases work, and every alias is an independent copy, as in
  the JSON that Kubernetes sees; an anchor defined again names the newest.
- empty documents (``---`` alone, comments only) are skipped.

Hostile input gets an error, never a crash: collections nested more than
:data:`MAX_DEPTH` levels deep (the parser and every later step recurse once
per level), aliases that expand a document by more than
:data:`MAX_ALIAS_NODES` nodes (an "alias bomb" of aliases of aliases), and
aliases that contain themselves are refused before any data is built.
:func:`shared.jsondoc.load_json` keeps the same depth rule for JSON.

The scanner and parser are libyaml's (CParser) when PyYAML has it. The
composer is sluice's own, without recursion: libyaml's composer recurses in C
once per level, so a megabyte of ``[`` ends the process with a segmentation
fault before any limit could be checked, and PyYAML's Python one recurses too.
The price: 5,000 Deployments load in 1.26 s of CPU against 0.92 s with
libyaml's composer (and 7.0 s with PyYAML's pure-Python loader, which
``sluice apply`` used before); kustomize building them takes far longer.

Modules: ``loader`` (the loader and DocumentError), ``compose`` (node graphs
without recursion), ``limits`` (depth and alias checks), ``construct`` (JSON
data from nodes), ``dumper`` (the dumper).

Exceptions::

    ValueError
     └── DocumentError    a document cannot be read; names the source and document
"""

from __future__ import annotations

from shared.yaml.dumper import dump, dump_all
from shared.yaml.limits import MAX_ALIAS_NODES, MAX_DEPTH
from shared.yaml.loader import DocumentError, iter_documents, load, load_all

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "DocumentError",
    "dump",
    "dump_all",
    "iter_documents",
    "load",
    "load_all",
]
