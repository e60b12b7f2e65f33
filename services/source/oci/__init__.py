"""OCIRepository: artifacts and charts from OCI registries (client in shared/oci)."""
