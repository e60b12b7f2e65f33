"""Which credentials go where, for a HelmRepository (pure parts of services/source/helmauth)."""

from __future__ import annotations

import pytest

from services.source.helm.helmauth import RepositoryAuth, normalize_url, same_origin


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://charts.example.com", "https://charts.example.com/"),
        ("https://charts.example.com/", "https://charts.example.com/"),
        ("https://charts.example.com/stable//", "https://charts.example.com/stable/"),
        ("oci://ghcr.io/org/charts/", "oci://ghcr.io/org/charts"),
    ],
)
def test_urls_are_normalized_as_flux(url: str, normalized: str) -> None:
    assert normalize_url(url) == normalized


REPO = "https://charts.example.com/"


@pytest.mark.parametrize(
    ("chart_url", "pass_credentials", "sent"),
    [
        ("https://charts.example.com/app-1.0.0.tgz", False, True),
        ("https://CHARTS.example.com/app-1.0.0.tgz", False, True),
        ("https://cdn.example.com/app-1.0.0.tgz", False, False),
        ("https://charts.example.com:8443/app-1.0.0.tgz", False, False),  # port differs
        ("http://charts.example.com/app-1.0.0.tgz", False, False),  # scheme differs
        ("https://cdn.example.com/app-1.0.0.tgz", True, True),
    ],
)
def test_credentials_go_to_another_host_only_with_pass_credentials(
    chart_url: str, pass_credentials: bool, sent: bool
) -> None:
    auth = RepositoryAuth(REPO, username="u", password="p", pass_credentials=pass_credentials)
    assert (auth.credentials_for(chart_url) == ("u", "p")) is sent


def test_no_credentials_are_sent_without_both_username_and_password() -> None:
    assert RepositoryAuth(REPO).credentials_for(REPO + "index.yaml") is None


def test_the_password_stays_out_of_repr_and_the_fingerprint_tells_logins_apart() -> None:
    one = RepositoryAuth(REPO, username="u", password="hunter2")
    two = RepositoryAuth(REPO, username="u", password="other")
    assert "hunter2" not in repr(one)
    assert one.fingerprint() != two.fingerprint()
    assert one.fingerprint() == RepositoryAuth(REPO, username="u", password="hunter2").fingerprint()


def test_same_origin_ignores_credentials_in_the_url() -> None:
    assert same_origin("https://a.example.com/x", "https://user@a.example.com/y")
