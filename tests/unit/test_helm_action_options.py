"""Each Helm action's options map to the Helm 4 flags a user would type."""

from __future__ import annotations

import pytest

from services.helm.actionoptions import (
    DeletionPropagation,
    InstallOptions,
    RollbackOptions,
    TestFilter,
    TestOptions,
    UninstallOptions,
    UpgradeOptions,
    WaitStrategy,
)

Options = InstallOptions | UpgradeOptions | RollbackOptions | UninstallOptions | TestOptions

_SSA = ["--take-ownership", "--server-side=true", "--force-conflicts"]


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        # Flux's defaults: wait with kstatus for objects and Jobs, adopt, SSA forcing conflicts.
        (
            InstallOptions(),
            ["--timeout=300s", "--wait=watcher", "--wait-for-jobs", "--skip-crds", *_SSA],
        ),
        (
            InstallOptions(
                timeout=90,
                wait_for_jobs=False,
                disable_hooks=True,
                create_namespace=True,
                skip_crds=False,
                replace=True,
                disable_openapi_validation=True,
                skip_schema_validation=True,
                take_ownership=False,
                server_side=False,
                description="by sluice",
            ),
            [
                "--timeout=90s",
                "--wait=watcher",
                "--no-hooks",
                "--create-namespace",
                "--replace",
                "--disable-openapi-validation",
                "--skip-schema-validation",
                # Helm refuses --force-conflicts under client-side apply.
                "--server-side=false",
                "--description=by sluice",
            ],
        ),
        # disableWait: Helm 4 waits for hooks only; waiting for Jobs needs a wait.
        (
            InstallOptions(wait=WaitStrategy.HOOK_ONLY, wait_for_jobs=True),
            ["--timeout=300s", "--wait=hookOnly", "--skip-crds", *_SSA],
        ),
        (
            UpgradeOptions(timeout=2.5),
            [
                "--timeout=2.5s",
                "--wait=watcher",
                "--wait-for-jobs",
                "--reset-values",
                "--history-max=5",
                *_SSA,
            ],
        ),
        # preserveValues, force under client-side apply: the last values reused, replace.
        (
            UpgradeOptions(
                max_history=0,
                wait=WaitStrategy.LEGACY,
                wait_for_jobs=False,
                preserve_values=True,
                force=True,
                cleanup_on_fail=True,
                server_side=False,
                take_ownership=False,
            ),
            [
                "--timeout=300s",
                "--wait=legacy",
                "--reset-then-reuse-values",
                "--history-max=0",
                "--cleanup-on-fail",
                "--force-replace",
                "--server-side=false",
            ],
        ),
        # force under SSA: Helm refuses --force-replace with it; Flux drops it.
        (
            UpgradeOptions(force=True, wait_for_jobs=False),
            ["--timeout=300s", "--wait=watcher", "--reset-values", "--history-max=5", *_SSA],
        ),
        (
            RollbackOptions(disable_hooks=True, max_history=10, wait_for_jobs=False),
            [
                "--timeout=300s",
                "--wait=watcher",
                "--no-hooks",
                "--history-max=10",
                "--server-side=true",
                "--force-conflicts",
            ],
        ),
        (
            RollbackOptions(server_side=False, force=True, cleanup_on_fail=True),
            [
                "--timeout=300s",
                "--wait=watcher",
                "--wait-for-jobs",
                "--history-max=5",
                "--cleanup-on-fail",
                "--server-side=false",
                "--force-replace",
            ],
        ),
        (UninstallOptions(), ["--timeout=300s", "--wait=watcher", "--cascade=background"]),
        (
            UninstallOptions(
                keep_history=True,
                disable_hooks=True,
                wait=WaitStrategy.HOOK_ONLY,
                deletion_propagation=DeletionPropagation.ORPHAN,
            ),
            [
                "--timeout=300s",
                "--wait=hookOnly",
                "--no-hooks",
                "--keep-history",
                "--cascade=orphan",
            ],
        ),
        (TestOptions(timeout=60), ["--timeout=60s"]),
        (
            TestOptions(filters=(TestFilter("smoke"), TestFilter("slow", exclude=True))),
            ["--timeout=300s", "--filter=name=smoke", "--filter=!name=slow"],
        ),
        # helm splits --filter on commas (CSV): such a name is quoted whole.
        (TestOptions(filters=(TestFilter("a,b"),)), ["--timeout=300s", '--filter="name=a,b"']),
    ],
)
def test_options_map_to_helm_4_flags(options: Options, flags: list[str]) -> None:
    assert options.flags() == flags
