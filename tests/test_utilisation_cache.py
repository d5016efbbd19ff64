"""The address counts of networks and pools (utilisation: used, free, percent) come from the shared
cache, one entry per network and pool (inventory/utilisation.py, inventory/runtime/counting.py):
exact on the next request after every kind of write (allocation, deletion, move, bulk writes,
raw SQL), a write in one network leaves the other networks' entries alone, and with the
``cached_counts`` mechanism off the stock path (a COUNT) gives the same figures. Admin pages of
networks, pools and addresses keep a constant number of queries."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory import ipam, runtime, utilisation
from inventory.models import IPAddress, IPPool, Network
from inventory.runtime.counting import bump_counts
from inventory.services.allocation import allocate_next_ip
from inventory.tenancy import Principal

#: these tests write outside a test transaction (committed writes are what the cache serves)
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fast_paths("cached_counts")]


@pytest.fixture
def world(tenant_a, operator_a):
    """Network ``a`` (127.50.1.0/24, pool .1-.10) inside network ``wide`` (127.50.0.0/16, pool
    127.50.2.1-.10), and ``other`` elsewhere; a few addresses in each."""
    a = Network.objects.create(tenant=tenant_a, name="a", subnet="127.50.1.0/24")
    wide = Network.objects.create(tenant=tenant_a, name="wide", subnet="127.50.0.0/16")
    other = Network.objects.create(tenant=tenant_a, name="other", subnet="127.51.0.0/24")
    pool_a = IPPool.objects.create(network=a, name="pa", start_address="127.50.1.1", end_address="127.50.1.10")
    pool_wide = IPPool.objects.create(network=wide, name="pw", start_address="127.50.2.1", end_address="127.50.2.10")
    for n in (1, 2, 100):
        IPAddress.objects.create(network=a, address=f"127.50.1.{n}")
    IPAddress.objects.create(network=wide, address="127.50.2.1")
    IPAddress.objects.create(network=other, address="127.51.0.1")
    return {"a": a, "wide": wide, "other": other, "pool_a": pool_a, "pool_wide": pool_wide,
            "principal": Principal(operator_a)}


def used(*objs) -> list[int]:
    """What a request would show now: the networks' and pools' used counts (the cache's answer)."""
    return [utilisation.of(type(o).objects.get(pk=o.pk)).used for o in objs]


def truth(*objs) -> list[int]:
    return [IPAddress.objects.filter(**{"pool" if isinstance(o, IPPool) else "network": o}).count() for o in objs]


def queries(fn) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        value = fn()
    return value, [q["sql"] for q in ctx.captured_queries]


def counted(model, pk) -> int:
    """The used count of one network or pool, asserting it was served without counting."""
    value, sql = queries(lambda: utilisation.used_by_id(model, [pk])[pk])
    assert not sql, sql
    return value


def test_figures_are_cached_and_exact_after_allocation_deletion_and_moves(world):
    a, wide, other, pool_a, pool_wide = (world[k] for k in ("a", "wide", "other", "pool_a", "pool_wide"))
    everything = (a, wide, other, pool_a, pool_wide)
    assert used(*everything) == truth(*everything) == [3, 1, 1, 2, 1]
    assert counted(Network, a.pk) == 3 and counted(IPPool, pool_a.pk) == 2  # from the cache now

    # allocation (the database function on PostgreSQL, the ORM path on SQLite)
    row = allocate_next_ip(world["principal"], pool_a)
    assert row.address == "127.50.1.3"
    assert used(*everything) == truth(*everything) == [4, 1, 1, 3, 1]
    allocate_next_ip(world["principal"], (Network, a.pk))
    assert used(a, pool_a) == truth(a, pool_a) == [5, 4]

    # deletion of one address, then of a queryset
    IPAddress.objects.get(address="127.50.1.100").delete()
    assert used(a, pool_a) == truth(a, pool_a) == [4, 4]
    IPAddress.objects.filter(network=a, address__in=["127.50.1.1", "127.50.1.2"]).delete()
    assert used(*everything) == truth(*everything) == [2, 1, 1, 2, 1]

    # a move to another network (and so to another pool): both sides change
    moving = IPAddress.objects.get(address="127.50.1.3")
    moving.network, moving.pool = wide, None
    moving.save()
    assert used(*everything) == truth(*everything) == [1, 2, 1, 1, 1]
    # ... and into a pool of the same network (the address changes: its pool is found again)
    moving.address, moving.pool = "127.50.2.5", None
    moving.save()
    assert used(*everything) == truth(*everything) == [1, 2, 1, 1, 2]
    # a save that moves nothing changes no figure (and needs no rebuild)
    moving.dns_name = "x.example"
    moving.save()
    assert counted(Network, wide.pk) == 2 and counted(IPPool, pool_wide.pk) == 2


def test_bulk_writes_keep_figures_exact(world):
    a, wide, other, pool_a = (world[k] for k in ("a", "wide", "other", "pool_a"))
    assert used(a, wide, other, pool_a) == [3, 1, 1, 2]

    # bulk_create (imports, seeds) sends no signals: the queryset bumps the networks it fills
    IPAddress.objects.bulk_create([
        IPAddress(tenant=a.tenant, network=a, pool=pool_a, address=f"127.50.1.{n}", address_key=ipam.key(f"127.50.1.{n}"))
        for n in range(5, 9)])
    assert used(a, wide, other, pool_a) == truth(a, wide, other, pool_a) == [7, 1, 1, 6]
    assert counted(Network, other.pk) == 1  # untouched: its entry stayed

    # update() of the network or pool: the networks and pools left and joined
    IPAddress.objects.filter(network=a, address_key__gte=ipam.key("127.50.1.5")).update(network=wide, pool=None)
    assert used(a, wide, other, pool_a) == truth(a, wide, other, pool_a) == [2, 6, 1, 2]
    IPAddress.objects.filter(network=wide, pool__isnull=True).update(network_id=a.pk)
    assert used(a, wide) == truth(a, wide) == [7, 1]
    # update() of anything else invalidates nothing
    IPAddress.objects.filter(network=a).update(status="reserved")
    assert counted(Network, a.pk) == 7

    # raw SQL: the writer bumps the addresses' counts (every network's figures are rebuilt)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {IPAddress._meta.db_table} WHERE network_id = %s", [other.pk])
    bump_counts(IPAddress)
    assert used(a, wide, other) == truth(a, wide, other) == [7, 1, 0]


def test_a_write_in_one_network_leaves_the_others_entries(world):
    a, wide, other, pool_a, pool_wide = (world[k] for k in ("a", "wide", "other", "pool_a", "pool_wide"))
    used(a, wide, other, pool_a, pool_wide)  # all cached
    IPAddress.objects.create(network=a, address="127.50.1.7")  # in a and pool_a
    assert counted(Network, wide.pk) == 1 and counted(Network, other.pk) == 1 and counted(IPPool, pool_wide.pk) == 1
    # a's own figures are counted again, once, in one query for the whole page
    found, sql = queries(lambda: utilisation.used_by_id(Network, [a.pk, wide.pk, other.pk]))
    assert found == {a.pk: 4, wide.pk: 1, other.pk: 1} and len(sql) == 1 and "COUNT" in sql[0].upper()


def test_a_transaction_sees_its_own_changes_and_a_rollback_changes_nothing(world):
    a = world["a"]
    assert used(a) == [3]
    with transaction.atomic():
        IPAddress.objects.create(network=a, address="127.50.1.8")
        assert used(a) == [4]  # this connection, before the commit: counted, not the cache
        transaction.set_rollback(True)
    assert counted(Network, a.pk) == 3  # nothing was committed: the entry is still good


def test_stock_path_gives_the_same_figures_with_a_count(world):
    a, pool_a = world["a"], world["pool_a"]
    with runtime.use(cached_counts=False):
        value, sql = queries(lambda: utilisation.of(Network.objects.get(pk=a.pk)))
        assert value.used == 3 and any("COUNT" in s.upper() and "inventory_ipaddress" in s for s in sql)
        _, again = queries(lambda: utilisation.of(Network.objects.get(pk=a.pk)))
        assert len(again) == len(sql)  # counted every time
        rows = utilisation.of_ids(IPPool, [pool_a.pk])
        assert rows[pool_a.pk].used == 2
        stock = {pk: u.as_dict() for pk, u in utilisation.of_ids(Network, [world[k].pk for k in ("a", "wide", "other")]).items()}
    cached = {pk: u.as_dict() for pk, u in utilisation.of_ids(Network, [world[k].pk for k in ("a", "wide", "other")]).items()}
    assert stock == cached


# --- the pages -----------------------------------------------------------------------------------
def grow(net, start, count):
    octets = net.subnet.split(".")[:2]
    IPAddress.objects.bulk_create([
        IPAddress(tenant=net.tenant, network=net, address=f"{octets[0]}.{octets[1]}.3.{n}",
                  address_key=ipam.key(f"{octets[0]}.{octets[1]}.3.{n}")) for n in range(start + 1, start + count + 1)])


@pytest.mark.parametrize("role", ["superuser", "operator_a"])
def test_admin_pages_show_fresh_figures_in_constant_queries(client, request, world, role):
    client.force_login(request.getfixturevalue(role))
    wide = world["wide"]
    pages = ["/admin/inventory/network/", "/admin/inventory/ippool/", "/admin/inventory/ipaddress/",
             f"/admin/inventory/network/{wide.pk}/change/", f"/admin/inventory/ippool/{world['pool_wide'].pk}/change/",
             "/admin/inventory/network/?o=7", "/admin/inventory/network/?o=-7"]  # sorted by "used"

    def measure():
        out = {}
        for path in pages:
            client.get(path)  # warm (credentials, counts)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            assert response.status_code == 200, path
            out[path] = len(ctx.captured_queries)
        return out

    few = measure()
    assert "65534 usable addresses, 1 recorded, 65533 free" in client.get(pages[3]).content.decode()
    grow(wide, 0, 80)
    for i in range(3):
        Network.objects.create(tenant=wide.tenant, name=f"more{i}", subnet=f"127.60.{i}.0/24")
    body = client.get(pages[3]).content.decode()
    assert "65534 usable addresses, 81 recorded, 65453 free" in body and "Page 1 of 2 (81 addresses)" in body
    assert 'title="81 of 65534 used, 65453 free"' in client.get(pages[0]).content.decode()
    many = measure()
    assert many == few and max(many.values()) <= 15, (few, many)
    # sorted by used: the counts are in the query, so the order is right
    names = [n.name for n in client.get("/admin/inventory/network/?o=-7").context["cl"].result_list]
    assert names[0] == "wide" and names[1] == "a"


def test_address_page_rows_read_no_more_than_shown(client, superuser, world):
    """The network page's addresses: the columns shown, no query per row (device, pool)."""
    from inventory.models import Device

    wide = world["wide"]
    device = Device.objects.create(tenant=wide.tenant, name="holder")
    grow(wide, 0, 60)
    IPAddress.objects.filter(network=wide).update(device=device)
    client.force_login(superuser)
    path = f"/admin/inventory/network/{wide.pk}/change/"
    client.get(path)
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(path).content.decode()
    assert len(ctx.captured_queries) <= 15
    assert body.count(f'/admin/inventory/device/{device.pk}/change/">holder</a>') == 50
    assert f'/admin/inventory/ipaddress/{IPAddress.objects.get(address="127.50.2.1").pk}/change/">127.50.2.1</a>' in body


def test_row_checkbox_and_links_are_djangos(world):
    """The list's row checkbox and links, made without templates and with one reverse() per model:
    the HTML Django makes."""
    from django.urls import reverse
    from django.utils.html import format_html

    from inventory.admin.widgets import link

    model_admin = admin.site._registry[IPAddress]
    for obj in (IPAddress.objects.get(address="127.50.2.1"), IPAddress(pk=7, address='<b>"x" & y</b>')):
        assert model_admin.action_checkbox(obj) == admin.ModelAdmin.action_checkbox(model_admin, obj)
        url = reverse("admin:inventory_ipaddress_change", args=[obj.pk])
        assert link(obj) == format_html('<a href="{}">{}</a>', url, obj.address)
    assert link(world["a"]).startswith(f'<a href="/admin/inventory/network/{world["a"].pk}/change/">')
