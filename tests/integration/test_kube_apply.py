"""Apply, prune and wait against a real kube-apiserver (the sandbox control plane)."""

from __future__ import annotations

import base64
import datetime
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client as k8s

from shared.kube.apply import ApplyError, ApplyOptions, apply
from shared.kube.client import KubeClient
from shared.kube.errors import UnreachableError
from shared.kube.inventory import Action, ChangeSet, stale_objects
from shared.kube.kubeconfig import ServiceAccount, client_from_dict, client_from_kubeconfig
from shared.kube.owner import Owner
from shared.kube.prune import prune
from shared.kube.wait import describe, wait_for
from shared.sandbox import ClusterInfo, ControlPlane
from tests.fixtures.cluster import api_client, delete_namespace
from tests.helpers import eventually

pytestmark = pytest.mark.cluster

OWNER = Owner.kustomization("apps", "flux-system")
FAST = ApplyOptions(wait_timeout=30, poll=0.2)


def configmap(ns: str, name: str, **data: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def deployment(
    ns: str, name: str, *, image: str = "nginx:1.27", replicas: int = 1
) -> dict[str, Any]:
    labels = {"app": name}
    pod = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": pod},
    }


def service(ns: str, name: str, *, port: int = 80) -> dict[str, Any]:
    spec = {"selector": {"app": name}, "ports": [{"port": port}]}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def namespace_doc(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def crd(group: str, *, status_subresource: bool = True) -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True}
    version["schema"] = {"openAPIV3Schema": schema}
    if status_subresource:
        version["subresources"] = {"status": {}}
    names = {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced", "names": names, "versions": [version]},
    }


def widget(group: str, ns: str, name: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns}
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": meta, **extra}


def actions(changes: ChangeSet) -> dict[str, str]:
    return {str(c.ref): str(c.action) for c in changes}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kube(sandbox_cluster: ClusterInfo) -> Iterator[KubeClient]:
    """sluice's client for the sandbox cluster, as cluster admin."""
    client = client_from_kubeconfig(sandbox_cluster.kubeconfig.read_text())
    yield client
    client.close()


@pytest.fixture
def admin(sandbox_cluster: ClusterInfo) -> Iterator[k8s.ApiClient]:
    """The official client, for what other people do to the cluster."""
    with api_client(sandbox_cluster.kubeconfig) as api:
        yield api


def test_apply_creates_every_object_with_owner_labels_then_reports_unchanged(
    kube: KubeClient, admin: k8s.ApiClient, namespace: str
) -> None:
    new_ns = unique("apply-new")
    revision = [
        deployment(new_ns, "web"),
        service(new_ns, "web"),
        configmap(new_ns, "settings", color="blue"),
        namespace_doc(new_ns),
        configmap(namespace, "shared", mode="on"),
    ]
    try:
        changes = apply(kube, revision, owner=OWNER, options=FAST)
        assert actions(changes) == {
            f"Namespace/{new_ns}": "created",
            f"ConfigMap/{new_ns}/settings": "created",
            f"ConfigMap/{namespace}/shared": "created",
            f"Service/{new_ns}/web": "created",
            f"Deployment/{new_ns}/web": "created",
        }
        assert str(changes.changes[0].ref) == f"Namespace/{new_ns}"  # staged first
        live = kube.get(revision[0])
        assert live is not None and live["metadata"]["labels"] == OWNER.labels
        assert {m["manager"] for m in live["metadata"]["managedFields"]} == {"sluice"}
        assert [e["id"] for e in changes.inventory().to_status()["entries"]] == [
            f"_{new_ns}__Namespace",
            f"{new_ns}_settings__ConfigMap",
            f"{namespace}_shared__ConfigMap",
            f"{new_ns}_web__Service",
            f"{new_ns}_web_apps_Deployment",
        ]

        again = apply(kube, revision, owner=OWNER, options=FAST)
        assert set(actions(again).values()) == {"unchanged"}
        assert again.changed() == () and again.summary() == ""
    finally:
        delete_namespace(admin, new_ns)


def test_manual_edits_of_managed_fields_are_reverted_and_reported_configured(
    kube: KubeClient, admin: k8s.ApiClient, namespace: str
) -> None:
    revision = [
        configmap(namespace, "cfg", level="info"),
        deployment(namespace, "web"),
        service(namespace, "web"),
    ]
    apply(kube, revision, owner=OWNER, options=FAST)
    apps, core = k8s.AppsV1Api(admin), k8s.CoreV1Api(admin)
    # kubectl edit / scale: a patch by another field manager
    apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"replicas": 5}}, field_manager="kubectl-edit"
    )
    # a plain read-modify-write update
    cm = core.read_namespaced_config_map("cfg", namespace)
    cm.data = {"level": "debug"}
    core.replace_namespaced_config_map("cfg", namespace, cm)

    changes = apply(kube, revision, owner=OWNER, options=FAST)

    assert actions(changes) == {
        f"ConfigMap/{namespace}/cfg": "configured",
        f"Service/{namespace}/web": "unchanged",
        f"Deployment/{namespace}/web": "configured",
    }
    assert changes.summary() == (
        f"ConfigMap/{namespace}/cfg configured\nDeployment/{namespace}/web configured"
    )
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 1
    assert core.read_namespaced_config_map("cfg", namespace).data == {"level": "info"}


def test_kubectl_server_side_apply_leftovers_are_removed_unless_ssa_merge(
    kube: KubeClient, namespace: str
) -> None:
    merged = configmap(namespace, "merged", a="1")
    merged["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}
    revision = [configmap(namespace, "owned", a="1"), merged]
    apply(kube, revision, owner=OWNER, options=FAST)
    for name in ("owned", "merged"):  # `kubectl apply --server-side` adding a key
        kube.apply(configmap(namespace, name, extra="x"), field_manager="kubectl")

    changes = apply(kube, revision, owner=OWNER, options=FAST)

    assert actions(changes) == {
        f"ConfigMap/{namespace}/merged": "unchanged",
        f"ConfigMap/{namespace}/owned": "configured",
    }
    owned = kube.get(configmap(namespace, "owned"))
    assert owned is not None and owned["data"] == {"a": "1"}
    assert {m["manager"] for m in owned["metadata"]["managedFields"]} == {"sluice"}
    kept = kube.get(merged)
    assert kept is not None and kept["data"] == {"a": "1", "extra": "x"}
    assert set(actions(apply(kube, revision, owner=OWNER, options=FAST)).values()) == {"unchanged"}


def test_a_refused_object_stops_the_whole_revision_and_is_named(
    kube: KubeClient, admin: k8s.ApiClient, namespace: str
) -> None:
    revision = [
        configmap(namespace, "cfg", a="1"),
        deployment(namespace, "web"),
        service(namespace, "bad", port=70000),
        service(namespace, "good"),
    ]
    with pytest.raises(ApplyError) as caught:
        apply(kube, revision, owner=OWNER, options=FAST)

    error = caught.value
    assert [str(e.ref) for e in error.errors] == [f"Service/{namespace}/bad"]
    assert error.errors[0].reason == "Invalid"
    assert str(error).startswith(f"Service/{namespace}/bad dry-run failed (Invalid): ")
    assert "spec.ports[0].port: Invalid value: 70000" in str(error)
    assert error.changes == ChangeSet()
    assert [obj for obj in revision if kube.get(obj) is not None] == []
    assert k8s.CoreV1Api(admin).list_namespaced_config_map(namespace).items == []


def test_every_refused_object_is_named_at_once(kube: KubeClient, namespace: str) -> None:
    revision = [deployment(namespace, "neg", replicas=-1), service(namespace, "bad", port=0)]
    with pytest.raises(ApplyError) as caught:
        apply(kube, revision, owner=OWNER, options=FAST)
    assert sorted(str(e.ref) for e in caught.value.errors) == [
        f"Deployment/{namespace}/neg",
        f"Service/{namespace}/bad",
    ]
    assert "spec.replicas: Invalid value: -1" in str(caught.value)


def test_objects_in_a_new_namespace_are_checked_before_anything_but_the_namespace_applies(
    kube: KubeClient, admin: k8s.ApiClient
) -> None:
    new_ns = unique("late")
    revision = [
        namespace_doc(new_ns),
        configmap(new_ns, "cfg", a="1"),
        service(new_ns, "bad", port=70000),
    ]
    try:
        with pytest.raises(ApplyError) as caught:
            apply(kube, revision, owner=OWNER, options=FAST)
        assert [str(e.ref) for e in caught.value.errors] == [f"Service/{new_ns}/bad"]
        # Only the additive definitions stage went in, and the error says so.
        assert actions(caught.value.changes) == {f"Namespace/{new_ns}": "created"}
        assert kube.get(configmap(new_ns, "cfg")) is None
    finally:
        delete_namespace(admin, new_ns)


def test_prune_deletes_what_left_the_revision_and_only_what_sluice_owns(
    kube: KubeClient, admin: k8s.ApiClient, namespace: str
) -> None:
    keep = configmap(namespace, "keep", a="1")
    keep["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/prune": "Disabled"}
    first = apply(
        kube,
        [configmap(namespace, "gone", a="1"), keep, configmap(namespace, "taken", a="1")],
        owner=OWNER,
        options=FAST,
    )
    # Someone else deletes "taken" and creates their own object of the same name.
    core = k8s.CoreV1Api(admin)
    core.delete_namespaced_config_map("taken", namespace)
    mine = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="taken"), data={"theirs": "yes"})
    core.create_namespaced_config_map(namespace, mine)
    second = apply(kube, [configmap(namespace, "new", a="1")], owner=OWNER, options=FAST)

    stale = stale_objects(first.inventory(), second.inventory())
    result = prune(kube, stale, owner=OWNER)

    assert [str(r) for r in result.deleted] == [f"ConfigMap/{namespace}/gone"]
    assert {str(s.ref): s.reason for s in result.skipped} == {
        f"ConfigMap/{namespace}/keep": "kustomize.toolkit.fluxcd.io/prune is disabled",
        f"ConfigMap/{namespace}/taken": "not owned by Kustomization flux-system/apps",
    }
    assert result.ok and result.survivors == ()
    assert result.changes().summary() == f"ConfigMap/{namespace}/gone deleted"
    assert kube.get(configmap(namespace, "gone")) is None
    assert kube.get(keep) is not None
    assert core.read_namespaced_config_map("taken", namespace).data == {"theirs": "yes"}
    assert prune(kube, stale, owner=OWNER).deleted == ()  # nothing left to do


def test_an_object_another_kustomization_applied_is_taken_over_as_flux_does(
    kube: KubeClient, namespace: str
) -> None:
    # Flux applies every Kustomization with one field manager: no SSA conflict, the
    # last applier's owner labels win, and the first one's prune leaves the object.
    other = Owner.kustomization("infra", "flux-system")
    first = apply(kube, [configmap(namespace, "shared", by="apps")], owner=OWNER, options=FAST)
    apply(kube, [configmap(namespace, "shared", by="infra")], owner=other, options=FAST)
    live = kube.get(configmap(namespace, "shared"))
    assert live is not None and live["metadata"]["labels"] == other.labels
    assert live["data"] == {"by": "infra"}
    result = prune(kube, tuple(first.inventory()), owner=OWNER)
    assert result.deleted == () and kube.get(configmap(namespace, "shared")) is not None


def test_a_crd_and_its_custom_resources_apply_in_one_revision(
    kube: KubeClient, admin: k8s.ApiClient, namespace: str
) -> None:
    group = f"{unique('w')}.sluice.test"
    revision = [widget(group, namespace, "w1", spec={"size": 3}), crd(group)]
    try:
        changes = apply(kube, revision, owner=OWNER, options=FAST)
        assert [(str(c.ref), c.action) for c in changes] == [
            (f"CustomResourceDefinition/widgets.{group}", Action.CREATED),
            (f"Widget/{namespace}/w1", Action.CREATED),
        ]
        live = kube.get(revision[0])
        assert live is not None and live["spec"] == {"size": 3}
        assert changes.inventory().to_status()["entries"][1] == {
            "id": f"{namespace}_w1_{group}_Widget",
            "v": "v1",
        }
        assert set(actions(apply(kube, revision, owner=OWNER, options=FAST)).values()) == {
            "unchanged"
        }
    finally:
        kube.delete(crd(group))


def test_an_unknown_kind_is_refused_by_name(kube: KubeClient, namespace: str) -> None:
    with pytest.raises(ApplyError) as caught:
        apply(kube, [widget("nothing.sluice.test", namespace, "w")], owner=OWNER, options=FAST)
    assert str(caught.value).startswith(f"Widget/{namespace}/w dry-run failed (NoKindMatch)")


def test_wait_times_out_on_a_deployment_and_names_it(kube: KubeClient, namespace: str) -> None:
    cm, web = configmap(namespace, "cfg", a="1"), deployment(namespace, "web")
    changes = apply(kube, [cm, web], owner=OWNER, options=FAST)
    ns_ref = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    assert wait_for(kube, [cm, ns_ref], timeout=10, poll=0.2) == []

    started = time.monotonic()
    unhealthy = wait_for(kube, changes.refs(), timeout=1.0, poll=0.2)

    assert 1.0 <= time.monotonic() - started < 5
    assert [(str(u.ref), str(u.health.status)) for u in unhealthy] == [
        (f"Deployment/{namespace}/web", "InProgress")
    ]
    assert describe(unhealthy) == (
        f"timeout waiting for: [Deployment/{namespace}/web status: 'InProgress': replicas: 0/1]"
    )


def test_wait_fails_fast_on_a_stalled_object(kube: KubeClient, namespace: str) -> None:
    group = f"{unique('s')}.sluice.test"
    stalled = {
        "conditions": [{"type": "Stalled", "status": "True", "reason": "X", "message": "broken"}]
    }
    revision = [crd(group, status_subresource=False), widget(group, namespace, "w", status=stalled)]
    try:
        apply(kube, revision, owner=OWNER, options=FAST)
        started = time.monotonic()
        unhealthy = wait_for(kube, revision, timeout=30, poll=0.2)
        assert time.monotonic() - started < 5
        assert describe(unhealthy) == (
            "failed early due to stalled resources: "
            f"[Widget/{namespace}/w status: 'Failed': broken]"
        )
    finally:
        kube.delete(crd(group))


def test_force_recreates_an_object_whose_immutable_field_changed(
    kube: KubeClient, namespace: str
) -> None:
    frozen = {**configmap(namespace, "frozen", v="1"), "immutable": True}
    apply(kube, [frozen], owner=OWNER, options=FAST)
    before = kube.get(frozen)
    assert before is not None
    changed = {**frozen, "data": {"v": "2"}}

    with pytest.raises(ApplyError, match="field is immutable"):
        apply(kube, [changed], owner=OWNER, options=FAST)
    changed["metadata"] = {
        **changed["metadata"],
        "annotations": {"kustomize.toolkit.fluxcd.io/force": "enabled"},
    }
    changes = apply(kube, [changed], owner=OWNER, options=FAST)

    assert actions(changes) == {f"ConfigMap/{namespace}/frozen": "created"}
    after = kube.get(frozen)
    assert after is not None and after["data"] == {"v": "2"}
    assert after["metadata"]["uid"] != before["metadata"]["uid"]


def test_force_never_deletes_an_object_whose_new_version_is_invalid(
    kube: KubeClient, namespace: str
) -> None:
    web = deployment(namespace, "web")
    apply(kube, [web], owner=OWNER, options=FAST)
    uid = (kube.get(web) or {})["metadata"]["uid"]
    with pytest.raises(ApplyError, match=r"spec\.replicas"):
        apply(
            kube,
            [deployment(namespace, "web", replicas=-1)],
            owner=OWNER,
            options=ApplyOptions(force=True),
        )
    assert (kube.get(web) or {})["metadata"]["uid"] == uid


def test_toolkit_annotations_make_objects_skipped(
    kube: KubeClient, admin: k8s.ApiClient, namespace: str
) -> None:
    once = configmap(namespace, "once", a="1")
    once["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    ignored = configmap(namespace, "ignored", a="1")
    ignored["metadata"]["labels"] = {"kustomize.toolkit.fluxcd.io/ssa": "ignore"}
    paused = configmap(namespace, "paused", a="1")
    revision = [once, ignored, paused]
    assert actions(apply(kube, revision, owner=OWNER, options=FAST)) == {
        f"ConfigMap/{namespace}/ignored": "skipped",
        f"ConfigMap/{namespace}/once": "created",
        f"ConfigMap/{namespace}/paused": "created",
    }
    core = k8s.CoreV1Api(admin)
    core.patch_namespaced_config_map("once", namespace, {"data": {"a": "edited"}})
    # An operator pauses reconciliation on the live object.
    paused_patch = {
        "metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "Disabled"}},
        "data": {"a": "hot-fix"},
    }
    core.patch_namespaced_config_map("paused", namespace, paused_patch)

    changes = apply(kube, revision, owner=OWNER, options=FAST)

    assert set(actions(changes).values()) == {"skipped"}
    assert len(changes.inventory()) == 3  # skipped objects stay in the inventory, as in Flux
    assert core.read_namespaced_config_map("once", namespace).data == {"a": "edited"}
    assert core.read_namespaced_config_map("paused", namespace).data == {"a": "hot-fix"}
    assert kube.get(ignored) is None


def test_an_impersonated_service_account_applies_only_what_rbac_allows(
    sandbox_cluster: ClusterInfo, admin: k8s.ApiClient, namespace: str
) -> None:
    account = ServiceAccount(namespace, "deployer")
    client = client_from_kubeconfig(sandbox_cluster.kubeconfig.read_text(), impersonate=account)
    try:
        cm = configmap(namespace, "cfg", a="1")
        with pytest.raises(ApplyError) as caught:
            apply(client, [cm], owner=OWNER, options=FAST)
        assert caught.value.errors[0].reason == "Forbidden"
        assert f"system:serviceaccount:{namespace}:deployer" in str(caught.value)
        binding = k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="deployer-edit"),
            role_ref=k8s.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit"
            ),
            subjects=[
                k8s.RbacV1Subject(kind="ServiceAccount", name="deployer", namespace=namespace)
            ],
        )
        k8s.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(namespace, binding)

        def applies() -> ChangeSet:
            try:
                return apply(client, [cm], owner=OWNER, options=FAST)
            except ApplyError as exc:
                raise AssertionError(str(exc)) from exc

        assert actions(eventually(applies)) == {f"ConfigMap/{namespace}/cfg": "created"}
    finally:
        client.close()


def _client_certificate(plane: ControlPlane) -> tuple[bytes, bytes]:
    certs = plane.directory / "certs"
    ca_cert = x509.load_pem_x509_certificate((certs / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((certs / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "cert-admin"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_a_client_certificate_kubeconfig_works_and_leaves_no_key_on_disk(
    control_plane: ControlPlane, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    config = yaml.safe_load(sandbox_cluster.kubeconfig.read_text())
    cert, key = _client_certificate(control_plane)
    config["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(cert).decode(),
        "client-key-data": base64.b64encode(key).decode(),
    }
    before = set(os.listdir(tempfile.gettempdir()))
    client = client_from_dict(config)
    try:
        assert set(os.listdir(tempfile.gettempdir())) - before == set()
        changes = apply(client, [configmap(namespace, "cfg", a="1")], owner=OWNER, options=FAST)
        assert actions(changes) == {f"ConfigMap/{namespace}/cfg": "created"}
    finally:
        client.close()


def test_an_unreachable_cluster_is_a_transient_error(sandbox_cluster: ClusterInfo) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = yaml.safe_load(sandbox_cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    client = client_from_dict(config, timeout=2)
    try:
        with pytest.raises(UnreachableError, match=f"127.0.0.1:{port}"):
            apply(client, [namespace_doc("nowhere")], owner=OWNER, options=FAST)
    finally:
        client.close()


def test_a_key_removed_from_secret_string_data_is_removed_from_the_secret(
    kube: KubeClient, namespace: str
) -> None:
    meta = {"name": "creds", "namespace": namespace}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"a": "1"}}
    apply(kube, [{**secret, "stringData": {"a": "1", "b": "2"}}], owner=OWNER, options=FAST)

    changes = apply(kube, [secret], owner=OWNER, options=FAST)

    assert actions(changes) == {f"Secret/{namespace}/creds": "configured"}
    live = kube.get(secret)
    assert live is not None and live["data"] == {"a": base64.b64encode(b"1").decode()}


def test_namespaces_are_defaulted_and_dropped_by_scope(kube: KubeClient, namespace: str) -> None:
    role_name = unique("sluice-test-role")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": role_name, "namespace": "ignored"},
        "rules": [],
    }
    bare = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bare"}}
    with pytest.raises(
        ApplyError, match=r"ConfigMap/bare dry-run failed .*namespace not specified"
    ):
        apply(kube, [bare], owner=OWNER, options=FAST)
    try:
        options = ApplyOptions(default_namespace=namespace, wait_timeout=30, poll=0.2)
        changes = apply(kube, [bare, role], owner=OWNER, options=options)
        assert [e["id"] for e in changes.inventory().to_status()["entries"]] == [
            f"_{role_name}_rbac.authorization.k8s.io_ClusterRole",
            f"{namespace}_bare__ConfigMap",
        ]
    finally:
        kube.delete(role)


def test_fields_of_an_overridden_manager_are_taken_over(kube: KubeClient, namespace: str) -> None:
    # A fleet moving from Flux: kustomize-controller applied a key the revision no longer has.
    kube.apply(configmap(namespace, "cfg", a="1", old="x"), field_manager="kustomize-controller")
    options = ApplyOptions(override_managers=("kustomize-controller",), wait_timeout=30, poll=0.2)

    changes = apply(kube, [configmap(namespace, "cfg", a="1")], owner=OWNER, options=options)

    assert actions(changes) == {f"ConfigMap/{namespace}/cfg": "configured"}
    live = kube.get(configmap(namespace, "cfg"))
    assert live is not None and live["data"] == {"a": "1"}
    assert {m["manager"] for m in live["metadata"]["managedFields"]} == {"sluice"}


def dry_runs_of_configmaps(admin: k8s.ApiClient) -> float:
    """How many dry-run applies of ConfigMaps the API server has served (its own metrics)."""
    method, url, headers, _, _ = admin.param_serialize(
        "GET", "/metrics", auth_settings=["BearerToken"]
    )
    answer = admin.call_api(method, url, header_params=headers)
    text = answer.read().decode()  # type: ignore[no-untyped-call]
    series = 'apiserver_request_duration_seconds_count{component="apiserver",dry_run="All"'
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(series) and 'resource="configmaps"' in line and 'verb="APPLY"' in line
    )


def test_an_object_nobody_wrote_to_since_it_was_applied_is_not_dry_run_again(
    kube: KubeClient, admin: k8s.ApiClient, namespace: str
) -> None:
    revision = [configmap(namespace, "steady", level="info")]
    apply(kube, revision, owner=OWNER, options=FAST)
    before = dry_runs_of_configmaps(admin)

    again = apply(kube, revision, owner=OWNER, options=FAST)
    assert set(actions(again).values()) == {"unchanged"}
    assert dry_runs_of_configmaps(admin) == before

    # Any write to it brings the dry run back, and the drift is reverted.
    core = k8s.CoreV1Api(admin)
    core.patch_namespaced_config_map("steady", namespace, {"data": {"level": "debug"}})
    drifted = apply(kube, revision, owner=OWNER, options=FAST)
    assert actions(drifted) == {f"ConfigMap/{namespace}/steady": "configured"}
    assert dry_runs_of_configmaps(admin) == before + 1
    assert core.read_namespaced_config_map("steady", namespace).data == {"level": "info"}

    # A changed payload is dry-run too.
    changed = apply(kube, [configmap(namespace, "steady", level="warn")], owner=OWNER, options=FAST)
    assert actions(changed) == {f"ConfigMap/{namespace}/steady": "configured"}
    assert dry_runs_of_configmaps(admin) == before + 2
