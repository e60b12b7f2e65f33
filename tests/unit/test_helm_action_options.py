"""Each Helm action's options map to the Helm 4 flags a user would type."""

from __future__ import annotations

import pytest

from services.helm.actionoptions import (
    InstallOptions,
    RollbackOptions,
    TestOptions,
    UninstallOptions,
    UpgradeOptions,
    WaitStrategy,
)

Options = InstallOptions | UpgradeOptions | RollbackOptions | UninstallOptions | TestOptions


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        (InstallOptions(), ["--timeout=300s", "--wait=watcher"]),
        (
            InstallOptions(
                timeout=90,
                wait_for_jobs=True,
                disable_hooks=True,
                create_namespace=True,
                skip_crds=True,
                description="by sluice",
            ),
            [
                "--timeout=90s",
                "--wait=watcher",
                "--wait-for-jobs",
                "--no-hooks",
                "--create-namespace",
                "--skip-crds",
                "--description=by sluice",
            ],
        ),
        # disableWait: Helm 4 waits for hooks only; waiting for Jobs needs a wait.
        (
            InstallOptions(wait=WaitStrategy.HOOK_ONLY, wait_for_jobs=True),
            ["--timeout=300s", "--wait=hookOnly"],
        ),
        (
            UpgradeOptions(timeout=2.5),
            ["--timeout=2.5s", "--wait=watcher", "--reset-values", "--history-max=5"],
        ),
        (
            UpgradeOptions(max_history=0, wait=WaitStrategy.LEGACY),
            ["--timeout=300s", "--wait=legacy", "--reset-values", "--history-max=0"],
        ),
        (
            RollbackOptions(disable_hooks=True, max_history=10),
            ["--timeout=300s", "--wait=watcher", "--no-hooks", "--history-max=10"],
        ),
        (UninstallOptions(), ["--timeout=300s", "--wait=hookOnly"]),
        (
            UninstallOptions(keep_history=True, disable_hooks=True, wait=WaitStrategy.WATCHER),
            ["--timeout=300s", "--wait=watcher", "--no-hooks", "--keep-history"],
        ),
        (TestOptions(timeout=60), ["--timeout=60s"]),
    ],
)
def test_options_map_to_helm_4_flags(options: Options, flags: list[str]) -> None:
    assert options.flags() == flags
