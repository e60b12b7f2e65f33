"""One self-contained context of a user's kubeconfig file (``kubectl config view --flatten``).

``sluice cluster add`` runs on the user's side, with a kubeconfig file the user
named: there, and only there, the files it references (``certificate-authority``,
``client-certificate``, ``client-key``, ``tokenFile``) are read and put inline,
relative paths taken from the kubeconfig's own folder as kubectl does. What
comes out holds one cluster, one user and one context, all named after the
sluice Cluster, and passes ``check_kubeconfig``, the rules a worker applies to
a kubeconfig from the store. A kubeconfig that runs a command to log in
(``exec``, ``auth-provider``) is refused here too: sluice's workers never run
one. Errors are KubeconfigError and name the field or file, never a value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shared import yaml
from shared.kube.errors import KubeconfigError

__all__ = ["FlatKubeconfig", "flatten_kubeconfig", "kubeconfig_server", "shown_server"]

# File fields and the inline field each becomes; the CA and certificates inline as base64.
_CLUSTER_FILES = {"certificate-authority": "certificate-authority-data"}
_USER_FILES = {"client-certificate": "client-certificate-data", "client-key": "client-key-data"}
# A login plugin, and what to use instead (sluice's workers never run commands).
_RUNS = (
    "kubeconfigs that run commands are not allowed (sluice's workers never run one); "
    "give a user with a token (e.g. `kubectl create token SERVICE-ACCOUNT`) "
    "or a client certificate and key"
)


@dataclass(frozen=True)
class FlatKubeconfig:
    """One context of a kubeconfig with every credential inline, ready to store."""

    context: str  # the context chosen in the user's file
    server: str
    document: dict[str, Any]

    @property
    def text(self) -> str:
        """The kubeconfig as YAML, as the Secret holds it."""
        return yaml.dump(self.document)


def _named(config: Mapping[str, Any], kind: str, name: str, where: str) -> dict[str, Any]:
    for item in config.get(f"{kind}s") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            section = item.get(kind) or {}
            if not isinstance(section, Mapping):
                raise KubeconfigError(f"{where}: {kind}s[{name!r}].{kind} is not a mapping")
            return dict(section)
    raise KubeconfigError(f"{where}: {kind} {name!r} is not defined in {kind}s[]")


def _read(base: Path, field: str, value: object, where: str) -> bytes:
    path = Path(str(value)).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KubeconfigError(f"{where}.{field}: cannot read {path}: {exc.strerror}") from None


def _inline(
    section: dict[str, Any], files: Mapping[str, str], base: Path, where: str
) -> dict[str, Any]:
    """``section`` with each file field replaced by its ``-data`` field.

    Where both are given the inline data wins, as in client-go, and the file is not read.
    """
    out = dict(section)
    for field, inline in files.items():
        value = out.pop(field, None)
        if value and not out.get(inline):
            out[inline] = base64.b64encode(_read(base, field, value, where)).decode()
    return out


def _user(section: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    if runs := [f for f in ("exec", "auth-provider") if section.get(f)]:
        raise KubeconfigError(f"{where}.{runs[0]}: {_RUNS}")
    user = _inline(section, _USER_FILES, base, where)
    # client-go reads tokenFile over token when both are set: so does this.
    if token_file := user.pop("tokenFile", None):
        user["token"] = (
            _read(base, "tokenFile", token_file, where).decode("utf-8", "replace").strip()
        )
    return user


def flatten_kubeconfig(
    path: Path, *, name: str, context: str | None = None, allow_http: bool = False
) -> FlatKubeconfig:
    """Context ``context`` (default: current-context) of the file at ``path``, self-contained.

    The cluster, user and context of the result are all called ``name``.
    """
    try:
        config = yaml.load(path.read_bytes(), source=str(path))
    except OSError as exc:
        raise KubeconfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.DocumentError as exc:
        # The message never quotes the text (it holds credentials); do not chain the cause.
        raise KubeconfigError(f"{path}: not valid YAML: {exc.message}") from None
    if not isinstance(config, Mapping):
        raise KubeconfigError(f"{path}: expected a kubeconfig (clusters, users, contexts)")
    chosen = context or config.get("current-context")
    if not chosen:
        raise KubeconfigError(f"{path}: no current-context set: choose one with --context")
    ctx = _named(config, "context", str(chosen), str(path))
    where = f"{path}: context {chosen!r}"
    base = path.resolve().parent
    cluster = _named(config, "cluster", str(ctx.get("cluster", "")), str(path))
    cluster = _inline(cluster, _CLUSTER_FILES, base, f"{where}: cluster")
    user: dict[str, Any] = {}
    if ctx.get("user"):
        user = _user(_named(config, "user", str(ctx["user"]), str(path)), base, f"{where}: user")
    if not cluster.get("server"):
        raise KubeconfigError(f"{where}: its cluster has no server")
    # Here, not at the top: it loads the kubernetes client, which `sluice cluster list`
    # (reading servers with kubeconfig_server) does not need.
    from shared.kube.kubeconfig import check_kubeconfig

    try:
        check_kubeconfig(cluster, user, allow_http=allow_http)
    except KubeconfigError as exc:
        raise KubeconfigError(f"{where}: {exc}") from None
    flat_context: dict[str, Any] = {"cluster": name, "user": name}
    if ctx.get("namespace"):
        flat_context["namespace"] = ctx["namespace"]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": flat_context}],
        "current-context": name,
    }
    return FlatKubeconfig(str(chosen), str(cluster["server"]), document)


def kubeconfig_server(text: str) -> str:
    """The server of a stored kubeconfig's current context; "" when it names none."""
    try:
        config = yaml.load(text, source="kubeconfig")
    except yaml.DocumentError:
        return ""
    if not isinstance(config, Mapping):
        return ""
    try:
        ctx = _named(config, "context", str(config.get("current-context", "")), "kubeconfig")
        cluster = _named(config, "cluster", str(ctx.get("cluster", "")), "kubeconfig")
    except KubeconfigError:
        return ""
    return str(cluster.get("server") or "")


def shown_server(server: str) -> str:
    """A server URL fit to print: any user:password in it left out."""
    parts = urlsplit(server)
    if "@" not in parts.netloc:
        return server
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
