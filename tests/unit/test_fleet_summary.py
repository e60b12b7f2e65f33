"""Per-cluster results summed into an object's Ready and Healthy conditions (pure)."""

from __future__ import annotations

import pytest

from shared.fleet.summary import ClusterResult, Condition, summarize_clusters

REV = "main@sha1:2222"
OLD = "main@sha1:1111"


def ok(cluster: str, *, revision: str = REV, healthy: str = "") -> ClusterResult:
    message = f"Applied revision: {revision}"
    return ClusterResult(
        cluster,
        "True",
        "ReconciliationSucceeded",
        message,
        last_attempted_revision=revision,
        last_applied_revision=revision,
        healthy=healthy,
        health_message="Health check passed in 1s" if healthy == "True" else "",
    )


def failed(cluster: str, reason: str, message: str, *, healthy: str = "") -> ClusterResult:
    return ClusterResult(
        cluster,
        "False",
        reason,
        message,
        last_attempted_revision=REV,
        last_applied_revision=OLD,
        healthy=healthy,
        health_message=message if healthy else "",
    )


@pytest.mark.parametrize(
    ("results", "ready", "message"),
    [
        (
            [ok("c1"), ok("c2")],
            ("True", "ReconciliationSucceeded"),
            f"Applied revision: {REV} to 2 clusters",
        ),
        (
            [ok("c1"), failed("c2", "ReconciliationFailed", "refused")],
            ("False", "ReconciliationFailed"),
            "1/2 clusters ready; c2: refused",
        ),
        ([ok("c1")], ("Unknown", "Progressing"), f"1/2 clusters ready; applying {REV} to c2"),
        (
            [ok("c1"), ok("c2", revision=OLD)],
            ("Unknown", "Progressing"),
            f"1/2 clusters ready; applying {REV} to c2",
        ),
    ],
)
def test_ready_sums_the_clusters(
    results: list[ClusterResult], ready: tuple[str, str], message: str
) -> None:
    summary = summarize_clusters(REV, ("c1", "c2"), results)
    assert (summary.ready, summary.reason) == ready
    assert summary.message == message
    assert summary.healthy is None  # no health checks: no Healthy condition


@pytest.mark.parametrize(
    ("results", "healthy"),
    [
        (
            [ok("c1", healthy="True"), ok("c2", healthy="True")],
            Condition("True", "Succeeded", "Health check passed"),
        ),
        (
            [
                ok("c1", healthy="True"),
                failed("c2", "HealthCheckFailed", "Deployment/a/b: timeout", healthy="False"),
            ],
            Condition("False", "HealthCheckFailed", "c2: Deployment/a/b: timeout"),
        ),
        (
            [ok("c1", healthy="True")],
            Condition("Unknown", "Progressing", f"running health checks for revision {REV}"),
        ),
        (
            [ok("c1", healthy="True"), failed("c2", "ReconciliationFailed", "refused")],
            Condition("Unknown", "Progressing", f"running health checks for revision {REV}"),
        ),
    ],
)
def test_healthy_is_true_when_every_cluster_passed_and_false_when_one_failed_its_check(
    results: list[ClusterResult], healthy: Condition
) -> None:
    summary = summarize_clusters(REV, ("c1", "c2"), results, health=True)
    assert summary.healthy == healthy


def test_a_cluster_result_keeps_its_health_through_status() -> None:
    result = ok("c1", healthy="True")
    entry = result.to_status()
    assert [c["type"] for c in entry["conditions"]] == ["Ready", "Healthy"]
    assert ClusterResult.from_status(entry) == result
    plain = ok("c2")
    assert [c["type"] for c in plain.to_status()["conditions"]] == ["Ready"]
    assert ClusterResult.from_status(plain.to_status()) == plain


def test_one_ready_cluster_lends_its_own_reason_and_message() -> None:
    kustomize = summarize_clusters(REV, ("c1",), [ok("c1")])
    assert (kustomize.reason, kustomize.message) == (
        "ReconciliationSucceeded",
        f"Applied revision: {REV}",
    )
    said = "Helm install succeeded for release apps/web.v1 with chart web@1.0.0"
    helm = ClusterResult("c1", "True", "InstallSucceeded", said, last_applied_revision=REV)
    summary = summarize_clusters(REV, ("c1",), [helm])
    assert (summary.ready, summary.reason, summary.message) == ("True", "InstallSucceeded", said)


def test_one_failed_cluster_lends_its_message_unprefixed() -> None:
    summary = summarize_clusters(
        REV, ("c1",), [failed("c1", "UpgradeFailed", "Helm upgrade failed")]
    )
    assert (summary.ready, summary.reason, summary.message) == (
        "False",
        "UpgradeFailed",
        "Helm upgrade failed",
    )
