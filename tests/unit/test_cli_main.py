"""The CLI loads only the module of the command it runs, and each module adds what main lists."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
import typer

from shared.cli.main import COMMAND_MODULES, build_app
from shared.plugins import Service, load_attribute, load_services


def _top_level(app: typer.Typer) -> set[str]:
    commands = {
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    }
    groups = {g.name or "" for g in app.registered_groups if not g.hidden}
    return commands | groups


@pytest.mark.parametrize("module", list(COMMAND_MODULES))
def test_each_command_module_adds_exactly_the_commands_main_lists(module: str) -> None:
    app = typer.Typer()
    importlib.import_module(module).register(app)
    assert _top_level(app) == set(COMMAND_MODULES[module])


@pytest.mark.parametrize("service", [s for s in load_services() if s.cli], ids=lambda s: s.name)
def test_each_service_cli_adds_exactly_the_commands_it_declares(service: Service) -> None:
    assert service.cli is not None
    app = typer.Typer()
    load_attribute(service.cli, service=service.name)(app)
    assert _top_level(app) == {*service.commands, *service.verbs}


def test_a_command_loads_only_its_own_module() -> None:
    app = build_app(["sluice", "get"])
    assert _top_level(app) == {"get", "apply", "delete"}


@pytest.mark.parametrize(
    "argv",
    [
        ["sluice", "-c", "staging", "get", "ks"],
        ["sluice", "--cluster", "staging", "get"],
        ["sluice", "--cluster=staging", "get", "ks"],
        ["sluice", "--all-clusters", "get", "ks"],
        ["sluice", "-c", "staging", "--all-clusters", "get"],
    ],
)
def test_the_scope_options_before_a_command_still_load_only_its_module(argv: list[str]) -> None:
    assert _top_level(build_app(argv)) == {"get", "apply", "delete"}


HEAVY = ("celery", "kubernetes", "shared.api.meta", "services.kustomize.cli", "rich.console")


@pytest.mark.parametrize(
    "argv",
    [["sluice", "get", "ks", "-A"], ["sluice", "delete", "ks", "a"], ["sluice", "cluster", "list"]],
)
def test_reading_the_store_imports_no_celery_kubernetes_models_or_service_code(
    argv: list[str],
) -> None:
    code = (
        "import json, sys\n"
        "from shared.cli.main import build_app\n"
        f"build_app({argv!r})\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []
