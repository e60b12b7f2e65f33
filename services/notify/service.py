"""sluice-notify's declaration: the Receiver's webhook server (the lead adds kinds and tasks)."""

from __future__ import annotations

from shared.plugins import Server, Service

__all__ = ["SERVICE"]

SERVICE = Service(
    name="notify",
    commands=("receiver",),
    cli="services.notify.cli:register",
    # Receiver webhooks (and the event stream) over HTTP, on loopback as Flux's :9292.
    servers=(Server(name="receiver", command=("receiver",), address="127.0.0.1:9292"),),
)
