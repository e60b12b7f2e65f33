"""``sluice bootstrap git``: ``flux bootstrap git`` for a repository sluice reaches.

Stores the ``flux-system`` GitRepository and Kustomization (and the Git
credentials Secret, when given) in one Cluster's scope, then waits for both to
be Ready, printing flux's progress lines. With ``--commit`` it first writes
``<path>/flux-system/gotk-sync.yaml`` into the repository, so the repository
documents the sync and the Kustomization's own build stores the very same
objects. Running it again changes nothing and says so.

Secrets never come from argv: a password is read from stdin
(``--password-stdin``) or a file, a private key from a file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from shared.api.durations import format_duration, parse_duration
from shared.bootstrap import (
    FLUX_SYSTEM,
    Credentials,
    SyncOptions,
    secret_document,
    sync_documents,
    sync_files,
)
from shared.cli.context import RedisUrl, cli_scope
from shared.cli.flux import Session, reconcile_object
from shared.git.auth import GitAuth, redact_url
from shared.git.errors import GitError
from shared.git.push import commit_files
from shared.keys import ObjectKey
from shared.scopes import scope_cluster
from shared.store import StoreError

__all__ = ["register"]


def _credentials(
    session: Session,
    *,
    username: str,
    password_stdin: bool,
    password_file: Path | None,
    private_key_file: Path | None,
    known_hosts_file: Path | None,
) -> Credentials | None:
    """The credentials the options name, read from stdin or files; None when there are none."""
    if password_stdin and password_file is not None:
        raise session.fail("give the password one way: --password-stdin or --password-file")
    password = ""
    try:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif password_file is not None:
            password = password_file.read_text().rstrip("\r\n")
        identity = private_key_file.read_bytes() if private_key_file else b""
        known_hosts = known_hosts_file.read_bytes() if known_hosts_file else b""
    except OSError as exc:
        raise session.fail(f"cannot read {exc.filename}: {exc.strerror}") from exc
    if password and not username:
        raise session.fail("a password needs --username")
    if identity and not known_hosts:
        raise session.fail("--private-key-file needs --known-hosts-file (the server's host key)")
    if not (username or password or identity):
        return None
    return Credentials(username, password, identity, known_hosts)


def _store_in_scope(session: Session, scope: str, docs: list[dict[str, Any]]) -> None:
    """Apply ``docs`` in ``scope``, keeping what the store added since (annotations)."""
    for doc in docs:
        key = ObjectKey.of(doc, scope)
        stored = session.store.get(key)
        annotations = ((stored or {}).get("metadata") or {}).get("annotations")
        if annotations:
            doc["metadata"]["annotations"] = dict(annotations)
        try:
            result, _ = session.store.apply(doc, scope=scope)
        except StoreError as exc:
            raise session.fail(str(exc)) from exc
        session.say("✔", f"{key.kind} {key.namespace}/{key.name} {result}")


def _commit(session: Session, options: SyncOptions, auth: GitAuth | None, timeout: float) -> None:
    shown = redact_url(options.url)
    session.say("►", f'cloning branch "{options.branch}" from Git repository "{shown}"')
    try:
        result = commit_files(
            options.url,
            sync_files(options),
            branch=options.branch,
            message=f"Add sluice sync manifests for {options.path}",
            auth=auth,
            timeout=timeout,
        )
    except GitError as exc:
        raise session.fail(f"committing the sync manifests failed: {exc}") from exc
    if result.pushed:
        session.say("✔", f'committed sync manifests to "{options.branch}" ("{result.commit}")')
        session.say("✔", f'pushed sync manifests to "{shown}"')
    else:
        session.say("✔", f"sync manifests are up to date at {result.commit}")


def register(app: typer.Typer) -> None:
    """Add ``bootstrap git`` to the CLI."""
    group = typer.Typer(help="Store a cluster's flux-system sync and wait for it (flux bootstrap).")
    app.add_typer(group, name="bootstrap")

    @group.command(name="git")
    def git(
        url: str = typer.Option(..., "--url", help="The Git repository URL."),
        path: str = typer.Option(..., "--path", help="The cluster's folder, e.g. clusters/prod."),
        cluster: str = typer.Option(
            "", "--cluster", help="The Cluster whose scope holds the sync (default: sluice -c)."
        ),
        branch: str = typer.Option("main", "--branch"),
        secret_ref: str = typer.Option(
            "", "--secret-ref", help="An existing Secret with the Git credentials."
        ),
        username: str = typer.Option("", "--username", "-u"),
        password_stdin: bool = typer.Option(
            False, "--password-stdin", help="Read the password from stdin."
        ),
        password_file: Path | None = typer.Option(None, "--password-file"),
        private_key_file: Path | None = typer.Option(None, "--private-key-file"),
        known_hosts_file: Path | None = typer.Option(None, "--known-hosts-file"),
        interval: str = typer.Option("1m", "--interval", help="The source's sync interval."),
        timeout: str = typer.Option("5m", "--timeout", help="How long to wait for Ready."),
        commit: bool = typer.Option(
            False, "--commit", help="Also write <path>/flux-system/gotk-sync.yaml to the repo."
        ),
        wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for Ready."),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Store flux-system's GitRepository and Kustomization in a Cluster's scope."""
        session = Session.open(redis_url)
        scope = cluster or cli_scope()
        if not scope:
            raise session.fail("--cluster NAME (or sluice -c NAME) is required")
        if cluster and cli_scope() and cluster != cli_scope():
            raise session.fail(f"--cluster {cluster} and sluice -c {cli_scope()} disagree")
        try:
            seconds = parse_duration(timeout)
            every = parse_duration(interval)
        except ValueError as exc:
            raise session.fail(str(exc)) from exc
        if scope_cluster(session.store, scope, FLUX_SYSTEM) is None:
            raise session.fail(
                f"Cluster '{scope}' is not registered: run "
                f"`sluice cluster add {scope} --kubeconfig FILE` first"
            )
        credentials = _credentials(
            session,
            username=username,
            password_stdin=password_stdin,
            password_file=password_file,
            private_key_file=private_key_file,
            known_hosts_file=known_hosts_file,
        )
        if credentials is not None and secret_ref:
            raise session.fail("give either --secret-ref or credentials, not both")
        secret_name = secret_ref or (FLUX_SYSTEM if credentials else None)
        options = SyncOptions(url, path, branch, every, secret_name)
        if commit:
            auth = None
            if credentials is not None:
                auth = GitAuth(
                    username=credentials.username,
                    password=credentials.password,
                    identity=credentials.identity,
                    known_hosts=credentials.known_hosts,
                )
            _commit(session, options, auth, seconds)
        session.say("►", f"applying sync manifests in cluster {scope}")
        docs = sync_documents(options)
        if credentials is not None:
            docs.insert(0, secret_document(FLUX_SYSTEM, credentials))
        _store_in_scope(session, scope, docs)
        if not wait:
            return
        key = ObjectKey("Kustomization", FLUX_SYSTEM, FLUX_SYSTEM, scope)
        reconcile_object(session, key, wait=True, timeout=seconds, with_source=True)
        session.say("✔", f"bootstrap of cluster {scope} finished ({format_duration(every)} sync)")
