"""Real servers on loopback for tests: Git (file, git://, HTTP, SSH), an OCI registry, a sink."""

from tests.servers.git import BareRepo, GitDaemon, git_env, run_git
from tests.servers.githttp import GitHttpServer
from tests.servers.registry import OciRegistry
from tests.servers.sink import HttpSink
from tests.servers.ssh import SshServer

__all__ = [
    "BareRepo",
    "GitDaemon",
    "GitHttpServer",
    "HttpSink",
    "OciRegistry",
    "SshServer",
    "git_env",
    "run_git",
]
