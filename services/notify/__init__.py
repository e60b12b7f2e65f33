"""sluice-notify service."""
