"""sluice-source service."""
