"""A real sshd on loopback serving Git over SSH, with the keys a Flux SSH secret holds."""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from shared.redisserver import free_port
from tests.servers.git import BareRepo
from tests.servers.process import ServerStartError, start_process, stop_process, wait_until_ready

__all__ = ["SshServer"]

# Debian's sshd refuses to start without its compiled-in privilege separation directory.
PRIVSEP_DIR = Path("/run/sshd")


@dataclass
class SshServer:
    """One sshd, run as the current user, with its own host key, config and client key."""

    state_dir: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=getpass.getuser)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host_key_path(self) -> Path:
        return self.state_dir / "ssh_host_ed25519_key"

    @property
    def identity_path(self) -> Path:
        """The client's private key file (mode 0600), for ``ssh -i``."""
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        """A known_hosts file holding just this server's host key."""
        return self.state_dir / "known_hosts"

    @property
    def identity(self) -> str:
        """The client's private key in OpenSSH format: a Flux secret's ``identity``."""
        return self.identity_path.read_text()

    @property
    def identity_pub(self) -> str:
        """The client's public key line: a Flux secret's ``identity.pub``."""
        return self.identity_path.with_suffix(".pub").read_text().strip()

    @property
    def known_hosts(self) -> str:
        """``[127.0.0.1]:PORT ssh-ed25519 AAAA…``: a Flux secret's ``known_hosts``."""
        key_type, key = self.host_key_path.with_suffix(".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key}"

    def url_for(self, repo: BareRepo | Path) -> str:
        """``ssh://user@127.0.0.1:PORT/abs/path/repo.git`` for a repository on this machine."""
        path = repo.path if isinstance(repo, BareRepo) else repo
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path.resolve().as_posix()}"

    def ssh_command(self) -> str:
        """An ssh command line for GIT_SSH_COMMAND that trusts only this server's host key."""
        return shlex.join(
            [
                "ssh",
                "-F",
                os.devnull,
                "-i",
                str(self.identity_path),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                f"UserKnownHostsFile={self.known_hosts_path}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
            ]
        )

    def git_env(self) -> dict[str, str]:
        """Extra environment for git clients talking to this server."""
        return {"GIT_SSH_COMMAND": self.ssh_command()}

    def start(self, timeout: float = 15.0) -> None:
        """Generate keys and config, start sshd in the foreground, wait for its banner."""
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not Path(sshd).exists():
            raise ServerStartError("sshd not found: install Debian's openssh-server")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _keygen(self.host_key_path, comment="sluice-test-host")
        _keygen(self.identity_path, comment="sluice-test-client")
        (self.state_dir / "authorized_keys").write_text(self.identity_pub + "\n")
        self.known_hosts_path.write_text(self.known_hosts + "\n")
        config = self.state_dir / "sshd_config"
        config.write_text(self._config())
        # Only root needs it, and only root can create it.
        with contextlib.suppress(PermissionError):
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        log_path = self.state_dir / "sshd.log"
        # sshd re-executes itself, so it must be started by its absolute path.
        self.process = start_process(
            [str(Path(sshd).resolve()), "-D", "-e", "-f", str(config)], log_path=log_path
        )
        wait_until_ready(
            self.process,
            self._answers_banner,
            what="sshd",
            log_path=log_path,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Stop sshd and any session it is still serving."""
        stop_process(self.process)
        self.process = None

    def _config(self) -> str:
        lines = [
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.state_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.state_dir / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            # git sends GIT_PROTOCOL=version=2 through SendEnv; accepting it enables protocol v2.
            "AcceptEnv GIT_PROTOCOL",
            "LogLevel VERBOSE",
        ]
        return "\n".join(lines) + "\n"

    def _answers_banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False


def _keygen(path: Path, *, comment: str) -> None:
    """Write a fresh unencrypted ed25519 key pair to ``path`` and ``path.pub``."""
    for stale in (path, path.with_suffix(".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
