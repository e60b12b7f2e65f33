"""GitRepository through the running loop: credentials from Secrets, cheap unchanged intervals."""

from __future__ import annotations

from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import GitOps, configmap_yaml, secret_yaml, source_yaml, unique
from tests.helpers import eventually
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer
from tests.servers.ssh import SshServer


def test_http_basic_auth_from_secret_ref_and_no_refetch_when_unchanged(
    gitops: GitOps, git_repo: BareRepo, git_http: GitHttpServer
) -> None:
    head = git_repo.commit({"a.yaml": configmap_yaml("a", "default", x="1")})
    extra = "  secretRef:\n    name: git-creds\n"
    gitops.apply(
        secret_yaml("git-creds", {"username": git_http.username, "password": git_http.password})
        + source_yaml("private", git_http.url_for(git_repo), interval="1s", extra=extra)
    )
    doc = gitops.wait_ready("GitRepository", "private", revision=f"main@sha1:{head}")
    artifact = doc["status"]["artifact"]
    assert artifact["digest"].startswith("sha256:") and len(artifact["digest"]) == 71
    assert artifact["url"].endswith(f"gitrepository/flux-system/private/{head}.tar.gz")
    fetches = git_http.fetches()
    # Several 1s intervals pass with no new commit: ls-remote only, no fetch.
    handled = eventually(lambda: git_http.count(service="git-upload-pack") >= 8, 20)
    assert handled
    assert git_http.fetches() == fetches
    second = git_repo.commit({"b.yaml": configmap_yaml("b", "default", x="2")})
    gitops.wait_ready("GitRepository", "private", revision=f"main@sha1:{second}")
    assert git_http.fetches() == fetches + 1


def test_wrong_password_is_not_ready_with_the_reason_and_never_leaks_it(
    gitops: GitOps, git_repo: BareRepo, git_http: GitHttpServer
) -> None:
    git_repo.commit({"a.yaml": "x: 1\n"})
    gitops.apply(
        secret_yaml("bad-creds", {"username": git_http.username, "password": "not-the-password"})
        + source_yaml(
            "private", git_http.url_for(git_repo), extra="  secretRef:\n    name: bad-creds\n"
        )
    )

    def failed() -> dict[str, str] | None:
        cond = gitops.ready("GitRepository", "private")
        return cond if cond and cond["status"] == "False" else None

    cond = eventually(failed, 30)
    assert cond["reason"] == "AuthenticationFailed"
    assert "not-the-password" not in str(gitops.get("GitRepository", "private"))
    assert "not-the-password" not in gitops.logs()


def test_ssh_with_identity_and_known_hosts(
    gitops: GitOps, git_repo: BareRepo, git_ssh: SshServer, sandbox_cluster: ClusterInfo
) -> None:
    name = unique("ssh")
    head = git_repo.commit({"a.yaml": "x: 1\n"})
    gitops.apply(
        secret_yaml(
            f"{name}-key", {"identity": git_ssh.identity, "known_hosts": git_ssh.known_hosts}
        )
        + source_yaml(
            name, git_ssh.url_for(git_repo), extra=f"  secretRef:\n    name: {name}-key\n"
        )
    )
    gitops.wait_ready("GitRepository", name, revision=f"main@sha1:{head}")
