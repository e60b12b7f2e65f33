"""sluice-kustomize service."""
