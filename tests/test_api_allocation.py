"""Next free IP: preview and allocation over REST, edge cases, and concurrency on PostgreSQL."""

import threading

import pytest
from django.db import connection

from inventory import ipam
from inventory.models import AddressStatus, Device, IPAddress, IPPool, Network
from inventory.services.allocation import HINT_SLACK, allocate_next_ip, preview_next_ip
from inventory.services.common import Conflict
from inventory.tenancy import Principal
from oauth.models import ApiKey
from tests.test_api_support import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def net(tenant_a):
    return Network.objects.create(tenant=tenant_a, name="lan", subnet="127.100.0.0/24")


def next_ip(client, kind, obj, body=None):
    url = f"/api/{kind}/{obj.pk}/next-ip/"
    return client.get(url) if body is None else client.post(url, body, format="json")


def test_preview_and_allocate_skip_used_and_reserved(api, operator_a, net):
    IPAddress.objects.create(network=net, address="127.100.0.1")
    IPAddress.objects.create(network=net, address="127.100.0.2", status=AddressStatus.RESERVED)
    IPAddress.objects.create(network=net, address="127.100.0.4", status=AddressStatus.DHCP)
    c = api(operator_a)
    assert next_ip(c, "networks", net).json() == {"address": "127.100.0.3", "network": net.pk, "pool": None}
    assert next_ip(c, "networks", net).json()["address"] == "127.100.0.3"  # a preview takes nothing
    r = next_ip(c, "networks", net, {"dns_name": "a.example.com"})
    assert r.status_code == 201 and r.json()["address"] == "127.100.0.3" and r.json()["dns_name"] == "a.example.com"
    assert next_ip(c, "networks", net, {}).json()["address"] == "127.100.0.5"
    assert next_ip(c, "networks", net).json()["address"] == "127.100.0.6"


def test_preview_locks_and_writes_only_to_raise_the_hint(operator_a, net):
    from django.test.utils import CaptureQueriesContext

    for n in (1, 2, 3):
        IPAddress.objects.create(network=net, address=f"127.100.0.{n}")
    principal = Principal(operator_a)

    def preview():
        target = Network.objects.get(pk=net.pk)
        with CaptureQueriesContext(connection) as queries:
            address = preview_next_ip(principal, target).address
        sql = " ".join(q["sql"] for q in queries.captured_queries).upper()
        return address, ("FOR UPDATE" in sql or "FOR NO KEY UPDATE" in sql), "UPDATE " in sql.replace("FOR UPDATE", "")

    locks = connection.vendor == "postgresql"  # SQLite has no row locks (it serialises writers)
    assert preview() == ("127.100.0.4", locks, True)  # a better lower bound: stored under the lock
    assert preview() == ("127.100.0.4", False, False)  # steady state: read only
    IPAddress.objects.filter(address="127.100.0.2").delete()  # lowers the hint
    assert preview() == ("127.100.0.2", False, False)
    IPAddress.objects.create(network=net, address="127.100.0.2")
    # the hint lags by 2 addresses, fewer than HINT_SLACK: the search walks them, nothing is written
    assert preview() == ("127.100.0.4", False, False)
    for n in range(4, 4 + HINT_SLACK):
        IPAddress.objects.create(network=net, address=f"127.100.0.{n}")
    assert preview() == (f"127.100.0.{4 + HINT_SLACK}", locks, True)  # lags by HINT_SLACK: raised
    assert preview() == (f"127.100.0.{4 + HINT_SLACK}", False, False)


def test_allocate_to_device_and_bad_bodies(api, operator_a, net, tenant_a):
    dev = Device.objects.create(tenant=tenant_a, name="web1")
    c = api(operator_a)
    assert c.get("/api/ip-addresses/").json()["count"] == 0  # the unfiltered count is cached now
    r = next_ip(c, "networks", net, {"device": dev.pk, "dns_name": "web1.example.com"})
    assert r.status_code == 201 and r.json()["device"]["id"] == dev.pk
    dev.refresh_from_db()
    assert "127.100.0.1" in dev.search_text  # the receivers of a save ran
    assert c.get("/api/ip-addresses/").json()["count"] == 1
    assert next_ip(c, "networks", net, {"device": 999999}).status_code == 400
    assert next_ip(c, "networks", net, {"device": "x"}).status_code == 400
    assert next_ip(c, "networks", net, {"dns_name": "x" * 300}).status_code == 400
    r = next_ip(c, "networks", net, {"bogus": 1})  # an unknown body field is refused by name
    assert r.status_code == 400 and "bogus" in r.json()
    assert c.get("/api/networks/999999/next-ip/").status_code == 404


def test_pool_allocation_and_exhaustion(api, operator_a, net):
    pool = IPPool.objects.create(network=net, name="p", start_address="127.100.0.250", end_address="127.100.0.255")
    c = api(operator_a)
    got = [next_ip(c, "pools", pool, {}).json()["address"] for _ in range(5)]
    assert got == ["127.100.0.250", "127.100.0.251", "127.100.0.252", "127.100.0.253", "127.100.0.254"]  # never the broadcast
    assert IPAddress.objects.filter(pool=pool).count() == 5
    r = next_ip(c, "pools", pool, {})
    assert r.status_code == 409 and "full" in r.json()["detail"]
    assert next_ip(c, "pools", pool).status_code == 409
    assert IPAddress.objects.count() == 5


def test_network_allocation_records_the_pool_holding_the_address(api, operator_a, net):
    pool = IPPool.objects.create(network=net, name="p", start_address="127.100.0.2", end_address="127.100.0.3")
    c = api(operator_a)
    got = [next_ip(c, "networks", net, {}).json() for _ in range(4)]
    assert [(r["address"], r["pool"] and r["pool"]["id"]) for r in got] == [
        ("127.100.0.1", None), ("127.100.0.2", pool.pk), ("127.100.0.3", pool.pk), ("127.100.0.4", None)]
    assert IPAddress.objects.filter(pool=pool).count() == 2


def test_allocation_refuses_unknown_query_parameters(api, operator_a, net):
    r = api(operator_a).post(f"/api/networks/{net.pk}/next-ip/?ordering=id", {}, format="json")
    assert r.status_code == 400 and "ordering" in r.json()["non_field_errors"][0]
    assert not IPAddress.objects.exists()


def test_freed_address_is_reused(api, operator_a, net):
    c = api(operator_a)
    ids = [next_ip(c, "networks", net, {}).json()["id"] for _ in range(3)]
    IPAddress.objects.get(pk=ids[0]).delete()
    assert next_ip(c, "networks", net).json()["address"] == "127.100.0.1"
    assert next_ip(c, "networks", net, {}).json()["address"] == "127.100.0.1"
    assert next_ip(c, "networks", net, {}).json()["address"] == "127.100.0.4"


def _hint_writes(delete) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        delete()
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith(('UPDATE "inventory_network"', 'UPDATE "inventory_ippool"'))]


def test_deleting_a_network_or_tenant_does_not_rewrite_hints_per_address(tenant_a, tenant_b):
    def filled(tenant, name, subnet):
        network = Network.objects.create(tenant=tenant, name=name, subnet=subnet)
        pool = IPPool.objects.create(network=network, name="p", start_address=subnet[:-4] + "1",
                                     end_address=subnet[:-4] + "9")
        for n in range(1, 6):
            IPAddress.objects.create(network=network, address=subnet[:-4] + str(n))
        Network.objects.filter(pk=network.pk).update(alloc_hint="f" * 32)  # above every address
        IPPool.objects.filter(pk=pool.pk).update(alloc_hint="f" * 32)
        return network

    # the addresses go with their network (or tenant): its rows are not rewritten once per address
    first, second = filled(tenant_a, "n1", "127.101.0.0/24"), filled(tenant_a, "n2", "127.102.0.0/24")
    assert _hint_writes(first.delete) == []
    assert _hint_writes(Network.objects.filter(pk=second.pk).delete) == []
    filled(tenant_b, "n3", "127.103.0.0/24")
    assert _hint_writes(tenant_b.delete) == []
    assert not IPAddress.objects.exists() and not IPPool.objects.exists()
    # addresses deleted from a network that stays free their place: the hints come down to the
    # lowest of them, in one write per network and pool however many go
    kept = filled(tenant_a, "n4", "127.104.0.0/24")
    assert len(_hint_writes(IPAddress.objects.filter(address="127.104.0.3").delete)) == 2
    kept.refresh_from_db()
    assert kept.alloc_hint == kept.pools.get().alloc_hint == ipam.key("127.104.0.3")
    Network.objects.filter(pk=kept.pk).update(alloc_hint="f" * 32)
    IPPool.objects.filter(network=kept).update(alloc_hint="f" * 32)
    for n in (9, 8, 7):  # Django deletes in id order: the highest address first
        IPAddress.objects.create(network=kept, address=f"127.104.0.{n}")
    several = IPAddress.objects.filter(network=kept, address__in=["127.104.0.9", "127.104.0.8", "127.104.0.7"])
    assert len(_hint_writes(several.delete)) == 2
    kept.refresh_from_db()
    assert kept.alloc_hint == kept.pools.get().alloc_hint == ipam.key("127.104.0.7")
    # the same queryset deleted again (in another transaction) lowers the hints again
    IPAddress.objects.create(network=kept, address="127.104.0.8")
    Network.objects.filter(pk=kept.pk).update(alloc_hint="f" * 32)
    IPPool.objects.filter(network=kept).update(alloc_hint="f" * 32)
    assert len(_hint_writes(several.delete)) == 2
    kept.refresh_from_db()
    assert kept.alloc_hint == kept.pools.get().alloc_hint == ipam.key("127.104.0.8")


@pytest.mark.parametrize("subnet, expected", [
    ("192.0.2.0/31", ["192.0.2.0", "192.0.2.1"]),
    ("192.0.2.7/32", ["192.0.2.7"]),
    ("192.0.2.0/30", ["192.0.2.1", "192.0.2.2"]),
    ("2001:db8::/126", ["2001:db8::1", "2001:db8::2", "2001:db8::3"]),
    ("2001:db8::/127", ["2001:db8::", "2001:db8::1"]),
])
def test_small_networks_and_ipv6(api, operator_a, tenant_a, subnet, expected):
    net = Network.objects.create(tenant=tenant_a, name="n", subnet=subnet)
    c = api(operator_a)
    got = [next_ip(c, "networks", net, {}).json().get("address") for _ in expected]
    assert got == expected
    assert next_ip(c, "networks", net, {}).status_code == 409


def test_ipv6_large_network(api, operator_a, tenant_a):
    net = Network.objects.create(tenant=tenant_a, name="v6", subnet="2001:db8:1::/64")
    IPAddress.objects.create(network=net, address="2001:db8:1::1")
    assert next_ip(api(operator_a), "networks", net, {}).json()["address"] == "2001:db8:1::2"


def test_viewer_previews_but_cannot_allocate(api, viewer_a, net):
    assert next_ip(api(viewer_a), "networks", net).status_code == 200
    r = next_ip(api(viewer_a), "networks", net, {})
    assert r.status_code == 403
    assert not IPAddress.objects.exists()


def test_read_only_key_cannot_allocate(operator_a, net):
    _key, raw = ApiKey.create(operator_a, "ro", scopes=["inventory:read"])
    c = client_for()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert next_ip(c, "networks", net).status_code == 200
    r = next_ip(c, "networks", net, {})
    assert r.status_code == 403 and "inventory:write" in r.json()["detail"]
    assert 'error="insufficient_scope"' in r["WWW-Authenticate"]


def test_services_without_request(operator_a, viewer_a, net):
    principal = Principal(operator_a)
    assert preview_next_ip(principal, net).address == "127.100.0.1"
    row = allocate_next_ip(principal, net, dns_name="svc.example.com")
    assert row.address == "127.100.0.1" and row.network == net
    with pytest.raises(Exception) as exc:
        allocate_next_ip(Principal(viewer_a), net)
    assert exc.value.status_code == 403
    # by id: the target is read by the allocation, as the principal sees it
    assert allocate_next_ip(principal, (Network, net.pk)).address == "127.100.0.2"
    for who, pk, status in ((viewer_a, net.pk, 403), (operator_a, net.pk + 1000, 404), (operator_a, "x", 404)):
        with pytest.raises(Exception) as exc:
            allocate_next_ip(Principal(who), (Network, pk))
        assert exc.value.status_code == status
    assert IPAddress.objects.count() == 2


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["network", "pool"])
def test_allocation_in_the_database_writes_what_the_orm_writes(operator_a, tenant_a, kind):
    """PostgreSQL allocates in one statement, with rows Django and django-auditlog prepared:
    the address row and its audit log entry are those of the ORM path (SQLite's)."""
    from auditlog.models import LogEntry
    from django.forms.models import model_to_dict

    from inventory.auditing import audit_context
    from inventory.services import allocation

    net = Network.objects.create(tenant=tenant_a, name="lan", subnet="2001:db8::/120")
    pool = IPPool.objects.create(network=net, name="p", start_address="2001:db8::10", end_address="2001:db8::20")
    IPAddress.objects.create(network=net, address="2001:db8::10")
    device = Device.objects.create(tenant=tenant_a, name="web1")
    target = (IPPool, pool.pk) if kind == "pool" else (Network, net.pk)
    if kind == "network":
        Network.objects.filter(pk=net.pk).update(alloc_hint=ipam.key("2001:db8::10"))
    written = {}
    for path in ("orm", "database"):
        allocate = getattr(allocation, f"_allocate_{'with_orm' if path == 'orm' else 'in_database'}")
        with audit_context(operator_a, remote_addr="192.0.2.7"):
            row = allocate(Principal(operator_a), target, device=device, dns_name="a.example.com", description="x")
        stored = IPAddress.objects.get(pk=row.pk)
        entry = LogEntry.objects.get(object_id=row.pk, action=LogEntry.Action.CREATE,
                                     content_type__model="ipaddress")
        assert model_to_dict(row) == model_to_dict(stored) and row.created == stored.created
        assert entry.object_pk == str(row.pk) and not row._state.adding
        written[path] = (model_to_dict(stored, exclude=["id"]), entry, stored)
        row.delete()  # the next path takes the same address
    (orm_row, orm_entry, orm), (db_row, db_entry, db) = written["orm"], written["database"]
    assert db_row == orm_row and db_row["address"] == "2001:db8::11" and db_row["pool"] == pool.pk
    assert db.address_key == orm.address_key == ipam.key("2001:db8::11")

    def comparable(entry, row):
        changes = dict(entry.changes)
        assert changes.pop("id") == ["None", str(row.pk)]
        for stamp in ("created", "updated"):
            assert changes.pop(stamp)[1] == row.__dict__[stamp].replace(tzinfo=None).isoformat(" ")
        return (changes, entry.object_repr, entry.actor_id, str(entry.remote_addr), entry.cid,
                entry.additional_data, entry.content_type_id, entry.serialized_data, entry.changes_text)

    assert comparable(db_entry, db) == comparable(orm_entry, orm)
    assert db_entry.changes["address"] == ["None", "2001:db8::11"] and db_entry.actor == operator_a


@pytest.mark.parametrize("path", ["orm", "database"])
def test_allocation_raises_the_hint_once_it_lags(operator_a, net, path):
    from inventory.services import allocation

    if path == "database" and connection.vendor != "postgresql":
        pytest.skip("the database path is PostgreSQL's")
    allocate = getattr(allocation, f"_allocate_{'with_orm' if path == 'orm' else 'in_database'}")

    def take():
        row = allocate(Principal(operator_a), (Network, net.pk), device=None, dns_name="", description="")
        net.refresh_from_db()
        return row.address, net.alloc_hint

    assert take() == ("127.100.0.1", ipam.key("127.100.0.2"))  # no hint yet: every address below is used
    for n in range(2, 2 + HINT_SLACK - 1):
        assert take() == (f"127.100.0.{n}", ipam.key("127.100.0.2"))  # lags by fewer than HINT_SLACK
    assert take() == (f"127.100.0.{1 + HINT_SLACK}", ipam.key(f"127.100.0.{2 + HINT_SLACK}"))


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
def test_the_search_starts_from_the_hint_in_the_database_not_the_one_read(operator_a, net):
    """The target is known from an earlier read (its hint .100), then a deletion lowers the hint
    to .50: the function reads the hint under the network's lock, and the freed address is taken."""
    from inventory.services import allocation

    IPAddress.objects.bulk_create([IPAddress(tenant=net.tenant, network=net, address=f"127.100.0.{n}",
                                             address_key=ipam.key(f"127.100.0.{n}")) for n in range(1, 201)])
    Network.objects.filter(pk=net.pk).update(alloc_hint=ipam.key("127.100.0.100"))
    allocation._known[(Network, net.pk)] = Network.objects.get(pk=net.pk)
    IPAddress.objects.get(address="127.100.0.50").delete()  # lowers the hint to .50
    assert allocate_next_ip(Principal(operator_a), (Network, net.pk)).address == "127.100.0.50"
    assert allocate_next_ip(Principal(operator_a), (Network, net.pk)).address == "127.100.0.201"
    net.refresh_from_db()
    assert net.alloc_hint == ipam.key("127.100.0.202")  # .201 was found from .50: lagging by 152, raised


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
def test_a_known_target_is_not_read_again(operator_a, net):
    """An allocation remembers the target it read: the next ones run the allocation function alone."""
    from django.test.utils import CaptureQueriesContext

    principal = Principal(operator_a)
    allocate_next_ip(principal, (Network, net.pk))
    with CaptureQueriesContext(connection) as queries:
        assert allocate_next_ip(principal, (Network, net.pk)).address == "127.100.0.2"
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1 and "inventory_allocate_address" in statements[0]


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
@pytest.mark.parametrize("who, status", [("viewer", 403), ("read-only key", 403), ("other tenant", 404)])
def test_rights_are_checked_on_a_known_target(operator_a, viewer_a, operator_b, net, who, status):
    """The target an operator's allocation left known is no shortcut for anyone else: 403 or 404,
    as when it is read, and nothing written."""
    allocate_next_ip(Principal(operator_a), (Network, net.pk))
    principal = {"viewer": Principal(viewer_a), "other tenant": Principal(operator_b),
                 "read-only key": Principal(operator_a, scopes=["inventory:read"], via="api_key")}[who]
    with pytest.raises(Exception) as exc:
        allocate_next_ip(principal, (Network, net.pk))
    assert exc.value.status_code == status
    assert IPAddress.objects.count() == 1


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
def test_a_known_target_moved_to_another_tenant_is_read_again(operator_a, tenant_b, net):
    """The function checks the tenant the target was known with: a network moved to another tenant
    (an update that sends no signal) is read again, and then not visible to tenant A: 404."""
    from rest_framework.exceptions import NotFound

    from inventory.services import allocation

    allocate_next_ip(Principal(operator_a), (Network, net.pk))
    Network.objects.filter(pk=net.pk).update(tenant=tenant_b)
    with pytest.raises(NotFound):
        allocate_next_ip(Principal(operator_a), (Network, net.pk))
    assert IPAddress.objects.count() == 1
    assert (Network, net.pk) not in allocation._known  # not visible: forgotten, not read again


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
def test_a_full_known_target_is_named_as_it_is_now(operator_a, tenant_a):
    small = Network.objects.create(tenant=tenant_a, name="small", subnet="127.100.0.0/30")  # .1 and .2
    for _n in range(2):
        allocate_next_ip(Principal(operator_a), (Network, small.pk))
    Network.objects.filter(pk=small.pk).update(name="renamed")
    with pytest.raises(Conflict) as exc:
        allocate_next_ip(Principal(operator_a), (Network, small.pk))
    assert "renamed" in str(exc.value.detail)


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
def test_a_hint_above_a_free_address_does_not_make_the_target_full(operator_a, tenant_a):
    """An address deleted without Django's signals (raw SQL) leaves the hint above it: the search
    from the hint finds nothing, the one from the range's start finds the freed address (no 409)."""
    small = Network.objects.create(tenant=tenant_a, name="small", subnet="127.100.0.0/29")  # .1 to .6
    for _n in range(1, 7):
        allocate_next_ip(Principal(operator_a), small)
    Network.objects.filter(pk=small.pk).update(alloc_hint=ipam.key("127.100.0.6"))
    IPAddress.objects.filter(address="127.100.0.3")._raw_delete(connection.alias)  # no signal: the hint stays
    assert allocate_next_ip(Principal(operator_a), small).address == "127.100.0.3"
    with pytest.raises(Conflict):  # full now
        allocate_next_ip(Principal(operator_a), small)


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
@pytest.mark.parametrize("change", ["subnet", "pool range", "deleted"])
def test_a_target_changed_after_it_was_read_is_read_again(operator_a, net, monkeypatch, change):
    """The database path reads the target without a lock: when the network's or pool's range
    changed (or it went) before the function locked it, nothing is written and it reads again."""
    from rest_framework.exceptions import NotFound

    from inventory.services import allocation

    if change == "pool range":
        pool = IPPool.objects.create(network=net, name="p", start_address="127.100.0.10", end_address="127.100.0.20")
        target = stale = IPPool.objects.select_related("network").get(pk=pool.pk)
    else:
        target = stale = Network.objects.get(pk=net.pk)
    if change == "subnet":
        net.subnet = "127.100.1.0/24"
        net.save()
    elif change == "pool range":
        pool.start_address, pool.end_address = "127.100.0.30", "127.100.0.40"
        pool.save()
    else:
        net.delete()
    reads = []
    real_get_for = allocation.get_for
    monkeypatch.setattr(allocation, "get_for", lambda *args, **kwargs: reads.append(1) and None or (
        stale if len(reads) == 1 else real_get_for(*args, **kwargs)))
    if change == "deleted":
        with pytest.raises(NotFound):
            allocation._allocate_in_database(Principal(operator_a), target, device=None, dns_name="", description="")
        assert not IPAddress.objects.exists()
        return
    row = allocation._allocate_in_database(Principal(operator_a), target, device=None, dns_name="", description="")
    assert len(reads) == 2 and row.address == ("127.100.1.1" if change == "subnet" else "127.100.0.30")
    assert IPAddress.objects.count() == 1


def _run_parallel(n, target, principal_user):
    results, errors = [], []
    barrier = threading.Barrier(n)

    def work():
        try:
            barrier.wait(10)
            results.append(allocate_next_ip(Principal(principal_user), target).address)
        except Conflict as exc:
            errors.append(exc)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_allocations_get_distinct_addresses(tenant_a, make_user):
    user = make_user("op", {tenant_a: "operator"})
    net = Network.objects.create(tenant=tenant_a, name="big", subnet="127.108.0.0/16")
    results, errors = _run_parallel(32, net, user)
    assert errors == [] and len(results) == 32 and len(set(results)) == 32
    assert IPAddress.objects.filter(network=net).count() == 32


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_exhaustion_gives_conflicts_never_duplicates(tenant_a, make_user):
    user = make_user("op", {tenant_a: "operator"})
    net = Network.objects.create(tenant=tenant_a, name="small", subnet="127.109.0.0/24")
    pool = IPPool.objects.create(network=net, name="tiny", start_address="127.109.0.10", end_address="127.109.0.19")
    results, errors = _run_parallel(32, pool, user)
    assert sorted(results) == sorted(f"127.109.0.{i}" for i in range(10, 20))
    assert len(errors) == 22 and all(isinstance(e, Conflict) and e.status_code == 409 for e in errors)
    assert IPAddress.objects.filter(network=net).count() == 10


@pytest.mark.parametrize("migration_name, creates", [
    ("0006_allocate_address_from_sql_file", ["CREATE OR REPLACE FUNCTION"] * 3),
    ("0010_allocate_address_returns_names", ["CREATE OR REPLACE FUNCTION"] * 2 + ["DROP FUNCTION", "CREATE FUNCTION"]),
])
def test_the_allocation_function_comes_from_its_sql_file_with_the_log_entry_models_table(migration_name, creates):
    """Migrations 0006 and 0010 read inventory/sql/allocate_address.v3.sql and .v4.sql and fill in
    the table of django-auditlog's log entry model (get_logentry_model()), nothing hard-coded."""
    import importlib

    from auditlog import get_logentry_model
    from django.db import connection

    migration = importlib.import_module(f"inventory.migrations.{migration_name}")
    statements = migration.statements(connection.schema_editor())  # it only quotes the table's name
    table = connection.ops.quote_name(get_logentry_model()._meta.db_table)
    assert len(statements) == len(creates)
    assert all(want in s for want, s in zip(creates, statements))
    allocate = statements[-1]
    assert "{logentry}" not in allocate and allocate.count(table) == 4
    assert f"INSERT INTO {table} SELECT" in allocate and f"NULL::{table}," in allocate


def _installed_allocation_function():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc, pg_get_function_result(oid) FROM pg_proc WHERE proname = 'inventory_allocate_address'")
        return cursor.fetchall()


@pytest.mark.postgres
def test_the_installed_allocation_function_is_the_latest_sql_files():
    """Migration 0010 installs version 4 (allocate_address.v4.sql), which also returns the names."""
    import importlib

    from django.db import connection

    migration = importlib.import_module("inventory.migrations.0010_allocate_address_returns_names")
    allocate = migration.statements(connection.schema_editor())[-1]
    [(installed, result)] = _installed_allocation_function()
    assert installed.strip() == allocate.split("$$")[1].strip()
    assert result.endswith("tenant_name text, network_name text, pool_name text, pool_start text, pool_end text)")


@pytest.mark.postgres
def test_the_allocation_functions_migration_goes_back_to_version_3():
    """Backwards, migration 0010 drops version 4 and installs 0006's version 3 (its result has
    other columns, so it cannot simply be replaced); forwards again gives version 4. DDL is
    transactional in PostgreSQL: the test's transaction undoes all of it."""
    import importlib

    from django.db import connection

    v3 = importlib.import_module("inventory.migrations.0006_allocate_address_from_sql_file")
    v4 = importlib.import_module("inventory.migrations.0010_allocate_address_returns_names")
    with connection.schema_editor(atomic=False) as editor:
        v4._backwards(None, editor)
        [(installed, result)] = _installed_allocation_function()
        assert installed.strip() == v3.statements(editor)[-1].split("$$")[1].strip()
        assert result == "TABLE(new_id bigint, new_address text, new_key text, new_pool bigint)"
        v4.Migration.operations[0].code(None, editor)
        [(installed, _result)] = _installed_allocation_function()
        assert installed.strip() == v4.statements(editor)[-1].split("$$")[1].strip()


@pytest.mark.fast_paths("allocation_function")
@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["networks", "pools"])
def test_an_allocations_references_are_read_by_its_own_statement(operator_a, tenant_a, net, kind):
    """The response names the tenant, network and pool as they are now (renamed since the target
    was remembered), read by the allocation statement itself: no query after it."""
    from inventory.models import Tenant

    pool = IPPool.objects.create(network=net, name="dhcp", start_address="127.100.0.1", end_address="127.100.0.9")
    target = net if kind == "networks" else pool  # the network's first free address is in the pool
    client = client_for(operator_a)
    assert next_ip(client, kind, target, {}).status_code == 201  # the target is remembered
    Tenant.objects.filter(pk=tenant_a.pk).update(name="Tenant A renamed")
    Network.objects.filter(pk=net.pk).update(name="lan renamed")
    IPPool.objects.filter(pk=pool.pk).update(name="dhcp renamed")
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        resp = next_ip(client, kind, target, {})
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["address"] == "127.100.0.2"
    assert (body["tenant"]["name"], body["network"]["name"], body["pool"]["name"]) == (
        "Tenant A renamed", "lan renamed", "dhcp renamed")
    assert body["pool"]["display"] == "dhcp renamed (127.100.0.1-127.100.0.9)"
    assert body["network"]["display"] == "lan renamed (127.100.0.0/24)"
    after = statements[[i for i, sql in enumerate(statements) if "inventory_allocate_address" in sql][0] + 1:]
    assert [sql for sql in after if "SAVEPOINT" not in sql] == []
