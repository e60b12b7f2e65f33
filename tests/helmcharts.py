"""Small Helm charts and the pinned ``helm`` for tests, as a user at a terminal runs it.

API:

- ``ROLLOUT`` (120 s): what a helm action on the workload cluster may take (two
  shared cores, lazy informers); ``LIMITS``: the ``ToolLimits`` of such an action.
- Templates: ``DEPLOYMENT`` (``<release>-web``, one nginx replica, placed by
  ``.Values.nodeSelector`` when set), ``CONFIGMAP`` (``<release>-settings``,
  ``greeting`` from ``.Values.greeting``, "hello" by default), ``hook_job(name, *,
  backoff_limit=None)`` (a ``helm.sh/hook: test`` Job ``<release>-<name>``, placed
  by ``.Values.testNodeSelector`` when set; ``backoffLimit`` when given);
  ``crd_yaml(kind, group="example.com", *, properties=None)``: a namespaced
  CustomResourceDefinition ``<kind>s.<group>`` (served v1, ``spec`` of
  ``properties``: name -> OpenAPI type, ``size: integer`` by default).
- ``WEBAPP``: the files of a chart of those three (``greeting: hello`` by default).
- ``chart_yaml(name="webapp", version="0.1.0", *, app_version="") -> str``: a Chart.yaml.
- ``write_chart(directory, files) -> Path``: the chart folder ``directory/<name>``
  holding ``files``, text by path under it (``templates/cm.yaml``,
  ``values.yaml``, ``crds/x.yaml``...); ``files["Chart.yaml"]`` names the
  chart, ``chart_yaml()`` (webapp 0.1.0) when it has none.
- ``package_chart(source, destination) -> Path``: ``helm package`` of a chart
  folder into ``destination``; the ``.tgz`` it wrote.
- ``make_chart(directory, files) -> Path``: both: the source under
  ``directory/src``, the ``.tgz`` in ``directory`` (``make_chart(tmp_path, WEBAPP)``).
- ``HelmCli(kubeconfig, home, timeout=60)``: the pinned helm with a home of its
  own (``helm_env(home)``: HOME and HELM_{CACHE,CONFIG,DATA}_HOME under it, no
  user config leaks in) on the cluster of ``kubeconfig`` (None: no cluster).
  ``run(*args, timeout=None, check=False)`` -> CompletedProcess (``check``:
  AssertionError with helm's stderr when it fails); ``output(*args)``: stdout
  of a run that must succeed; ``json_output(*args)``: the same with ``-o json``,
  parsed; ``start(*args)`` -> Popen (output discarded); ``releases(namespace=None)``
  (``helm list``, every namespace when None), ``history(release)``,
  ``manifest(release)``, ``values(release)``, ``metadata(release)`` for any
  release with ``name`` and ``namespace`` (``ReleaseRef``, ``ExampleRelease``).
- ``helm_adapter(cluster, *, client, scratch) -> Helm``: the helm service's
  adapter (``services.helm.helm.Helm``) on ``cluster`` with ``LIMITS``.

Fixtures on the workload cluster (``tests.fixtures.cluster``): ``workload_api``
(a kubernetes ApiClient), ``workload_ns`` (a namespace of the test's own),
``workload_kube`` (a ``KubeClient``); and (``tests.fixtures.helm``)
``workload_helm``, the ``helm_adapter`` writing into ``helm_scratch``, an
empty folder a test can check is left empty; ``helm_cli``, a ``HelmCli`` on the
workload cluster; ``helm_gitops``, the ``gitops``
sluice with a helm worker and the workload cluster as Cluster "default";
``hello_repository``, a ``HelmRepoServer`` serving chart "hello" 1.0.0.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from services.helm.helm import Helm
from shared.kube.client import KubeClient
from shared.sandbox import ClusterInfo
from shared.toolrun import ToolLimits
from shared.tools import require_tool

__all__ = [
    "CONFIGMAP",
    "DEPLOYMENT",
    "LIMITS",
    "ROLLOUT",
    "WEBAPP",
    "HelmCli",
    "NamedRelease",
    "chart_yaml",
    "crd_yaml",
    "helm_adapter",
    "helm_env",
    "hook_job",
    "make_chart",
    "package_chart",
    "write_chart",
]

# Generous: two shared cores, and the controllers' informers start lazily.
ROLLOUT = 120.0
LIMITS = ToolLimits(memory_bytes=2 << 30, cpu_seconds=300, timeout=ROLLOUT + 60)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector: {{ toJson . }}
      {{- end }}
      containers:
        - name: web
          image: nginx:1.27
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | default "hello" | quote }}
"""


def hook_job(name: str = "smoke", *, backoff_limit: int | None = None) -> str:
    """A test hook: a Job ``<release>-<name>`` that succeeds once its pod is placed."""
    backoff = "" if backoff_limit is None else f"\n  backoffLimit: {backoff_limit}"
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{{{ .Release.Name }}}}-{name}
  annotations:
    helm.sh/hook: test
spec:{backoff}
  template:
    spec:
      restartPolicy: Never
      {{{{- with .Values.testNodeSelector }}}}
      nodeSelector: {{{{ toJson . }}}}
      {{{{- end }}}}
      containers:
        - name: {name}
          image: busybox:1.36
"""


def crd_yaml(
    kind: str, group: str = "example.com", *, properties: dict[str, str] | None = None
) -> str:
    """A namespaced CustomResourceDefinition ``<kind>s.<group>``: v1 served, ``spec`` typed."""
    plural = f"{kind.lower()}s"
    fields = "".join(
        f"\n                {name}: {{type: {openapi}}}"
        for name, openapi in (properties or {"size": "integer"}).items()
    )
    return f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}, singular: {kind.lower()}, listKind: {kind}List}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:{fields}
"""


# A chart "webapp": a ConfigMap, a Deployment and a test Job, with its default values.
WEBAPP = {
    "values.yaml": "greeting: hello\nnodeSelector: {}\n",
    "templates/configmap.yaml": CONFIGMAP,
    "templates/deployment.yaml": DEPLOYMENT,
    "templates/smoke-test.yaml": hook_job(),
}


def chart_yaml(name: str = "webapp", version: str = "0.1.0", *, app_version: str = "") -> str:
    """A ``Chart.yaml`` (apiVersion v2), with an ``appVersion`` when given."""
    chart = f"apiVersion: v2\nname: {name}\nversion: {version}\n"
    return chart + (f"appVersion: '{app_version}'\n" if app_version else "")


def write_chart(directory: Path, files: dict[str, str]) -> Path:
    """The chart folder ``directory/<name>`` holding ``files`` (by path under it).

    ``files["Chart.yaml"]`` names the chart; without one it is ``chart_yaml()``.
    """
    files = {"Chart.yaml": chart_yaml(), **files}
    name: str = yaml.safe_load(files["Chart.yaml"])["name"]
    source = directory / name
    for path, text in files.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(text)
    return source


def package_chart(source: Path, destination: Path) -> Path:
    """``helm package`` of the chart folder ``source`` into ``destination``; the ``.tgz``."""
    meta = yaml.safe_load((source / "Chart.yaml").read_text())
    home = source.parent / f".helm-home-{source.name}"
    HelmCli(None, home).run("package", str(source), "--destination", str(destination), check=True)
    return destination / f"{meta['name']}-{meta['version']}.tgz"


def make_chart(directory: Path, files: dict[str, str]) -> Path:
    """``files`` written as a chart under ``directory/src`` and packaged into ``directory``."""
    meta = yaml.safe_load(files.get("Chart.yaml", chart_yaml()))
    source = write_chart(directory / "src" / f"{meta['name']}-{meta['version']}", files)
    return package_chart(source, directory)


def helm_env(home: Path) -> dict[str, str]:
    """The environment of a helm whose every folder is under ``home``."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


class NamedRelease(Protocol):
    """A Helm release by name and namespace (``ReleaseRef``, ``ExampleRelease``)."""

    @property
    def name(self) -> str: ...

    @property
    def namespace(self) -> str: ...


@dataclass(frozen=True)
class HelmCli:
    """The pinned ``helm`` on one cluster (None: none), with its own home."""

    kubeconfig: Path | None
    home: Path
    timeout: float = 60

    def argv(self, *args: str) -> list[str]:
        """``helm ARGS --kubeconfig=...``."""
        cluster = [] if self.kubeconfig is None else [f"--kubeconfig={self.kubeconfig}"]
        return [str(require_tool("helm")), *args, *cluster]

    def run(
        self, *args: str, timeout: float | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run helm; with ``check``, an AssertionError carrying its stderr when it fails."""
        self.home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            self.argv(*args),
            env=helm_env(self.home),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=self.timeout if timeout is None else timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)}: {done.stderr}")
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start helm in the background (its output discarded); the caller waits or kills it."""
        self.home.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            self.argv(*args),
            env=helm_env(self.home),
            cwd=self.home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def output(self, *args: str, timeout: float | None = None) -> str:
        """The stdout of a helm run that must succeed."""
        return self.run(*args, timeout=timeout, check=True).stdout

    def json_output(self, *args: str, timeout: float | None = None) -> Any:
        """``helm ARGS -o json``, which must succeed, parsed."""
        return json.loads(self.output(*args, "-o", "json", timeout=timeout))

    def releases(self, namespace: str | None = None) -> list[dict[str, str]]:
        """``helm list``: the releases of ``namespace``, or of every namespace."""
        where = ["--all-namespaces"] if namespace is None else ["--namespace", namespace]
        listed: list[dict[str, str]] = self.json_output("list", *where)
        return listed

    def history(self, release: NamedRelease) -> list[dict[str, Any]]:
        """``helm history``: the release's revisions, oldest first."""
        listed: list[dict[str, Any]] = self.json_output(
            "history", release.name, "--namespace", release.namespace
        )
        return listed

    def manifest(self, release: NamedRelease) -> str:
        """``helm get manifest``: the text Helm stored for the newest revision."""
        return self.output("get", "manifest", release.name, "--namespace", release.namespace)

    def values(self, release: NamedRelease) -> dict[str, Any]:
        """``helm get values``: the values the user gave the release."""
        # Helm prints null for a release given no values.
        given: dict[str, Any] = (
            self.json_output("get", "values", release.name, "--namespace", release.namespace) or {}
        )
        return given

    def metadata(self, release: NamedRelease) -> dict[str, Any]:
        """``helm get metadata``: chart, revision, applyMethod... of the newest revision."""
        meta: dict[str, Any] = self.json_output(
            "get", "metadata", release.name, "--namespace", release.namespace
        )
        return meta


def helm_adapter(cluster: ClusterInfo, *, client: KubeClient, scratch: Path) -> Helm:
    """The helm service's adapter on ``cluster``, with ``LIMITS``, writing into ``scratch``."""
    return Helm(cluster.kubeconfig.read_bytes(), client=client, limits=LIMITS, scratch=scratch)
