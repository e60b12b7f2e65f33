"""An image update's trip through real Git: checkout, edit, commit, push, a race lost then won."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from services.image.gitupdate import Author, CheckoutRef, PushSpec, push_update
from shared.git.auth import GitAuth
from shared.git.errors import AuthenticationFailed, InvalidSourceError
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer

DEPLOY = 'spec:\n  image: web:1.0.0 # {"$imagepolicy": "flux-system:web"}\n'
AUTHOR = Author("Flux Bot", "flux@example.com")


def bump(to: str) -> Callable[[Path], str | None]:
    def edit(tree: Path) -> str | None:
        path = tree / "deploy.yaml"
        old = path.read_text()
        new = old.replace("web:1.0.0", f"web:{to}")
        if new == old:
            return None
        path.write_text(new)
        return f"web:{to}"

    return edit


def test_commits_and_pushes_with_the_author_and_message(
    git_repo: BareRepo, git_http: GitHttpServer
) -> None:
    git_repo.commit({"deploy.yaml": DEPLOY, "other.txt": "x"})
    auth = GitAuth(username=git_http.username, password=git_http.password)
    pushed = push_update(
        git_http.url_for(git_repo),
        auth=auth,
        checkout=CheckoutRef(branch="main"),
        push=PushSpec(),
        author=AUTHOR,
        edit=bump("1.1.0"),
        message=lambda change: f"Update image to {change}\n",
    )
    assert pushed is not None and pushed.branch == "main" and pushed.change == "web:1.1.0"
    assert git_repo.head("main") == pushed.commit
    assert git_repo.read_file("deploy.yaml") == DEPLOY.replace("1.0.0", "1.1.0").encode()
    assert git_repo.message("main").strip() == "Update image to web:1.1.0"
    author = git_repo._git("log", "-1", "--format=%an <%ae>", "main")
    assert author.strip() == "Flux Bot <flux@example.com>"

    # Nothing left to change: no commit.
    again = push_update(
        git_http.url_for(git_repo), auth=auth, checkout=CheckoutRef(branch="main"),
        push=PushSpec(), author=AUTHOR, edit=bump("1.1.0"), message=str,
    )  # fmt: skip
    assert again is None and git_repo.head("main") == pushed.commit


def test_a_push_branch_is_started_from_the_checkout_then_built_on(
    git_repo: BareRepo, git_http: GitHttpServer
) -> None:
    main = git_repo.commit({"deploy.yaml": DEPLOY})
    url = git_http.url_for(git_repo)
    auth = GitAuth(username=git_http.username, password=git_http.password)
    first = push_update(
        url, auth=auth, checkout=CheckoutRef(branch="main"), push=PushSpec(branch="auto"),
        author=AUTHOR, edit=bump("2.0.0"), message=lambda c: c,
    )  # fmt: skip
    assert first is not None and git_repo.head("auto") == first.commit
    assert git_repo.head("main") == main  # main untouched
    # The next run checks out main but continues on auto, where 1.0.0 is gone: no change.
    second = push_update(
        url, auth=auth, checkout=CheckoutRef(branch="main"), push=PushSpec(branch="auto"),
        author=AUTHOR, edit=bump("2.0.0"), message=lambda c: c,
    )  # fmt: skip
    assert second is None
    assert git_repo.log("auto")[0] == first.commit


def test_a_lost_race_is_run_again_on_the_new_head(
    git_repo: BareRepo, git_http: GitHttpServer
) -> None:
    git_repo.commit({"deploy.yaml": DEPLOY})
    raced = []

    def edit_then_race(tree: Path) -> str | None:
        change = bump("3.0.0")(tree)
        if not raced:  # someone else pushes while this run edits
            raced.append(git_repo.commit({"README.md": "concurrent\n"}))
        return change

    pushed = push_update(
        git_http.url_for(git_repo),
        auth=GitAuth(username=git_http.username, password=git_http.password),
        checkout=CheckoutRef(branch="main"), push=PushSpec(), author=AUTHOR,
        edit=edit_then_race, message=lambda c: c,
    )  # fmt: skip
    assert pushed is not None and pushed.attempts == 2
    assert git_repo.log("main")[1] == raced[0]  # on top of the concurrent commit
    assert git_repo.read_file("README.md") == b"concurrent\n"
    assert b"web:3.0.0" in git_repo.read_file("deploy.yaml")


def test_wrong_credentials_and_a_tag_without_push_branch_fail_clearly(
    git_repo: BareRepo, git_http: GitHttpServer
) -> None:
    git_repo.commit({"deploy.yaml": DEPLOY})
    git_repo.tag("v1")
    url = git_http.url_for(git_repo)
    with pytest.raises(AuthenticationFailed) as caught:
        push_update(
            url, auth=GitAuth(username=git_http.username, password="wrong-password-123"),
            checkout=CheckoutRef(branch="main"), push=PushSpec(), author=AUTHOR,
            edit=bump("4.0.0"), message=str,
        )  # fmt: skip
    assert "wrong-password-123" not in str(caught.value)
    with pytest.raises(InvalidSourceError, match=r"spec\.git\.push\.branch"):
        push_update(
            url, auth=GitAuth(username=git_http.username, password=git_http.password),
            checkout=CheckoutRef(tag="v1"), push=PushSpec(), author=AUTHOR,
            edit=bump("4.0.0"), message=str,
        )  # fmt: skip
