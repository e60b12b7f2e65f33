"""The object store against a real redis-server: indexes, versions, atomicity, sealed Secrets."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from shared.keys import ObjectKey
from shared.redisserver import RedisServer
from shared.secrets import SecretCipher, SecretKeyError
from shared.settings import Settings
from shared.store import (
    AlreadyExists,
    Conflict,
    InvalidObject,
    NotFound,
    OwnedByAnother,
    Store,
    StoreError,
)

OWNER_NAME = "kustomize.toolkit.fluxcd.io/name"
OWNER_NS = "kustomize.toolkit.fluxcd.io/namespace"
PLAIN = "s3cr3t-deploy-token-value"
B64 = base64.b64encode(PLAIN.encode()).decode()


def repo(name: str, namespace: str = "flux-system", **labels: str) -> dict[str, Any]:
    """A GitRepository document."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": meta,
        "spec": {"url": "https://example.com/fleet.git", "interval": "1m"},
    }


def kustomization(name: str) -> dict[str, Any]:
    """A Kustomization document (an owner that exists)."""
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {
            "interval": "1m",
            "path": "./",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "a"},
        },
    }


def secret(name: str = "git-auth", **extra: Any) -> dict[str, Any]:
    """A Secret document with one value in data."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "flux-system"},
        "data": {"password": B64},
        **extra,
    }


@pytest.fixture
def cipher() -> SecretCipher:
    return SecretCipher(SecretCipher.generate_key())


@pytest.fixture
def store(redis_client: redis.Redis, cipher: SecretCipher) -> Store:
    return Store(redis_client, cipher)


@pytest.fixture
def new_client(redis_server: RedisServer) -> Iterator[Callable[[], redis.Redis]]:
    clients: list[redis.Redis] = []

    def make() -> redis.Redis:
        clients.append(redis.Redis.from_url(redis_server.url))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def names(docs: list[dict[str, Any]]) -> list[str]:
    return [f"{d['metadata']['namespace']}/{d['metadata']['name']}" for d in docs]


def raw_bytes(client: redis.Redis) -> bytes:
    """Every byte Redis holds for every key, read by type (no DUMP: it may compress)."""
    c: Any = client  # redis-py's reply types are unions of bytes and str
    out: list[bytes] = []
    for name in sorted(c.scan_iter()):
        kind = c.type(name)
        if kind == b"string":
            out.append(c.get(name))
        elif kind == b"set":
            out.extend(sorted(c.smembers(name)))
        elif kind == b"stream":
            for _id, fields in c.xrange(name):
                out.extend(k + v for k, v in fields.items())
        else:
            pytest.fail(f"unexpected key type {kind!r} for {name!r}")
    return b"\n".join(out)


# -- create, get, list -------------------------------------------------------


def test_create_sets_bookkeeping_and_get_returns_the_stored_object(store: Store) -> None:
    created = store.create(repo("fleet"))
    meta = created["metadata"]
    assert meta["generation"] == 1
    assert meta["resourceVersion"].isdigit()
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert store.get(ObjectKey("GitRepository", "flux-system", "fleet")) == created


def test_create_defaults_the_namespace_and_ignores_status_and_bookkeeping(store: Store) -> None:
    doc = repo("fleet")
    del doc["metadata"]["namespace"]
    doc["metadata"]["resourceVersion"] = "999"
    doc["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    created = store.create(doc)
    assert created["metadata"]["namespace"] == "default"
    assert created["metadata"]["resourceVersion"] != "999"
    assert "status" not in created


def test_create_of_an_existing_object_is_refused(store: Store) -> None:
    store.create(repo("fleet"))
    with pytest.raises(AlreadyExists, match="GitRepository/flux-system/fleet already exists"):
        store.create(repo("fleet"))


def test_require_names_the_missing_object(store: Store) -> None:
    assert store.get(ObjectKey("GitRepository", "flux-system", "nope")) is None
    with pytest.raises(NotFound, match="GitRepository/flux-system/nope not found"):
        store.require(ObjectKey("GitRepository", "flux-system", "nope"))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"metadata": {"name": "x"}}, "no kind"),
        ({"kind": "GitRepository", "metadata": {}}, "no metadata.name"),
        ({"kind": "GitRepository", "metadata": {"name": "a/b"}}, "metadata.name 'a/b'"),
        ({"kind": "Git:Repo", "metadata": {"name": "a"}}, "kind 'Git:Repo'"),
        ({"kind": "X", "metadata": {"name": "a", "namespace": "b c"}}, "metadata.namespace"),
        ({"kind": "X", "metadata": {"name": "a", "labels": ["x"]}}, "metadata.labels"),
        ({"kind": "X", "metadata": {"name": "a"}, "spec": {"at": object()}}, "as JSON"),
    ],
)
def test_documents_the_store_cannot_hold_are_refused(
    store: Store, doc: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidObject, match=message):
        store.create(doc)


def test_list_by_kind_and_namespace(store: Store) -> None:
    store.create(repo("b", "team-a"))
    store.create(repo("a", "team-b"))
    store.create(repo("a", "team-a"))
    store.create(secret())
    assert names(store.list("GitRepository")) == ["team-a/a", "team-a/b", "team-b/a"]
    assert names(store.list("GitRepository", "team-b")) == ["team-b/a"]
    assert store.list("GitRepository", "nowhere") == []
    assert store.list("HelmRelease") == []
    assert names(store.list("Secret")) == ["flux-system/git-auth"]


def test_list_by_label_selector(store: Store) -> None:
    store.create(repo("web", app="web", tier="front"))
    store.create(repo("api", app="api", tier="back"))
    store.create(repo("plain"))
    assert names(store.list("GitRepository", label_selector="app=web")) == ["flux-system/web"]
    assert names(store.list("GitRepository", label_selector="tier in (front,back),app!=web")) == [
        "flux-system/api"
    ]
    assert names(store.list("GitRepository", label_selector="!app")) == ["flux-system/plain"]
    assert names(store.list("GitRepository", label_selector={"tier": "back"})) == [
        "flux-system/api"
    ]
    expr = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    assert len(store.list("GitRepository", label_selector=expr)) == 2


# -- versions ----------------------------------------------------------------


def test_generation_follows_the_spec_and_resource_version_every_write(store: Store) -> None:
    first = store.create(repo("fleet"))
    relabeled = store.update(repo("fleet", team="a"))
    assert relabeled["metadata"]["generation"] == 1
    assert int(relabeled["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])

    changed = repo("fleet", team="a")
    changed["spec"]["interval"] = "5m"
    bumped = store.update(changed)
    assert bumped["metadata"]["generation"] == 2

    key = ObjectKey.of(changed)
    status = store.update_status(key, {"observedGeneration": 2})
    assert status["metadata"]["generation"] == 2
    assert int(status["metadata"]["resourceVersion"]) > int(bumped["metadata"]["resourceVersion"])
    assert status["metadata"]["uid"] == first["metadata"]["uid"]
    assert status["metadata"]["creationTimestamp"] == first["metadata"]["creationTimestamp"]


def test_secret_and_config_map_generation_follows_data(store: Store) -> None:
    store.create(secret())
    other = base64.b64encode(b"rotated").decode()
    assert store.apply(secret(data={"password": other}))[1]["metadata"]["generation"] == 2
    relabel = secret(data={"password": other})
    relabel["metadata"]["labels"] = {"team": "a"}
    assert store.apply(relabel)[1]["metadata"]["generation"] == 2
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars"}}
    store.create({**config, "data": {"a": "1"}})
    assert store.apply({**config, "data": {"a": "2"}})[1]["metadata"]["generation"] == 2


def test_update_with_a_stale_resource_version_is_a_conflict(store: Store) -> None:
    old = store.create(repo("fleet"))
    store.update(repo("fleet", team="a"))
    stale = repo("fleet", team="b")
    stale["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    with pytest.raises(Conflict, match=r"GitRepository/flux-system/fleet: .*re-read and retry"):
        store.update(stale)
    assert store.require(ObjectKey.of(stale))["metadata"]["labels"] == {"team": "a"}


def test_update_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="use apply"):
        store.update(repo("ghost"))


def update_together(stores: list[Store], docs: list[dict[str, Any]]) -> list[str]:
    """Run ``stores[i].update(docs[i])`` at the same instant in threads; "won" or "conflict"."""
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def write(store: Store, doc: dict[str, Any]) -> None:
        barrier.wait()
        try:
            store.update(doc)
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=pair) for pair in zip(stores, docs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


def test_racing_writers_with_the_same_resource_version_one_wins(
    store: Store, cipher: SecretCipher, new_client: Callable[[], redis.Redis]
) -> None:
    key = ObjectKey("GitRepository", "flux-system", "fleet")
    store.create(repo("fleet"))
    stores = [Store(new_client(), cipher), Store(new_client(), cipher)]
    for round_ in range(10):
        version = store.require(key)["metadata"]["resourceVersion"]
        docs = [repo("fleet", team=team, round=str(round_)) for team in ("a", "b")]
        for doc in docs:
            doc["metadata"]["resourceVersion"] = version
        assert update_together(stores, docs) == ["conflict", "won"]
        assert store.require(key)["metadata"]["labels"]["round"] == str(round_)


def test_racing_creates_of_one_object_one_wins(
    cipher: SecretCipher, new_client: Callable[[], redis.Redis]
) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def create(client: redis.Redis) -> None:
        barrier.wait()
        try:
            Store(client, cipher).create(repo("fleet"))
            outcomes.append("created")
        except AlreadyExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=create, args=(new_client(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", "exists", "exists", "exists"]


# -- apply -------------------------------------------------------------------


def test_apply_says_created_configured_or_unchanged(store: Store) -> None:
    result, first = store.apply(repo("fleet"))
    assert result == "created"
    again, same = store.apply(repo("fleet"))
    assert (again, same) == ("unchanged", first)
    stale = repo("fleet", team="a")
    stale["metadata"]["resourceVersion"] = "1"  # apply ignores it
    result, changed = store.apply(stale)
    assert result == "configured"
    assert changed["metadata"]["labels"] == {"team": "a"}


def test_spec_writes_never_clobber_status_and_status_writes_keep_spec(store: Store) -> None:
    store.create(repo("fleet"))
    key = ObjectKey("GitRepository", "flux-system", "fleet")
    status = {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": 1}
    store.update_status(key, status)
    changed = repo("fleet")
    changed["spec"]["ref"] = {"branch": "main"}
    changed["status"] = {"conditions": []}
    assert store.apply(changed)[1]["status"] == status
    assert store.update(changed)["status"] == status

    after = store.update_status(key, {"observedGeneration": 2})
    assert after["spec"] == changed["spec"]
    assert after["metadata"]["generation"] == 2
    assert store.require(key)["status"] == {"observedGeneration": 2}


def test_status_write_checks_the_resource_version_and_existence(store: Store) -> None:
    created = store.create(repo("fleet"))
    key = ObjectKey.of(created)
    store.update(repo("fleet", team="a"))
    with pytest.raises(Conflict, match="re-read and retry"):
        store.update_status(key, {}, resource_version=created["metadata"]["resourceVersion"])
    with pytest.raises(NotFound):
        store.update_status(ObjectKey("GitRepository", "flux-system", "gone"), {})


def test_change_status_reruns_on_a_concurrent_write_and_skips_an_unchanged_status(
    store: Store,
) -> None:
    store.create(repo("fleet"))
    key = ObjectKey("GitRepository", "flux-system", "fleet")
    seen: list[dict[str, Any]] = []

    def change(doc: dict[str, Any], status: dict[str, Any]) -> None:
        seen.append(dict(status))
        if len(seen) == 1:  # another writer lands between this read and its write
            store.update_status(key, {"observedGeneration": 1, "note": "theirs"})
        status["mine"] = True

    after = store.change_status(key, change)
    assert after is not None and after["status"] == {
        "observedGeneration": 1,
        "note": "theirs",
        "mine": True,
    }
    assert seen == [{}, {"observedGeneration": 1, "note": "theirs"}]
    assert store.require(key) == after

    version = after["metadata"]["resourceVersion"]
    unchanged = store.change_status(key, lambda _doc, status: status.update(mine=True))
    assert unchanged is not None and unchanged["metadata"]["resourceVersion"] == version
    gone = ObjectKey("GitRepository", "flux-system", "gone")
    assert store.change_status(gone, lambda _doc, status: status.update(x=1)) is None


def test_apply_all_stores_every_document_in_one_go(store: Store) -> None:
    results = store.apply_all([repo("a"), repo("b"), secret()])
    assert [r for r, _ in results] == ["created", "created", "created"]
    versions = {d["metadata"]["resourceVersion"] for _, d in results}
    assert len(versions) == 3
    results = store.apply_all([repo("a"), repo("b", team="x")])
    assert [r for r, _ in results] == ["unchanged", "configured"]


def test_apply_all_stores_nothing_when_one_document_conflicts(
    store: Store, redis_client: redis.Redis
) -> None:
    store.create(secret("pinned", immutable=True))
    store.create(repo("existing"))
    before = raw_bytes(redis_client)
    changed_pinned = secret("pinned", immutable=True, data={"password": "Y2hhbmdlZA=="})
    with pytest.raises(Conflict, match="Secret/flux-system/pinned: Secret is immutable"):
        store.apply_all([repo("new"), repo("existing", team="x"), changed_pinned])
    assert raw_bytes(redis_client) == before  # not one byte changed, not even the counter
    assert store.get(ObjectKey("GitRepository", "flux-system", "new")) is None
    assert names(store.list("GitRepository")) == ["flux-system/existing"]


def test_apply_all_refuses_a_file_naming_one_object_twice(store: Store) -> None:
    with pytest.raises(InvalidObject, match=r"GitRepository/flux-system/a appears twice"):
        store.apply_all([repo("a"), repo("b"), repo("a", team="x")])
    assert store.list("GitRepository") == []


# -- ownership ---------------------------------------------------------------


def test_owner_is_kept_as_flux_labels_and_indexed(store: Store) -> None:
    apps = ObjectKey("Kustomization", "flux-system", "apps")
    infra = ObjectKey("Kustomization", "flux-system", "infra")
    _, doc = store.apply(repo("a"), owner=apps)
    store.apply_all([repo("b"), secret()], owner=apps)
    store.apply(repo("c"), owner=infra)
    assert doc["metadata"]["labels"] == {OWNER_NAME: "apps", OWNER_NS: "flux-system"}
    assert store.list_owned(apps) == [
        ObjectKey("GitRepository", "flux-system", "a"),
        ObjectKey("GitRepository", "flux-system", "b"),
        ObjectKey("Secret", "flux-system", "git-auth"),
    ]
    owned_by_apps = f"{OWNER_NAME}=apps,{OWNER_NS}=flux-system"
    assert names(store.list("GitRepository", label_selector=owned_by_apps)) == [
        "flux-system/a",
        "flux-system/b",
    ]

    # Applied without an owner (sluice apply -f), the object stays with its owner.
    assert store.apply(repo("a", team="x"))[1]["metadata"]["labels"][OWNER_NAME] == "apps"


def test_another_owner_is_refused_and_nothing_moves(store: Store) -> None:
    apps = ObjectKey("Kustomization", "flux-system", "apps")
    infra = ObjectKey("Kustomization", "flux-system", "infra")
    store.apply(kustomization("apps"))
    store.apply(kustomization("infra"))
    _, before = store.apply(repo("a"), owner=apps)
    with pytest.raises(OwnedByAnother) as refused:
        store.apply_all([repo("b"), repo("a", team="infra")], owner=infra)
    assert str(refused.value).startswith(
        "GitRepository/flux-system/a is managed by Kustomization/flux-system/apps"
    )
    assert refused.value.owner == apps
    # All or nothing: neither object of the refused apply was written.
    assert store.get(ObjectKey("GitRepository", "flux-system", "a")) == before
    assert store.get(ObjectKey("GitRepository", "flux-system", "b")) is None
    assert store.list_owned(apps) == [ObjectKey("GitRepository", "flux-system", "a")]
    assert store.list_owned(infra) == []


def test_an_owner_adopts_objects_applied_by_hand_and_orphans_of_a_deleted_owner(
    store: Store,
) -> None:
    apps = ObjectKey("Kustomization", "flux-system", "apps")
    infra = ObjectKey("Kustomization", "flux-system", "infra")
    store.apply(repo("by-hand"))
    store.apply(repo("orphan"), owner=apps)  # apps is not stored: deleted, objects orphaned
    store.apply_all([repo("by-hand"), repo("orphan")], owner=infra)
    assert store.list_owned(infra) == [
        ObjectKey("GitRepository", "flux-system", "by-hand"),
        ObjectKey("GitRepository", "flux-system", "orphan"),
    ]
    assert store.list_owned(apps) == []


def test_only_flux_owner_kinds_can_own(store: Store) -> None:
    with pytest.raises(InvalidObject, match="must be a Kustomization or HelmRelease"):
        store.apply(repo("a"), owner=ObjectKey("GitRepository", "flux-system", "x"))


# -- delete ------------------------------------------------------------------


def test_delete_removes_the_object_and_every_index_entry(
    store: Store, redis_client: redis.Redis
) -> None:
    owner = ObjectKey("Kustomization", "flux-system", "apps")
    store.apply(repo("a"), owner=owner)
    store.apply(repo("b"), owner=owner)
    key = ObjectKey("GitRepository", "flux-system", "a")
    assert store.delete(key) is True
    assert store.delete(key) is False
    assert store.get(key) is None
    assert names(store.list("GitRepository")) == ["flux-system/b"]
    assert names(store.list("GitRepository", "flux-system")) == ["flux-system/b"]
    assert store.list_owned(owner) == [ObjectKey("GitRepository", "flux-system", "b")]
    assert redis_client.smembers("sluice:index:GitRepository") == {b"flux-system/b"}
    assert redis_client.smembers("sluice:index:GitRepository/flux-system") == {b"b"}


def test_delete_with_a_stale_resource_version_is_a_conflict(store: Store) -> None:
    first = store.create(repo("a"))
    store.update(repo("a", team="x"))
    with pytest.raises(Conflict):
        store.delete(ObjectKey.of(first), resource_version=first["metadata"]["resourceVersion"])


# -- secrets at rest ---------------------------------------------------------


def test_secrets_are_not_readable_in_redis_or_its_files(
    store: Store, redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    doc = secret(stringData={"token": PLAIN + "-2"})
    doc["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(doc)
    }
    store.create(doc)
    store.update_status(ObjectKey.of(doc), {"observedGeneration": 1})
    raw = raw_bytes(redis_client)
    assert b"password" in raw  # the key was read, and it is there
    for needle in (PLAIN, B64, PLAIN + "-2", base64.b64encode((PLAIN + "-2").encode()).decode()):
        assert needle.encode() not in raw
    on_disk = b"".join(p.read_bytes() for p in redis_server.data_dir.rglob("*") if p.is_file())
    assert b"git-auth" in on_disk
    assert PLAIN.encode() not in on_disk and B64.encode() not in on_disk

    got = store.require(ObjectKey.of(doc))
    assert got["data"]["password"] == B64
    assert base64.b64decode(got["data"]["token"]).decode() == PLAIN + "-2"
    assert "stringData" not in got
    assert names(store.list("Secret")) == ["flux-system/git-auth"]


def test_reading_a_secret_with_another_key_names_it_but_never_the_value(
    store: Store, redis_client: redis.Redis
) -> None:
    store.create(secret())
    other = Store(redis_client, SecretCipher(SecretCipher.generate_key()))
    with pytest.raises(SecretKeyError) as info:
        other.get(ObjectKey("Secret", "flux-system", "git-auth"))
    assert "Secret/flux-system/git-auth data.password" in str(info.value)
    assert PLAIN not in str(info.value) and B64 not in str(info.value)
    assert other.delete(ObjectKey("Secret", "flux-system", "git-auth")) is True


# -- durability and the feed ---------------------------------------------------


def test_everything_survives_a_redis_restart(settings: Settings, redis_server: RedisServer) -> None:
    store = Store.from_settings(settings)
    owner = ObjectKey("Kustomization", "flux-system", "apps")
    store.apply_all([repo("a"), secret()], owner=owner)
    status = store.update_status(ObjectKey.of(repo("a")), {"observedGeneration": 1})
    redis_server.restart()

    store = Store.from_settings(settings)  # same key file, new connection
    assert store.require(ObjectKey.of(repo("a"))) == status
    assert store.require(ObjectKey.of(secret()))["data"] == {"password": B64}
    assert len(store.list_owned(owner)) == 2
    assert names(store.list("GitRepository", label_selector=f"{OWNER_NAME}=apps")) == [
        "flux-system/a"
    ]
    later = store.apply(repo("b"))[1]
    assert int(later["metadata"]["resourceVersion"]) > int(status["metadata"]["resourceVersion"])


def test_each_write_appends_one_small_change(store: Store) -> None:
    key = ObjectKey("GitRepository", "flux-system", "a")
    created = store.create(repo("a"))
    store.apply(repo("a"))  # unchanged: no entry
    store.apply(repo("a", team="x"))
    store.update_status(key, {"observedGeneration": 1})
    store.update_status(key, {"observedGeneration": 1})  # same status: no entry
    store.delete(key)
    changes = store.changes()
    assert [(c.key, c.type) for c in changes] == [
        (key, "created"),
        (key, "updated"),
        (key, "status"),
        (key, "deleted"),
    ]
    assert changes[0].resource_version == created["metadata"]["resourceVersion"]
    versions = [int(c.resource_version) for c in changes]
    assert versions == sorted(versions)
    assert store.changes(changes[-1].id) == []


def test_the_changes_stream_stays_bounded(redis_client: redis.Redis, cipher: SecretCipher) -> None:
    store = Store(redis_client, cipher, changes_max_len=10)
    store.create(repo("a"))
    for i in range(400):
        store.update_status(ObjectKey.of(repo("a")), {"n": i})
    # Trimming is approximate (whole stream nodes of 100 entries), never unbounded.
    assert redis_client.xlen("sluice:changes") <= 200


def test_store_errors_share_one_base(store: Store) -> None:
    with pytest.raises(StoreError):
        store.require(ObjectKey("GitRepository", "flux-system", "none"))
