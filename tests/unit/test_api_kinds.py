import pytest

from shared.api import KindInfo
from shared.api.kinds import is_store_object, known_kinds, lookup_kind, register, resolve_kind
from shared.plugins import reconciler_of


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("gitrepository", "GitRepository"),
        ("gitrepositories", "GitRepository"),
        ("gitrepo", "GitRepository"),
        ("GitRepository", "GitRepository"),
        ("GITREPO", "GitRepository"),
        ("kustomization", "Kustomization"),
        ("kustomizations", "Kustomization"),
        ("ks", "Kustomization"),
        ("Kustomization", "Kustomization"),
        ("kustomizations.kustomize.toolkit.fluxcd.io", "Kustomization"),
        ("cluster", "Cluster"),
        ("clusters", "Cluster"),
        ("secret", "Secret"),
        ("secrets", "Secret"),
        ("configmap", "ConfigMap"),
        ("configmaps", "ConfigMap"),
        ("cm", "ConfigMap"),
        (" ks ", "Kustomization"),
    ],
)
def test_kubectl_style_names_resolve_to_their_kind(name: str, kind: str) -> None:
    assert resolve_kind(name).kind == kind


@pytest.mark.parametrize(
    "name",
    ["deployment", "kustomizations.wrong.group", "imagepolicies.source.toolkit.fluxcd.io"],
)
def test_unknown_names_are_refused_listing_the_known_kinds(name: str) -> None:
    with pytest.raises(ValueError, match=f'unknown kind "{name}"') as info:
        resolve_kind(name)
    for kind in ("GitRepository", "Kustomization", "Cluster", "Secret", "ConfigMap"):
        assert kind in str(info.value)


@pytest.mark.parametrize(
    ("kind", "api_version", "service", "plural", "has_interval"),
    [
        ("GitRepository", "source.toolkit.fluxcd.io/v1", "source", "gitrepositories", True),
        ("Kustomization", "kustomize.toolkit.fluxcd.io/v1", "kustomize", "kustomizations", True),
        ("Cluster", "fleet.sluice.dev/v1alpha1", None, "clusters", False),
        ("ImageRepository", "image.toolkit.fluxcd.io/v1", "image", "imagerepositories", True),
        ("ImagePolicy", "image.toolkit.fluxcd.io/v1", "image", "imagepolicies", True),
        (
            "ImageUpdateAutomation",
            "image.toolkit.fluxcd.io/v1",
            "image",
            "imageupdateautomations",
            True,
        ),
        ("Secret", "v1", None, "secrets", False),
        ("ConfigMap", "v1", None, "configmaps", False),
    ],
)
def test_each_kind_knows_its_version_service_and_names(
    kind: str, api_version: str, service: str | None, plural: str, has_interval: bool
) -> None:
    info = lookup_kind(kind)
    assert info is not None
    owner = reconciler_of(kind)
    assert (info.api_version, owner and owner.name, info.plural, info.has_interval) == (
        api_version,
        service,
        plural,
        has_interval,
    )
    assert info.namespaced
    assert info.model.__name__ == kind


@pytest.mark.parametrize(
    "api_version",
    [
        "source.toolkit.fluxcd.io/v1beta2",
        "source.toolkit.fluxcd.io/v1beta1",
        "kustomize.toolkit.fluxcd.io/v1beta2",
        "kustomize.toolkit.fluxcd.io/v1beta1",
        "image.toolkit.fluxcd.io/v1beta2",
        "image.toolkit.fluxcd.io/v1beta1",
    ],
)
def test_older_flux_versions_are_still_read(api_version: str) -> None:
    assert any(api_version in info.api_versions for info in known_kinds())


def test_lookup_is_by_exact_kind() -> None:
    assert lookup_kind("gitrepository") is None
    assert lookup_kind("GitRepository") is resolve_kind("gitrepo")


@pytest.mark.parametrize(
    ("api_version", "kind", "stored"),
    [
        ("source.toolkit.fluxcd.io/v1", "GitRepository", True),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", True),
        ("notification.toolkit.fluxcd.io/v1beta3", "Alert", True),
        ("image.toolkit.fluxcd.io/v1beta1", "ImagePolicy", True),
        ("fleet.sluice.dev/v1alpha1", "Cluster", True),
        ("apps/v1", "Deployment", False),
        ("v1", "Secret", False),
        ("v1", "ConfigMap", False),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization", False),
        ("toolkit.fluxcd.io.example.com/v1", "Thing", False),
        ("source.extensions.fluxcd.io/v1beta1", "ArtifactGenerator", True),
        ("source.toolkit.fluxcd.io/v1", "ExternalArtifact", True),
        ("image.extensions.fluxcd.io/v1alpha1", "Future", True),
        ("fluxcd.io/v1", "NoGroupPrefix", False),
        ("notfluxcd.io/v1", "Lookalike", False),
        ("source.extensions.fluxcd.io/v1beta1", "", False),
    ],
)
def test_store_objects_are_every_flux_group_and_sluice_groups(
    api_version: str, kind: str, stored: bool
) -> None:
    assert is_store_object(api_version, kind) is stored


def test_a_kind_cannot_take_names_already_registered() -> None:
    clash = KindInfo(
        kind="FleetCluster",
        group="fleet.sluice.dev",
        versions=("v1alpha1",),
        plural="fleetclusters",
        singular="fleetcluster",
        short_names=("ks",),
        namespaced=True,
        has_interval=False,
        model_ref="shared.api.fleet:Cluster",
    )
    with pytest.raises(ValueError, match="ks"):
        register(clash)
    assert lookup_kind("FleetCluster") is None
