"""``sluice push artifact`` and ``sluice pull artifact``: Flux's OCI artifacts from the CLI.

``push artifact`` archives a directory (or one file) as the deterministic
tarball the source service makes (``.sourceignore`` files honoured, Flux's
default exclusions unless ``--ignore-paths`` replaces them) and pushes it in
exactly the layout of ``flux push artifact``, so Flux and sluice read it
alike. ``pull artifact`` downloads the first layer and extracts it safely.

Credentials never go on the command line (flux's ``--creds user:pass`` would
put them in ``ps`` and shell history): they come from ``--creds-file`` (a
file holding ``user:password``), the ``SLUICE_OCI_CREDS`` variable, or the
Docker config (``$DOCKER_CONFIG/config.json``, ``~/.docker/config.json``)
that ``docker login`` writes, in that order.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import typer

from shared.archive import UnsafeArchiveError, extract_tarball
from shared.cli.output import Output, output
from shared.oci import (
    CredentialsError,
    OciError,
    OciReference,
    RegistryClient,
    RegistryCredentials,
    credentials_from_dockerconfig,
    is_gzip,
    parse_creds_line,
    parse_reference,
    push_artifact,
    select_layer,
)
from shared.oci.reference import InvalidReferenceError
from shared.sourceignore import VCS_EXCLUDES
from shared.tarball import ArchiveError, build_tarball

__all__ = ["CREDS_ENV", "cli_credentials", "register"]

CREDS_ENV = "SLUICE_OCI_CREDS"
# flux's default --ignore-paths: the VCS files and binary extensions.
_FLUX_EXT_EXCLUDES = ("*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip")
DEFAULT_IGNORE_PATHS = ",".join((*VCS_EXCLUDES, *_FLUX_EXT_EXCLUDES))


def cli_credentials(
    registry: str, *, creds_file: Path | None, env: dict[str, str]
) -> RegistryCredentials | None:
    """The credentials for ``registry``: the creds file, ``SLUICE_OCI_CREDS``, the Docker config.

    Raises CredentialsError (never echoing a secret) for unreadable ones.
    """
    if creds_file is not None:
        try:
            text = creds_file.read_text()
        except OSError as err:
            raise CredentialsError(f"--creds-file {creds_file}: {err.strerror}") from err
        return parse_creds_line(text, where=f"--creds-file {creds_file}")
    if env.get(CREDS_ENV):
        return parse_creds_line(env[CREDS_ENV], where=CREDS_ENV)
    config_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else None
    home = env.get("HOME")
    config = (config_dir or Path(home or "~").expanduser() / ".docker") / "config.json"
    if not config.is_file():
        return None
    return credentials_from_dockerconfig(
        {"config.json": config.read_bytes()}, registry, where=str(config)
    )


def _fail(out: Output, message: str) -> typer.Exit:
    out.error(f"✗ {message}")
    return typer.Exit(1)


def _reference(out: Output, url: str) -> OciReference:
    if not url.startswith("oci://"):
        raise _fail(out, f'invalid artifact URL "{url}": expected oci://registry/repository:tag')
    try:
        return parse_reference(url)
    except InvalidReferenceError as err:
        raise _fail(out, str(err)) from err


def _client(
    out: Output, ref: OciReference, *, creds_file: Path | None, insecure: bool, push: bool
) -> RegistryClient:
    try:
        creds = cli_credentials(ref.registry, creds_file=creds_file, env=dict(os.environ))
    except CredentialsError as err:
        raise _fail(out, str(err)) from err
    return RegistryClient(ref, credentials=creds, insecure=insecure, push=push)


def _annotations(out: Output, pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or "=" in value:
            raise _fail(out, f"invalid annotation {pair}, must be in the format key=value")
        found[key] = value
    return found


def _archive(out: Output, path: Path, dest: Path, ignore_paths: str) -> Path:
    """The tarball of ``path`` (a directory, one file staged alone, or ``-``) at ``dest``.

    ``-`` is standard input (``kustomize build . | sluice push artifact ... -f -``),
    archived as the one file ``stdin.yaml`` (flux names it at random, which
    changes the digest on every push).
    """
    ignore = "\n".join(p.strip() for p in ignore_paths.split(",") if p.strip())
    root = path
    if str(path) == "-":
        root = dest.parent / "stage"
        root.mkdir()
        (root / "stdin.yaml").write_bytes(sys.stdin.buffer.read().rstrip(b"\r\n"))
    elif path.is_file():
        root = dest.parent / "stage"
        root.mkdir()
        shutil.copy2(path, root / path.name)
    elif not path.is_dir():
        raise _fail(out, f"invalid path '{path}', must point to an existing directory or file")
    try:
        return build_tarball(root, dest, ignore=ignore).path
    except ArchiveError as err:
        raise _fail(out, str(err)) from err


def register(app: typer.Typer) -> None:
    """Add ``push artifact`` and ``pull artifact``."""
    push = typer.Typer(help="Push artifacts to OCI registries.", no_args_is_help=True)
    pull = typer.Typer(help="Pull artifacts from OCI registries.", no_args_is_help=True)
    app.add_typer(push, name="push")
    app.add_typer(pull, name="pull")
    creds_help = (
        f"File holding user:password for the registry (else ${CREDS_ENV}, else the Docker "
        "config of `docker login`)."
    )

    @push.command("artifact")
    def push_artifact_command(
        url: str = typer.Argument(..., help="oci://registry/repository:tag"),
        path: Path = typer.Option(
            ..., "--path", "-f", help="Directory or file to push; - reads standard input."
        ),
        source: str = typer.Option(..., "--source", help="The source address, e.g. the Git URL."),
        revision: str = typer.Option(
            ..., "--revision", help="The source revision, e.g. main@sha1:<commit>."
        ),
        annotations: list[str] = typer.Option(
            [], "--annotations", "-a", help="Extra OCI annotation key=value (repeatable)."
        ),
        ignore_paths: str = typer.Option(
            DEFAULT_IGNORE_PATHS, "--ignore-paths", help="Paths to leave out (.gitignore format)."
        ),
        creds_file: Path | None = typer.Option(None, "--creds-file", help=creds_help),
        creds: str | None = typer.Option(None, "--creds", hidden=True),
        insecure: bool = typer.Option(
            False, "--insecure-registry", help="Talk to the registry over plain HTTP."
        ),
        reproducible: bool = typer.Option(
            False,
            "--reproducible",
            help="Created time 1970-01-01T00:00:00Z: same tree, same digest.",
        ),
        fmt: str = typer.Option("", "--output", "-o", help="Print the result as json or yaml."),
    ) -> None:
        """Push a directory or file as a Flux artifact, exactly as `flux push artifact`."""
        out = output()
        if creds is not None:
            raise _fail(
                out,
                "--creds is refused: a password on the command line shows in ps and shell "
                f"history; put user:password in a file for --creds-file or in ${CREDS_ENV}",
            )
        ref = _reference(out, url)
        if not ref.tag or ref.digest:
            raise _fail(out, f'"{url}": push needs a tag, e.g. {ref.repository_url}:v1.0.0')
        extra = _annotations(out, annotations)
        created = datetime.fromtimestamp(0, UTC) if reproducible else None
        with tempfile.TemporaryDirectory(prefix="sluice-push-") as scratch:
            tarball = _archive(out, path, Path(scratch) / "artifact.tar.gz", ignore_paths)
            try:
                with _client(
                    out, ref, creds_file=creds_file, insecure=insecure, push=True
                ) as client:
                    pushed = push_artifact(
                        client,
                        tarball,
                        tag=ref.tag,
                        source=source,
                        revision=revision,
                        annotations=extra,
                        created=created,
                    )
            except OciError as err:
                raise _fail(out, f"pushing artifact failed: {err}") from err
        digest_ref = f"{ref.registry}/{ref.repository}@{pushed.digest}"
        info = {
            "url": f"oci://{digest_ref}",
            "repository": f"{ref.registry}/{ref.repository}",
            "tag": ref.tag,
            "digest": pushed.digest,
        }
        if fmt:
            out.data(info, fmt)
        else:
            out.error(f"✔ artifact successfully pushed to {digest_ref}")
            out.line(pushed.digest)

    @pull.command("artifact")
    def pull_artifact_command(
        url: str = typer.Argument(..., help="oci://registry/repository:tag (or @sha256:...)"),
        into: Path = typer.Option(..., "--output", "-o", help="Directory to extract into."),
        creds_file: Path | None = typer.Option(None, "--creds-file", help=creds_help),
        insecure: bool = typer.Option(
            False, "--insecure-registry", help="Talk to the registry over plain HTTP."
        ),
    ) -> None:
        """Pull an artifact and extract its first layer (entries leaving DIR are refused)."""
        out = output()
        ref = _reference(out, url)
        if into.exists() and (not into.is_dir() or any(into.iterdir())):
            raise _fail(out, f"--output {into}: expected an empty or new directory")
        try:
            with (
                _client(out, ref, creds_file=creds_file, insecure=insecure, push=False) as client,
                tempfile.TemporaryDirectory(prefix="sluice-pull-") as scratch,
            ):
                manifest = client.manifest(ref.digest or client.resolve(ref.reference))
                layer_file = Path(scratch) / "layer"
                client.fetch_blob(select_layer(manifest), layer_file)
                if is_gzip(layer_file):
                    extract_tarball(layer_file, into)
                else:
                    into.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(layer_file, into / "layer")
        except (OciError, UnsafeArchiveError) as err:
            raise _fail(out, f"pulling artifact failed: {err}") from err
        notes = manifest.annotations
        out.error(f"✔ source {notes.get('org.opencontainers.image.source', '')}")
        out.error(f"✔ revision {notes.get('org.opencontainers.image.revision', '')}")
        out.error(f"✔ digest {ref.registry}/{ref.repository}@{manifest.digest}")
        out.line(f"artifact content extracted to {into}")
