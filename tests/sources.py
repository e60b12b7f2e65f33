"""What the in-process source tests share: apply a source and its Secrets, read its status back.

Each source kind's tests (GitRepository, HelmRepository, HelmChart,
OCIRepository, Bucket) apply objects straight into the store of an
in-process worker context, run ``reconcile_source`` and read the status
as a user would; these helpers are that set-up and read-back, once.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from services.source.reconcile import SourceKind, reconcile_source
from shared.keys import ObjectKey
from shared.scheduler import DUE
from shared.tools import require_tool
from shared.worker import WorkerContext

__all__ = [
    "NOT_DUE",
    "NS",
    "apply_helm_chart",
    "apply_secret",
    "apply_source",
    "conditions",
    "dockerconfigjson",
    "downloaded_files",
    "push_chart",
    "ready",
    "reconciled",
    "status",
    "stored",
]

NS = "flux-system"
# A due time decades away: the object is tracked as the scheduler tracks every
# object, but no run of it comes due during a test.
NOT_DUE = 4_000_000_000.0


def apply_source(
    ctx: WorkerContext,
    kind: str,
    name: str,
    spec: dict[str, Any],
    *,
    api_version: str = "v1",
    tracked: bool = False,
) -> ObjectKey:
    """Apply a ``source.toolkit.fluxcd.io`` object in namespace ``NS``; its key.

    ``tracked`` also enters it in the scheduler's due set (far ahead), as the
    scheduler does for every object it knows.
    """
    ctx.store.apply(
        {
            "apiVersion": f"source.toolkit.fluxcd.io/{api_version}",
            "kind": kind,
            "metadata": {"name": name, "namespace": NS},
            "spec": spec,
        }
    )
    key = ObjectKey(kind, NS, name)
    if tracked:
        ctx.client.zadd(DUE, {str(key): NOT_DUE})
    return key


def apply_helm_chart(
    ctx: WorkerContext, name: str, *, source: tuple[str, str], **spec: Any
) -> ObjectKey:
    """Apply HelmChart ``name``, hourly, of a chart in ``source`` (kind, name).

    ``spec`` holds ``chart`` and any other field; a ``sourceRef`` there overrides ``source``.
    """
    kind, source_name = source
    defaults = {"interval": "1h", "sourceRef": {"kind": kind, "name": source_name}}
    return apply_source(ctx, "HelmChart", name, {**defaults, **spec})


def apply_secret(
    ctx: WorkerContext, name: str, data: Mapping[str, str | bytes], *, type: str | None = None
) -> None:
    """Apply a Secret in ``NS`` with ``data`` base64-encoded, as ``kubectl create secret`` does."""
    encoded = {
        k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
        for k, v in data.items()
    }
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": encoded,
    }
    if type is not None:
        doc["type"] = type
    ctx.store.apply(doc)


def dockerconfigjson(host: str, user: str, password: str) -> dict[str, bytes]:
    """Secret data holding a ``.dockerconfigjson`` that logs ``user`` in to ``host``."""
    entry = {"username": user, "password": password}
    return {".dockerconfigjson": json.dumps({"auths": {host: entry}}).encode()}


def stored(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    """The object as the store holds it now (it must exist)."""
    doc = ctx.store.get(key)
    assert doc is not None, f"{key} is not in the store"
    return doc


def status(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    """The object's status (empty before its first reconcile)."""
    return dict(stored(ctx, key).get("status") or {})


def conditions(doc: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """``doc``'s conditions by type: (status, reason, message)."""
    return {
        c["type"]: (c["status"], c["reason"], c["message"])
        for c in (doc.get("status") or {}).get("conditions", [])
    }


def ready(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    """The object's one Ready condition, as a dict."""
    (found,) = [c for c in status(ctx, key)["conditions"] if c["type"] == "Ready"]
    return dict(found)


def reconciled(ctx: WorkerContext, *runs: tuple[ObjectKey, SourceKind]) -> dict[str, Any]:
    """Reconcile each (key, kind) in order, as the source worker would; the last one's object."""
    for key, kind in runs:
        reconcile_source(ctx, key, kind)
    return stored(ctx, runs[-1][0])


def downloaded_files(doc: dict[str, Any]) -> dict[str, bytes]:
    """The files of ``doc``'s artifact, downloaded from its URL, by path in the archive."""
    got = httpx.get(doc["status"]["artifact"]["url"])
    assert got.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(got.content), mode="r:gz") as tar:
        return {
            m.name: data.read()
            for m in tar.getmembers()
            if m.isreg() and (data := tar.extractfile(m)) is not None
        }


def push_chart(
    workdir: Path,
    *,
    name: str,
    version: str,
    to: str,
    values: str = "",
    env: Mapping[str, str] | None = None,
) -> Path:
    """``helm package`` a small chart and ``helm push`` it to ``to`` (``oci://HOST/PATH``).

    ``env`` is helm's environment (a logged-in registry's HOME); by default a
    fresh one under ``workdir``. Returns the packaged ``.tgz``.
    """
    helm = str(require_tool("helm"))
    chart = workdir / "charts" / f"{name}-{version}" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    if values:
        (chart / "values.yaml").write_text(values)
    home = {"HOME": str(workdir), "HELM_CACHE_HOME": str(workdir / "helm-cache")}
    run: dict[str, Any] = {
        "env": dict(env) if env is not None else home,
        "capture_output": True,
        "text": True,
        "timeout": 60,
        "check": False,
    }
    packaged = subprocess.run([helm, "package", str(chart), "-d", str(chart.parent)], **run)
    assert packaged.returncode == 0, packaged.stderr
    tgz = chart.parent / f"{name}-{version}.tgz"
    pushed = subprocess.run([helm, "push", str(tgz), to, "--plain-http"], **run)
    assert pushed.returncode == 0, pushed.stderr
    return tgz
