"""The pinned sops and age-keygen for tests: make an age key, encrypt text as a user would."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.tools import find_tool

__all__ = ["AgeKey", "Sops", "find_sops"]


@dataclass(frozen=True)
class AgeKey:
    """An age identity (``AGE-SECRET-KEY-1...``) and its recipient (``age1...``)."""

    identity: str
    recipient: str


@dataclass(frozen=True)
class Sops:
    """The pinned ``sops`` and ``age-keygen`` binaries."""

    sops: Path
    keygen: Path

    def new_key(self) -> AgeKey:
        """A fresh age key pair from ``age-keygen``."""
        out = subprocess.run([self.keygen], capture_output=True, text=True, check=True).stdout
        identity = next(line for line in out.splitlines() if line.startswith("AGE-SECRET-KEY-"))
        recipient = subprocess.run(
            [self.keygen, "-y"], input=identity, capture_output=True, text=True, check=True
        ).stdout.strip()
        return AgeKey(identity, recipient)

    def encrypt(
        self, text: str, recipient: str, *, fmt: str = "yaml", regex: str | None = None
    ) -> str:
        """``sops --encrypt --age <recipient>`` of ``text`` (data/stringData only for YAML)."""
        if regex is None and fmt == "yaml":
            regex = "^(data|stringData)$"
        command = [str(self.sops), "--encrypt", "--age", recipient]
        command += ["--encrypted-regex", regex] if regex else []
        command += ["--input-type", fmt, "--output-type", fmt, "/dev/stdin"]
        with tempfile.TemporaryDirectory() as home:
            env = {"PATH": "/usr/bin:/bin", "HOME": home, "SOPS_DISABLE_VERSION_CHECK": "1"}
            done = subprocess.run(
                command, input=text, capture_output=True, text=True, env=env, cwd=home
            )
        assert done.returncode == 0, done.stderr
        return done.stdout


def find_sops() -> Sops:
    """The pinned tools, or skip the test saying how to build them."""
    sops = find_tool("sops")
    age = find_tool("age")
    keygen = age.with_name("age-keygen") if age else None
    if sops is None or keygen is None or not keygen.is_file():
        pytest.skip("sops or age-keygen not found: run `make tools` to build them")
    return Sops(sops, keygen)
