"""Flower shows every sluice task by a readable name, with arguments naming object and cluster."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.redisserver import free_port
from shared.sandbox import ControlPlane
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.fixtures.workers import ROOT
from tests.helpers import eventually
from tests.servers.git import BareRepo


@dataclass
class Flower:
    """A Flower process on the test broker, its API unauthenticated on loopback."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def flower(gitops: GitOps) -> Iterator[Flower]:
    """Flower started as ``sluice up`` starts it (broker in the environment, not argv)."""
    port = free_port()
    env = {k: v for k, v in gitops.env.items() if not k.startswith("FLOWER_")}
    env.update(CELERY_BROKER_URL=gitops.settings.redis_url, FLOWER_UNAUTHENTICATED_API="true")
    log = gitops.log_dir / "flower.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "flower", "--address=127.0.0.1", f"--port={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Flower(f"http://127.0.0.1:{port}", process, log)
    try:
        eventually(lambda: _healthy(running.url), timeout=60, interval=0.3)
        # Once Flower sees the workers, it also receives their task events.
        eventually(
            lambda: len(running.get("/api/workers", refresh="1")) >= 2, timeout=60, interval=0.5
        )
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        process.wait(timeout=10)
        print(f"--- flower ---\n{running.output()}")


def _by_name(tasks: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for task in tasks.values():
        grouped.setdefault(str(task.get("name")), []).append(task)
    return grouped


def test_flower_lists_each_task_by_name_with_the_object_and_cluster_it_works_on(
    gitops: GitOps, flower: Flower, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    ns = unique("flower")
    git_repo.commit({"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("c", ns)})
    # Two clusters: the reconcile applies one itself and queues a kustomize.apply for the other.
    first, second = control_plane_3.cluster_info()[:2]
    gitops.register_cluster(first, "c1", fleet="flower")
    gitops.register_cluster(second, "c2", fleet="flower")
    selector = "  clusterSelector:\n    matchLabels:\n      fleet: flower\n"
    gitops.apply(
        source_yaml("app", git_repo.url)
        + kustomization_yaml("app", source="app", path="./app", extra=selector)
    )
    gitops.wait_ready("Kustomization", "app")
    expected = {
        "source.reconcile": "'GitRepository/flux-system/app'",
        "kustomize.reconcile": "'Kustomization/flux-system/app'",
        "kustomize.apply": "'Kustomization/flux-system/app@c",
        "kustomize.on_event": "'kind': 'GitRepository', 'namespace': 'flux-system', 'name': 'app'",
        "source.on_event": "'kind': 'GitRepository', 'namespace': 'flux-system', 'name': 'app'",
    }

    def seen() -> dict[str, list[dict[str, Any]]]:
        grouped = _by_name(flower.get("/api/tasks"))
        for name, arg in expected.items():
            done = [t for t in grouped.get(name, []) if t["state"] == "SUCCESS"]
            assert any(arg in str(t["args"]) for t in done), (name, grouped.get(name))
        return grouped

    grouped = eventually(seen, timeout=30, interval=0.5)
    for name in expected:
        for task in grouped[name]:
            if task["state"] == "SUCCESS":
                assert isinstance(task["runtime"], float) and task["runtime"] >= 0, task
                assert task["worker"].split("@")[0] in ("source", "kustomize"), task
    # helm takes artifact-ready events too, image revision-changed and notify every
    # event; none has a worker here, so their on_event tasks wait in their queues
    # (Flower shows them sent).
    allowed = set(expected) | {"helm.on_event", "image.on_event", "notify.on_event"}
    assert set(grouped) <= allowed, f"unexpected task names: {set(grouped) - allowed}"

    # Arguments name objects, never what a Secret holds.
    shown = str(flower.get("/api/tasks"))
    kubeconfig = first.kubeconfig.read_text()
    assert base64.b64encode(kubeconfig.encode()).decode()[:40] not in shown
    assert "certificate-authority-data" not in shown and "client-key" not in shown

    queues = flower.get("/api/queues/length")["active_queues"]
    assert {q["name"] for q in queues} >= {"source", "kustomize"}
    assert all(isinstance(q["messages"], int) for q in queues)
