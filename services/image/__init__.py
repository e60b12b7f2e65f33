"""sluice-image service."""
