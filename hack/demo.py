"""``make demo``: one Git repository, two local clusters, sluice keeping both in sync.

Starts two sandbox clusters and ``sluice up`` in a throwaway folder, pushes a fleet
repository in Flux's layout (``clusters/cluster-1/``, ``clusters/cluster-2/``, each
with a Kustomization ``apps``; ``apps/`` with the app) to a local bare repository,
registers both clusters with ``sluice cluster add``, bootstraps each with ``sluice
bootstrap git`` into its own scope, applies a Flux Receiver (type github) to each
scope and makes the bare repository's post-receive hook call them as a Git host's
push webhook would (signed with the Receivers' token), then commits config changes
and measures commit-to-applied: from ``git push`` to the new ConfigMap being in both
clusters.
Everything it starts is stopped again, also on failure or Ctrl-C.

    .venv/bin/python hack/demo.py [--commits N] [--timeout SECONDS] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes.config import new_client_from_config

from shared.tools import find_tool

SLUICE = str(Path(sys.executable).with_name("sluice"))
CLUSTERS = ("cluster-1", "cluster-2")
FLUX_SYSTEM = "flux-system"  # the namespace, GitRepository and Kustomization bootstrap stores
OWNER = "kustomize.toolkit.fluxcd.io/name=apps"  # the label sluice puts on what it applies
POLL = 0.1  # seconds between looks at the clusters while measuring
T = TypeVar("T")
new_client: Callable[..., Any] = new_client_from_config  # untyped upstream

BASE = {
    "apps/base/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
    "apps/base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports: [{containerPort: 80}]
          envFrom: [{configMapRef: {name: web-config}}]
""",
    "apps/base/service.yaml": """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
""",
    "apps/base/kustomization.yaml": "resources: [namespace.yaml, deployment.yaml, service.yaml]\n",
}
OVERLAY = """\
resources: [../base]
configMapGenerator:
  - name: web-config
    namespace: demo
    literals: [greeting={greeting}]
"""
OVERLAY_PATH = "apps/fleet/kustomization.yaml"  # both clusters' overlay
# Each cluster's folder holds the same Kustomization `apps`, as in Flux's fleet layout;
# sluice keeps them apart by cluster scope, as one Flux per cluster would.
APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 1m
  retryInterval: 10s
  path: ./apps/fleet
  prune: true
  wait: true  # Ready only once the Deployment is Available on the cluster
  timeout: 2m
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
# A Flux Receiver in each cluster's scope: a push webhook fetches the source at once.
RECEIVER_NAME = "git-push"
RECEIVER = f"""\
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: {RECEIVER_NAME}
  namespace: {FLUX_SYSTEM}
spec:
  type: github
  events: [push]
  secretRef:
    name: webhook-token
  resources:
    - kind: GitRepository
      name: {FLUX_SYSTEM}
"""
# The bare repository's post-receive hook does what GitHub does on a push: it POSTs
# a push event, signed with the Receivers' token (HMAC-SHA256, X-Hub-Signature-256),
# to each Receiver's webhook URL. Token and URLs come from a 0600 file, never argv.
HOOK = """\
#!{python}
\"\"\"post-receive: a GitHub-style push webhook to each sluice Receiver.\"\"\"
import hashlib, hmac, json, sys, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

with open({config!r}) as f:  # 0600: {{"token": ..., "receivers": [[cluster, url], ...]}}
    config = json.load(f)
for line in sys.stdin.read().splitlines():
    before, after, ref = line.split()
    body = json.dumps({{"ref": ref, "before": before, "after": after,
                       "repository": {{"name": "app"}}}}).encode()
    digest = hmac.new(config["token"].encode(), body, hashlib.sha256).hexdigest()
    headers = {{"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-Hub-Signature-256": "sha256=" + digest}}

    def post(target):
        cluster, url = target
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return cluster, answer.status
        except urllib.error.HTTPError as err:
            return cluster, err.code
        except OSError as err:
            return cluster, str(err)

    with ThreadPoolExecutor() as pool:
        for cluster, code in pool.map(post, config["receivers"]):
            mark = "\u2714" if code == 200 else "\u2717"
            print(f"{{mark}} webhook to the Receiver of {{cluster}}: {{code}}", file=sys.stderr)
"""


class DemoError(RuntimeError):
    """A step failed or timed out."""


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM; a BaseException, so no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def heading(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], *, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)
    return found


def configmap_with(api: Any, greeting: str) -> str | None:
    """The name of the ``web-config-*`` ConfigMap holding ``greeting``, if there is one."""
    try:
        items = api.list_namespaced_config_map("demo", _request_timeout=2).items
    except Exception:  # the namespace not there yet, a slow answer: look again
        return None
    for cm in items:
        if (
            cm.metadata.name.startswith("web-config")
            and (cm.data or {}).get("greeting") == greeting
        ):
            return str(cm.metadata.name)
    return None


@dataclass
class Demo:
    """The throwaway folder, what runs in it, and how to stop it."""

    work: Path
    timeout: float
    kubectl: str
    env: dict[str, str]
    up: subprocess.Popen[bytes] | None = None
    up_pids: list[int] = field(default_factory=list)
    receiver_url: str = ""

    @property
    def sandbox(self) -> Path:
        return self.work / "sandbox"

    @property
    def kubeconfigs(self) -> list[Path]:
        return [self.sandbox / f"{name}.kubeconfig" for name in CLUSTERS]

    def logs(self) -> list[Path]:
        """The logs that explain a failure: the sandbox's until sluice runs, then sluice's."""
        if self.up is None:
            return sorted((self.sandbox / "logs").glob("*.log"))
        names = ("worker-source", "worker-kustomize", "worker-notify", "receiver", "scheduler")
        return [self.work / "up.err", *(self.work / "sluice" / "logs" / f"{n}.log" for n in names)]

    def shown(self, text: str) -> str:
        return (
            text.replace(SLUICE, "sluice")
            .replace(self.kubectl, "kubectl")
            .replace(str(self.work), "$DEMO")
        )

    def run(self, argv: Sequence[str], *, show: bool = True, cwd: Path | None = None) -> str:
        """Run a command; print it and its output when ``show``; fail the demo on error."""
        line = self.shown(" ".join(argv))
        if show:
            print(f"$ {line}", flush=True)
        try:
            done = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True,
                                  timeout=self.timeout + 30, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise DemoError(f"`{line}` did not finish in {self.timeout + 30:.0f}s") from exc
        if show:
            print(done.stdout + done.stderr, end="", flush=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-3000:]
            raise DemoError(f"`{line}` exited {done.returncode}:\n{output}")
        return done.stdout

    def git(self, *args: str) -> str:
        return self.run(["git", *args], cwd=self.work / "app", show=False)

    def start_clusters(self) -> None:
        heading(f"starting {len(CLUSTERS)} local clusters (etcd + kube-apiservers)")
        self.run(
            [SLUICE, "sandbox", "up", "--clusters", str(len(CLUSTERS)), "--dir", str(self.sandbox)]
        )

    def start_sluice(self) -> None:
        heading("starting sluice: Redis, a worker per service with tasks, scheduler, Flower, ...")
        argv = [SLUICE, "up", "--data-dir", str(self.work / "sluice")]
        # A free port for every server it runs (redis, flower, artifacts, ...), whatever
        # they are in this version, so the demo never clashes with a sluice already running.
        ports = re.findall(r"--[a-z-]+-port\b", self.run([SLUICE, "up", "--help"], show=False))
        for option in dict.fromkeys(ports):
            argv += [option, str(free_port())]
        # The webhook receiver too (Flux's :9292 may be taken), on loopback.
        argv += ["--listen", f"receiver=127.0.0.1:{free_port()}"]
        print(f"$ {self.shown(' '.join(argv))} &", flush=True)
        stdout = self.work / "up.out"
        with stdout.open("wb") as out, (self.work / "up.err").open("wb") as err:
            # Its own session: Ctrl-C reaches only the demo, which then stops it in order.
            self.up = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=err, start_new_session=True)  # fmt: skip
        up = self.up

        def ready() -> str | None:
            if up.poll() is not None:
                raise DemoError(f"sluice up exited with code {up.returncode}")
            text = stdout.read_text(errors="replace")
            return text if "sluice is up" in text else None

        text = wait_for("sluice up to be ready", ready, timeout=self.timeout)
        print(text, end="", flush=True)
        self.up_pids = [int(pid) for pid in re.findall(r"^\S+ +\S+ +(\d+) ", text, re.M)]
        receiver = re.search(r"^receiver +(http://\S+) ", text, re.M)
        if receiver is None:
            raise DemoError("sluice up started no webhook receiver")
        self.receiver_url = receiver.group(1)
        export = re.search(r"export (SLUICE_REDIS_URL=.*)", text)
        if export is None:
            raise DemoError("sluice up printed no SLUICE_REDIS_URL")
        # The URL and the file holding Redis' password, as another shell would take them.
        for name, value in re.findall(r"(SLUICE_\w+)=(\S+)", export.group(1)):
            self.env[name] = value

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.work / "app" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def create_repo(self) -> str:
        heading("creating a fleet repository in Flux's layout (clusters/, apps/)")
        bare = self.work / "git" / "app.git"
        self.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], show=False)
        self.run(["git", "init", "-q", "-b", "main", str(self.work / "app")], show=False)
        folders = {f"clusters/{name}/apps.yaml": APPS for name in CLUSTERS}
        self.write({**folders, **BASE, OVERLAY_PATH: OVERLAY.format(greeting="hello")})
        self.git("add", ".")
        self.git("commit", "-q", "-m", "fleet: a folder per cluster, the web app in apps/")
        self.git("remote", "add", "origin", bare.as_uri())
        self.git("push", "-q", "origin", "main")
        for name in self.git("ls-files").split():
            print(f"  {name}")
        print(f"  pushed to {self.shown(bare.as_uri())} (branch main)")
        print("clusters/cluster-N/apps.yaml (the same in both folders):")
        print("".join(f"  {line}\n" for line in APPS.splitlines()), end="")
        return bare.as_uri()

    def register(self) -> None:
        heading("registering both clusters")
        for name, path in zip(CLUSTERS, self.kubeconfigs, strict=True):
            self.run([SLUICE, "cluster", "add", name, "--kubeconfig", str(path)])

    def bootstrap(self, url: str) -> None:
        heading("bootstrapping each cluster from its folder (flux bootstrap git)")
        timeout = f"{self.timeout:.0f}s"
        for name in CLUSTERS:
            where = ["--path", f"clusters/{name}", "--cluster", name]
            self.run([SLUICE, "bootstrap", "git", "--url", url, "--branch", "main", *where,
                      "--timeout", timeout])  # fmt: skip

    def private(self, path: Path, text: str) -> Path:
        """Write ``text`` to ``path``, readable by this user only (it holds the token)."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        return path

    def webhook_path(self, cluster: str) -> str | None:
        """The Receiver's status.webhookPath in ``cluster``'s scope, once it is Ready."""
        argv = [SLUICE, "-c", cluster, "get", "receiver", RECEIVER_NAME, "-n", FLUX_SYSTEM,
                "-o", "json"]  # fmt: skip
        try:
            status: dict[str, Any] = json.loads(self.run(argv, show=False)).get("status") or {}
        except DemoError:
            return None
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        if not (ready and ready[0].get("status") == "True"):
            return None
        return str(status.get("webhookPath") or "") or None

    def receivers(self, bare: str) -> None:
        heading("a Receiver in each cluster's scope; the Git host's push webhook calls them")
        folder = self.work / "webhook"
        token = secrets.token_hex(20)
        secret = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: webhook-token
  namespace: {FLUX_SYSTEM}
stringData:
  token: {token}
"""
        # The token goes to sluice in a 0600 file, never on a command line.
        objects = folder / "objects"
        self.private(objects / "webhook-token.yaml", secret)
        (objects / "receiver.yaml").write_text(RECEIVER)
        print("receiver.yaml (applied to each cluster's scope, with Secret webhook-token):")
        print("".join(f"  {line}\n" for line in RECEIVER.splitlines()), end="")
        for name in CLUSTERS:
            self.run([SLUICE, "-c", name, "apply", "-f", str(objects)])
        urls = []
        for name in CLUSTERS:
            path = wait_for(
                f"Receiver ready in {name}", partial(self.webhook_path, name), timeout=self.timeout
            )
            urls.append((name, self.receiver_url + path))
        config = self.private(folder / "hook.json", json.dumps({"token": token, "receivers": urls}))
        hook = Path(bare.removeprefix("file://")) / "hooks" / "post-receive"
        hook.write_text(HOOK.format(python=sys.executable, config=str(config)))
        hook.chmod(0o755)
        self.run([SLUICE, "--all-clusters", "get", "receivers", "-n", FLUX_SYSTEM])
        print(f"post-receive hook: {self.shown(str(hook))} (a Git host's push webhook): POSTs")
        print("  the push event, signed X-Hub-Signature-256 with the token from")
        print(f"  {self.shown(str(config))} (0600), to each Receiver at {self.receiver_url}")

    def wait_ready(self, revision: str) -> None:
        heading("waiting for Kustomization apps to be Ready in both clusters' scopes")
        wait_for(f"apps Ready at {revision}", lambda: self.applied(revision), timeout=self.timeout)
        self.run([SLUICE, "-c", CLUSTERS[0], "get", "ks", "-n", FLUX_SYSTEM])
        self.run([SLUICE, "--all-clusters", "get", "ks", "-n", FLUX_SYSTEM])
        heading("objects in each cluster")
        self.kubectl_each(["get", "ns,deploy,svc,cm", "-n", "demo", "-l", OWNER])

    def kubectl_each(self, args: list[str]) -> None:
        for name, path in zip(CLUSTERS, self.kubeconfigs, strict=True):
            print(f"--- {name}")
            self.run([self.kubectl, "--kubeconfig", str(path), *args])

    def applied(self, revision: str) -> bool | None:
        """True once Kustomization apps is Ready at ``revision`` in every cluster's scope."""
        for name in CLUSTERS:
            argv = [SLUICE, "-c", name, "get", "ks", "apps", "-n", FLUX_SYSTEM, "-o", "json"]
            try:
                out = self.run(argv, show=False)
            except DemoError:  # not stored yet: flux-system's build has not run
                return None
            status: dict[str, Any] = json.loads(out).get("status") or {}
            ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
            if status.get("lastAppliedRevision") != revision or not (
                ready and ready[0].get("status") == "True"
            ):
                return None
        return True

    def measure(self, commits: int) -> list[float]:
        heading(f"committing {commits} config change(s), measuring commit-to-applied")
        apis = [k8s.CoreV1Api(new_client(config_file=str(p))) for p in self.kubeconfigs]
        times = [self.change(apis, n, commits) for n in range(1, commits + 1)]
        heading("the change on both clusters")
        self.run([SLUICE, "--all-clusters", "get", "ks", "-n", FLUX_SYSTEM])
        columns = "custom-columns=NAME:.metadata.name,GREETING:.data.greeting"
        self.kubectl_each(["get", "cm", "-n", "demo", "-l", OWNER, "-o", columns])
        return times

    def change(self, apis: list[Any], n: int, commits: int) -> float:
        """Commit greeting=hi-N, push it, and time until both clusters hold it."""
        greeting = f"hi-{n}"
        self.write({OVERLAY_PATH: OVERLAY.format(greeting=greeting)})
        self.git("commit", "-q", "-am", f"greeting={greeting}")
        sha = self.git("rev-parse", "HEAD").strip()
        before = "greeting=hello -> " if n == 1 else ""
        print(f"commit {n}/{commits} {sha[:7]} {before}greeting={greeting}; git push")
        seen, pushed, hook_lines = self.push_and_watch(apis, greeting)
        print(f"  git push returned after {pushed:.2f}s (its post-receive hook included)")
        for line in hook_lines:
            print(f"  post-receive hook: {line}")
        for i, name in enumerate(CLUSTERS):
            cm, after = seen[i]
            print(f"  {name}: configmap/{cm} greeting={greeting}  after {after:.2f}s")
        took = max(after for _, after in seen.values())
        print(f"  commit-to-applied: {took:.2f}s (both clusters)", flush=True)
        revision = f"main@sha1:{sha}"
        wait_for(f"apps Ready at {revision}", lambda: self.applied(revision), timeout=self.timeout)
        return took

    def push_and_watch(
        self, apis: list[Any], greeting: str
    ) -> tuple[dict[int, tuple[str, float]], float, list[str]]:
        """Push, and look at every cluster each POLL seconds from then on (also during the
        push) until each holds ``greeting``: per cluster (ConfigMap, seconds); push seconds;
        what the post-receive hook said of its webhook calls."""
        argv = ["git", "push", "-q", "origin", "main"]
        started = time.monotonic()
        push = subprocess.Popen(argv, cwd=self.work / "app", env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        seen: dict[int, tuple[str, float]] = {}
        pushed: float | None = None
        try:
            while len(seen) < len(apis):
                if pushed is None and push.poll() is not None:
                    pushed = time.monotonic() - started
                if time.monotonic() - started > self.timeout:
                    missing = ", ".join(c for i, c in enumerate(CLUSTERS) if i not in seen)
                    raise DemoError(f"greeting={greeting} not in {missing} after {self.timeout}s")
                for i, api in enumerate(apis):
                    if i not in seen and (cm := configmap_with(api, greeting)):
                        seen[i] = (cm, time.monotonic() - started)
                time.sleep(POLL)
            output, _ = push.communicate(timeout=self.timeout)
        finally:
            if push.poll() is None:
                push.kill()
                push.wait()
        if push.returncode != 0:
            raise DemoError(f"git push exited {push.returncode}:\n{output}")
        if "✗" in output:  # a webhook failed: the change waits for the 1m interval
            print(f"  warning: post-receive hook: {output.strip()}")
        hook = [line.removeprefix("remote: ").strip() for line in output.splitlines()]
        answers = [line for line in hook if "webhook to the Receiver" in line]
        return seen, time.monotonic() - started if pushed is None else pushed, answers

    def stop(self) -> list[str]:
        """Stop sluice up, then the sandbox; what could not be stopped cleanly."""
        problems: list[str] = []
        if self.up is not None and self.up.poll() is None:
            self.up.send_signal(signal.SIGTERM)
            try:
                self.up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                problems.append("sluice up ignored SIGTERM for 60s; killed")
                self.up.kill()
                self.up.wait()
        for pid in self.up_pids:  # each child leads its own process group (Celery's pool too)
            try:
                os.killpg(pid, signal.SIGKILL)
                problems.append(f"process group {pid} outlived sluice up; killed")
            except (ProcessLookupError, PermissionError):
                pass
        if (self.sandbox / "state.json").exists():
            try:
                self.run([SLUICE, "sandbox", "down", "--dir", str(self.sandbox)], show=False)
            except DemoError as exc:
                problems.append(str(exc))
        return problems


def interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no such file)"
    return "\n".join(f"    {line}" for line in text) or "    (empty)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="sluice demo: one repo, two local clusters")
    parser.add_argument("--commits", type=int, default=1, help="config changes to measure")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per step")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    if args.commits < 1:
        parser.error("--commits: at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kubectl = find_tool("kubectl")
    if kubectl is None or shutil.which("git") is None:
        print("demo: kubectl or git is missing: run `make setup`", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sluice-demo-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "FLOWER_"))}
    env.update(
        SLUICE_TOOLS_DIR=os.environ.get("SLUICE_TOOLS_DIR", str(kubectl.parent.parent)),
        SLUICE_ARTIFACT_DIR=str(work / "artifacts"),
        SLUICE_CACHE_DIR=str(work / "cache"),
        SLUICE_SECRET_KEY_FILE=str(work / "secret.key"),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"], env[f"GIT_{who}_EMAIL"] = "demo", "demo@sluice.invalid"
    demo = Demo(work, args.timeout, str(kubectl), env)
    print(f"working directory: {work} ($DEMO)", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    code, started = 0, time.monotonic()
    try:
        demo.start_clusters()
        demo.start_sluice()
        url = demo.create_repo()
        demo.register()
        demo.bootstrap(url)
        demo.wait_ready(f"main@sha1:{demo.git('rev-parse', 'HEAD').strip()}")
        demo.receivers(url)
        times = demo.measure(args.commits)
        heading(f"commit-to-applied over {len(times)} commit(s), {len(CLUSTERS)} clusters")
        print(f"  each: {', '.join(f'{t:.2f}s' for t in times)}")
        print(f"  median {statistics.median(times):.2f}s, worst {max(times):.2f}s")
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        for log in demo.logs():
            print(f"--- {demo.shown(str(log))} (last lines)\n{tail(log)}", file=sys.stderr)
        code = 1
    except Interrupted as exc:
        print(f"\ndemo interrupted ({exc}); stopping everything", file=sys.stderr)
        code = 128 + exc.signum
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        heading("stopping sluice and the clusters")
        for problem in demo.stop():
            print(f"  warning: {problem}", file=sys.stderr)
        if args.keep:
            print(f"  kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(f"  all stopped ({time.monotonic() - started:.0f}s in all)", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
