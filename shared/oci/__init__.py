"""OCI registries: references, credentials, the distribution API client, Flux's artifact layout.

Used by the source service (OCIRepository) and by the CLI (``sluice push
artifact``, ``sluice pull artifact``), which may not import a service:
``reference`` parses ``oci://`` names, ``auth`` reads credentials and TLS
material, ``client`` speaks the distribution API over ``transport`` (schemes,
logins, deadlines; ``logins`` remembers them between clients), ``manifest``
holds its values, ``errors`` its exceptions, ``artifact`` knows Flux's media
types and annotations. The image service uses it for ImageRepository scans.
"""

from __future__ import annotations

from shared.oci.artifact import (
    FLUX_CONFIG_MEDIA_TYPE,
    FLUX_CONTENT_MEDIA_TYPE,
    HELM_CHART_MEDIA_TYPE,
    LayerNotFoundError,
    Pushed,
    is_gzip,
    push_artifact,
    select_layer,
)
from shared.oci.auth import (
    CredentialsError,
    RegistryCredentials,
    TlsMaterial,
    credentials_from_dockerconfig,
    parse_creds_line,
)
from shared.oci.client import RegistryClient
from shared.oci.errors import (
    AuthenticationError,
    DigestMismatchError,
    NotFoundError,
    OciError,
    RegistryError,
)
from shared.oci.logins import LoginCache
from shared.oci.manifest import Descriptor, Manifest, RawManifest, TagList
from shared.oci.reference import (
    InvalidReferenceError,
    OciReference,
    parse_reference,
    parse_repository_url,
)

__all__ = [
    "FLUX_CONFIG_MEDIA_TYPE",
    "FLUX_CONTENT_MEDIA_TYPE",
    "HELM_CHART_MEDIA_TYPE",
    "AuthenticationError",
    "CredentialsError",
    "Descriptor",
    "DigestMismatchError",
    "InvalidReferenceError",
    "LayerNotFoundError",
    "LoginCache",
    "Manifest",
    "NotFoundError",
    "OciError",
    "OciReference",
    "Pushed",
    "RawManifest",
    "RegistryClient",
    "RegistryCredentials",
    "RegistryError",
    "TagList",
    "TlsMaterial",
    "credentials_from_dockerconfig",
    "is_gzip",
    "parse_creds_line",
    "parse_reference",
    "parse_repository_url",
    "push_artifact",
    "select_layer",
]
