"""Generation-checked cache entries (inventory.runtime.caching) and what uses them: resolved credentials
(oauth.credentials), MCP tool-group rows and unfiltered list counts (inventory.runtime.counting).

The cross-process tests run a real uvicorn on the test database and change data from this
process: the server must never answer from a stale entry.
"""

import hashlib
import pickle

import httpx2 as httpx
import pytest
from django.core.cache import cache
from django.db import transaction

from inventory.runtime import caching
from inventory.runtime.counting import bump_counts, count
from inventory.models import Device, Membership, Tenant
from inventory.tenancy import Principal
from oauth.credentials import CredentialRef, authenticate_bearer
from oauth.models import ApiKey
from tests.servers import UvicornServer

pytestmark = pytest.mark.fast_paths("cached_credentials", "cached_counts")


# --- the mechanism ------------------------------------------------------------------------
class Builds:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return f"value {self.calls}", 60


def test_entry_is_reused_until_its_generation_is_bumped(db):
    build = Builds()
    assert caching.cached("t:one", ("things",), build) == "value 1"
    assert caching.cached("t:one", ("things",), build) == "value 1"
    assert build.calls == 1
    caching.bump("other")
    assert caching.cached("t:one", ("things",), build) == "value 1"
    caching.bump("things")
    assert caching.cached("t:one", ("things",), build) == "value 2"
    caching.invalidate_all()
    assert caching.cached("t:one", ("things",), build) == "value 3"


def test_timeout_zero_is_not_stored(db):
    calls = []
    for _ in range(2):
        caching.cached("t:never", ("things",), lambda: (calls.append(1) or "v", 0))
    assert len(calls) == 2


@pytest.mark.django_db(transaction=True)
def test_bump_inside_a_transaction_waits_for_commit_but_this_connection_sees_its_change():
    build = Builds()
    caching.cached("t:tx", ("things",), build)
    tokens_before = cache.get("inv:gen:things")
    with transaction.atomic():
        caching.bump("things")
        assert cache.get("inv:gen:things") == tokens_before  # others cannot see the change yet
        assert caching.cached("t:tx", ("things",), build) == "value 2"  # built directly, not stored
        assert caching.cached("t:tx", ("things",), build) == "value 3"
    assert cache.get("inv:gen:things") != tokens_before  # committed: bumped for everybody
    assert caching.cached("t:tx", ("things",), build) == "value 4"
    assert caching.cached("t:tx", ("things",), build) == "value 4"


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_does_not_lose_the_bump_of_the_transaction():
    tokens_before = caching.cached("t:sp", ("things",), lambda: ("x", 60)) and cache.get("inv:gen:things")
    with transaction.atomic():
        caching.bump("things")
        try:
            with transaction.atomic():
                caching.bump("things")
                raise RuntimeError
        except RuntimeError:
            pass
    assert cache.get("inv:gen:things") != tokens_before


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_bumps_nothing():
    caching.cached("t:rb", ("things",), lambda: ("x", 60))
    tokens_before = cache.get("inv:gen:things")
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            caching.bump("things")
            raise RuntimeError
    assert cache.get("inv:gen:things") == tokens_before


# --- credentials ------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_cached_principal_keeps_no_secret_and_its_user_cannot_clobber_the_password(make_user, tenant_a):
    user = make_user("cached", {tenant_a: "operator"})
    key, raw = ApiKey.create(user, "script")
    first = authenticate_bearer(raw)
    second = authenticate_bearer(raw)
    assert first is not second and second.roles == {tenant_a.pk: "operator"}
    assert second.credential == CredentialRef("apikey", key.pk, key.prefix)
    assert "password" not in second.user.__dict__  # deferred: not in the cache
    entry = cache.get(f"inv:principal:apikey:{hashlib.sha256(raw.encode()).hexdigest()}")
    stored = pickle.dumps(entry)
    assert entry is not None and user.password.encode() not in stored and raw.encode() not in stored
    second.user.first_name = "Changed"
    second.user.save()  # writes the loaded fields only
    user.refresh_from_db()
    assert user.first_name == "Changed" and user.check_password("pass-word-123")


def test_membership_change_is_seen_at_once(make_user, tenant_a, tenant_b):
    user = make_user("moving", {tenant_a: "viewer"})
    _key, raw = ApiKey.create(user, "script")
    assert set(authenticate_bearer(raw).roles) == {tenant_a.pk}
    Membership.objects.create(user=user, tenant=tenant_b, role="admin")
    assert authenticate_bearer(raw).roles == {tenant_a.pk: "viewer", tenant_b.pk: "admin"}
    Membership.objects.filter(user=user, tenant=tenant_a).delete()
    assert authenticate_bearer(raw).roles == {tenant_b.pk: "admin"}


def test_revoked_key_and_inactive_user_are_refused_at_once(make_user, tenant_a):
    user = make_user("revoked", {tenant_a: "viewer"})
    key, raw = ApiKey.create(user, "script")
    other_key, other_raw = ApiKey.create(user, "other")
    assert authenticate_bearer(raw) and authenticate_bearer(other_raw)
    key.revoke()
    assert authenticate_bearer(raw) is None
    assert authenticate_bearer(other_raw) is not None
    ApiKey.objects.filter(pk=other_key.pk).revoke()  # the admin action's path
    assert authenticate_bearer(other_raw) is None
    _k, third = ApiKey.create(user, "third")
    assert authenticate_bearer(third) is not None
    user.is_active = False
    user.save()
    assert authenticate_bearer(third) is None


# --- counts -------------------------------------------------------------------------------------
def test_unfiltered_count_is_cached_and_follows_creations_and_deletions(tenant_a, tenant_b, superuser,
                                                                           django_assert_num_queries):
    Device.objects.create(tenant=tenant_a, name="a1")
    Device.objects.create(tenant=tenant_b, name="b1")
    principal = Principal(superuser, tenant_ids=[tenant_a.pk])
    qs = Device.objects.restrict(principal)
    # inside the test's transaction this connection's own changes bypass the cache: check the
    # value, then check reuse on a committed state below
    assert count(qs, unfiltered=True) == 1
    Device.objects.create(tenant=tenant_a, name="a2")
    assert count(qs, unfiltered=True) == 2
    Device.objects.filter(name="a1").delete()
    assert count(qs, unfiltered=True) == 1
    assert count(qs.filter(name="zzz"), unfiltered=False) == 0


@pytest.mark.django_db(transaction=True)
def test_count_is_served_from_cache_after_commit_and_bulk_writes_bump_it(superuser, django_assert_num_queries):
    tenant = Tenant.objects.create(name="count-t")
    Device.objects.create(tenant=tenant, name="one")
    qs = Device.objects.restrict(Principal(superuser, tenant_ids=[tenant.pk]))
    assert count(qs, unfiltered=True) == 1
    with django_assert_num_queries(0):
        assert count(qs, unfiltered=True) == 1
    Device.objects.bulk_create([Device(tenant=tenant, name=f"bulk{i}") for i in range(3)])
    assert count(qs, unfiltered=True) == 1  # bulk_create sends no signal ...
    bump_counts(Device)  # ... so bulk writers bump
    assert count(qs, unfiltered=True) == 4


# --- across processes: a real server answering while this process changes data ---------------------
@pytest.fixture
def server(transactional_db):
    with UvicornServer() as srv:
        yield srv


def test_server_sees_revocation_membership_and_count_changes_at_once(server, make_user):
    tenant = Tenant.objects.create(name="live-t")
    other = Tenant.objects.create(name="live-other")
    user = make_user("live", {tenant: "admin"})
    key, raw = ApiKey.create(user, "live")
    headers = {"Authorization": f"Bearer {raw}"}
    Device.objects.create(tenant=tenant, name="d1")
    Device.objects.create(tenant=other, name="hidden")
    with httpx.Client(base_url=server.url, headers=headers, timeout=20) as http:
        def devices():
            r = http.get("/api/devices/")
            assert r.status_code == 200, r.text
            return r.json()["count"], sorted(d["name"] for d in r.json()["results"])

        assert devices() == (1, ["d1"])
        assert devices() == (1, ["d1"])  # served twice: the second from the cached count
        Device.objects.create(tenant=tenant, name="d2")
        assert devices() == (2, ["d1", "d2"])
        Device.objects.filter(name="d1").delete()
        assert devices() == (1, ["d2"])
        Membership.objects.create(user=user, tenant=other, role="viewer")
        assert devices() == (2, ["d2", "hidden"])
        Membership.objects.filter(user=user, tenant=other).delete()
        assert devices() == (1, ["d2"])
        key.revoke()
        r = http.get("/api/devices/")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.redis
def test_clearing_the_cache_leaves_the_brokers_keys_in_the_shared_redis_database():
    """The Celery broker and the SSE relay keep their keys in the cache's Redis database:
    cache.clear() must delete the cache's entries only (Django's own clear() is FLUSHDB)."""
    import uuid

    from django.core.cache import cache

    client = cache.client.get_client(write=True)
    foreign = f"test-broker-queue-{uuid.uuid4().hex}"
    client.set(foreign, b"a queued task")
    try:
        cache.set_many({f"k{i}": i for i in range(1500)})  # more than one delete batch
        cache.clear()
        assert cache.get_many([f"k{i}" for i in range(1500)]) == {}
        assert client.get(foreign) == b"a queued task"
    finally:
        client.delete(foreign)


@pytest.mark.redis
def test_set_many_without_timeout_stores_every_value_without_expiry():
    from django.core.cache import cache

    cache.set_many({"forever-a": ("tokens", 1), "forever-b": [2]}, None)
    assert cache.get_many(["forever-a", "forever-b"]) == {"forever-a": ("tokens", 1), "forever-b": [2]}
    client = cache.client.get_client(write=True)
    assert client.ttl(cache.make_key("forever-a")) == -1  # no expiry
    cache.set_many({"soon": 1}, 30)
    assert 0 < client.ttl(cache.make_key("soon")) <= 30
    cache.delete_many(["forever-a", "forever-b", "soon"])
