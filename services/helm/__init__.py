"""sluice-helm service."""
