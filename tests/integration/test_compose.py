"""compose/: every sluice command in the stack is real, every image is built here or pinned."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from string import Template
from typing import Any

import pytest
import yaml

from shared.plugins import load_services, working_services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose" / "docker-compose.yml"
SLUICE = Path(sys.executable).with_name("sluice")
# Public images the stack may pull: Redis 7 and Flower 2, each with an explicit tag.
PINNED = (
    re.compile(r"redis:7(\.\d+){0,2}(-[a-z0-9.]+)?"),
    re.compile(r"mher/flower:2(\.\d+){0,2}"),
)
_REQUIRED = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _sluice_commands() -> list[tuple[str, list[str]]]:
    return [
        (name, command)
        for name, service in _services().items()
        if (command := _command(service)) and command[0] == "sluice"
    ]


def _build_paths(build: str | dict[str, Any]) -> tuple[Path, Path]:
    """(context, Dockerfile) of a ``build:`` entry, resolved as docker compose does."""
    spec = {"context": build} if isinstance(build, str) else build
    context = (COMPOSE.parent / spec.get("context", ".")).resolve()
    return context, (context / spec.get("dockerfile", "Dockerfile")).resolve()


def test_the_stack_runs_each_worker_the_scheduler_the_artifact_server_redis_and_flower() -> None:
    services = _services()
    commands = [command[1:] for _, command in _sluice_commands()]
    working = {s.name for s in working_services()}
    for service in load_services():
        runs = any(c[:2] == ["worker", service.name] for c in commands)
        # A worker of a service without tasks would be a process with nothing to do.
        assert runs == (service.name in working), f"worker for {service.name}: {runs}"
    assert ["scheduler"] in commands
    assert ["artifact-server", "--address", "0.0.0.0:9090"] in commands
    for server in (s for service in load_services() for s in service.servers):
        assert any(c[: len(server.command)] == list(server.command) for c in commands), server
    assert any(s.get("image", "").startswith("redis:") for s in services.values())
    assert any(s.get("image", "").startswith("mher/flower:") for s in services.values())


@pytest.mark.parametrize(
    ("name", "command"), _sluice_commands(), ids=[name for name, _ in _sluice_commands()]
)
def test_each_sluice_command_is_a_real_command_of_the_cli(name: str, command: list[str]) -> None:
    result = subprocess.run(
        [str(SLUICE), *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{name}: `{shlex.join(command)}`\n{result.stderr}"


def test_every_build_points_at_a_dockerfile_in_the_repository() -> None:
    builds = {n: s["build"] for n, s in _services().items() if "build" in s}
    assert builds, "nothing is built from the repository"
    for name, build in builds.items():
        context, dockerfile = _build_paths(build)
        assert context.is_relative_to(ROOT), f"{name}: context {context} outside the repository"
        assert dockerfile.is_relative_to(ROOT), f"{name}: {dockerfile} outside the repository"
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_every_image_is_built_from_the_repository_or_a_pinned_public_image() -> None:
    for name, service in _services().items():
        if "build" in service:
            continue
        image = service.get("image", "")
        assert any(p.fullmatch(image) for p in PINNED), f"{name}: image {image!r} is not pinned"


def test_the_dockerfile_builds_the_tools_with_go_and_pins_its_base_images() -> None:
    for name, build in {n: s["build"] for n, s in _services().items() if "build" in s}.items():
        text = _build_paths(build)[1].read_text()
        args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
        bases = [
            Template(base).safe_substitute(args) for base in re.findall(r"^FROM (\S+)", text, re.M)
        ]
        assert bases, f"{name}: no FROM"
        for base in bases:
            tag = base.rpartition(":")[2] if ":" in base else ""
            assert tag and tag != "latest", f"{name}: base image {base!r} has no pinned tag"
        assert any(b.startswith("golang:") for b in bases), f"{name}: no golang stage"
        assert any(b.startswith("python:3.11-slim") for b in bases), f"{name}: no python stage"
        assert "hack/tools.sh" in text and "requirements.lock" in text


def test_flower_and_the_secret_key_have_no_default_and_workers_scale() -> None:
    services = _services()
    flower = next(s for s in services.values() if s.get("image", "").startswith("mher/flower:"))
    # Flower listens beyond loopback in the stack: a login is always required.
    assert _REQUIRED.match(_environment(flower).get("FLOWER_BASIC_AUTH", ""))
    for name, command in _sluice_commands():
        service = services[name]
        assert _REQUIRED.match(_environment(service).get("SLUICE_SECRET_KEY", "")), name
        if command[1] == "worker":
            assert command[2] in {s.name for s in working_services()}, f"{name}: {command[2]!r}"
            # `docker compose up --scale` needs no fixed name and no host port.
            assert "container_name" not in service and "ports" not in service, name
