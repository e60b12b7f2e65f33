"""Service declarations: checked against each other, and a broken one stops the CLI by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.plugins import (
    KindFacts,
    Server,
    Service,
    ServiceLoadError,
    check_services,
    load_services,
    working_services,
)
from tests.plugins import install_service, plugin_env

SLUICE = Path(sys.executable).with_name("sluice")
KS = KindFacts(kind="Kustomization", command=("kustomization",), revision="lastAppliedRevision")
SERVER = Server(name="web", command=("x",), address="127.0.0.1:9")


def test_every_service_of_the_toolkit_is_declared_and_only_those_with_tasks_get_a_worker() -> None:
    assert [s.name for s in load_services()] == ["helm", "image", "kustomize", "notify", "source"]
    assert [s.name for s in working_services()] == ["helm", "kustomize", "notify", "source"]
    for service in load_services():
        assert bool(service.tasks) == bool(service.kinds), service.name


@pytest.mark.parametrize(
    ("found", "message"),
    [
        ([("a", "not a service")], "gives a str, expected a shared.plugins.Service"),
        ([("a", Service(name="b"))], "declares the name 'b'"),
        ([("A", Service(name="A"))], "lowercase letters"),
        ([("a", Service(name="a")), ("a", Service(name="a"))], "declared by two"),
        ([("a", Service(name="a", commands=("x",)))], r"`commands` \(or `verbs`\) and `cli`"),
        ([("a", Service(name="a", verbs=("x",)))], r"`commands` \(or `verbs`\) and `cli`"),
        (
            [("a", Service(name="a", kinds=(KS,))), ("b", Service(name="b", kinds=(KS,)))],
            "kind Kustomization is already reconciled by service 'a'",
        ),
        (
            [
                ("a", Service(name="a", commands=("x",), cli="m:f")),
                ("b", Service(name="b", commands=("x",), cli="m:g")),
            ],
            "command 'x' is already added by 'a'",
        ),
        (
            [
                ("a", Service(name="a", commands=("x",), cli="m:f")),
                ("b", Service(name="b", verbs=("x",), cli="m:g")),
            ],
            "verb 'x' is a command of 'a'",
        ),
        (
            [("a", Service(name="a", servers=(Server("s", ("serve",), "127.0.0.1:1"),)))],
            "server 's' runs .* not one of its commands",
        ),
        (
            [
                ("a", Service(name="a", commands=("x",), cli="m:f", servers=(SERVER,))),
                (
                    "b",
                    Service(
                        name="b",
                        commands=("x2",),
                        cli="m:g",
                        servers=(Server("web", ("x2",), "127.0.0.1:9"),),
                    ),
                ),
            ],
            "server name 'web' is taken",
        ),
    ],
)
def test_conflicting_declarations_are_refused_naming_the_service(
    found: list[tuple[str, object]], message: str
) -> None:
    with pytest.raises(ServiceLoadError, match=message):
        check_services(found)


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SLUICE), *args],
        env=plugin_env(root),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_services_may_share_a_verb_each_adding_its_kinds_under_it() -> None:
    found: list[tuple[str, object]] = [
        ("a", Service(name="a", verbs=("diff",), cli="m:f")),
        ("b", Service(name="b", verbs=("diff",), cli="m:g")),
    ]
    assert [s.name for s in check_services(found)] == ["a", "b"]


@pytest.mark.parametrize("args", [("--help",), ("get", "ks", "-A"), ("worker", "source")])
def test_a_service_whose_module_is_missing_stops_the_cli_naming_it(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    install_service(tmp_path, "brokenthing", value="sluice_no_such_module:SERVICE")
    result = _run(tmp_path, *args)
    assert result.returncode == 1, result.stderr
    assert "service 'brokenthing'" in result.stderr
    assert "ModuleNotFoundError" in result.stderr and "sluice_no_such_module" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_declaration_that_raises_stops_the_cli_with_the_exception(tmp_path: Path) -> None:
    install_service(
        tmp_path,
        "raising",
        value="sluice_raising_plugin:SERVICE",
        module="sluice_raising_plugin",
        source='raise RuntimeError("cannot reach the license server")\n',
    )
    result = _run(tmp_path, "get", "ks")
    assert result.returncode == 1
    assert "service 'raising'" in result.stderr
    assert "RuntimeError: cannot reach the license server" in result.stderr


def test_a_service_cli_that_fails_stops_the_cli_naming_the_service(tmp_path: Path) -> None:
    install_service(
        tmp_path,
        "badcli",
        value="sluice_badcli_plugin:SERVICE",
        module="sluice_badcli_plugin",
        source=(
            "from shared.plugins import Service\n"
            "def register(app):\n"
            "    raise KeyError('no such group')\n"
            "SERVICE = Service(name='badcli', commands=('frobnicate',), "
            "cli='sluice_badcli_plugin:register')\n"
        ),
    )
    result = _run(tmp_path, "frobnicate")
    assert result.returncode == 1
    assert "service 'badcli'" in result.stderr and "KeyError" in result.stderr
    # A command that does not need the broken CLI still runs.
    assert _run(tmp_path, "get", "--help").returncode == 0


def test_a_worker_of_a_service_without_tasks_is_refused(tmp_path: Path) -> None:
    result = _run(tmp_path, "worker", "image")
    assert result.returncode == 2
    assert "service 'image' has no tasks yet" in result.stderr


def test_a_worker_whose_tasks_module_is_broken_exits_naming_the_service(tmp_path: Path) -> None:
    install_service(
        tmp_path,
        "halfdone",
        value="sluice_halfdone_plugin:SERVICE",
        module="sluice_halfdone_plugin",
        source=(
            "from shared.plugins import Service\n"
            "SERVICE = Service(name='halfdone', tasks=('sluice_halfdone_tasks_missing',))\n"
        ),
    )
    result = _run(tmp_path, "worker", "halfdone")
    assert result.returncode == 1
    assert "service 'halfdone'" in result.stderr
    assert "No module named 'sluice_halfdone_tasks_missing'" in result.stderr
    assert "Traceback" not in result.stderr
