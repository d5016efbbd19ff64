"""The admin device changelist issues a constant number of queries as rows grow."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Datacenter, Device, IPAddress, Network, Tag

pytestmark = pytest.mark.django_db


def add_devices(tenant, start, count, dc, net, tag):
    for i in range(start, start + count):
        d = Device.objects.create(tenant=tenant, name=f"dev{i:03}", datacenter=dc)
        d.tags.add(tag)
        IPAddress.objects.create(network=net, address=f"127.100.{i // 200}.{i % 200 + 1}", device=d)


@pytest.mark.parametrize("path", ["/admin/inventory/device/", "/admin/inventory/network/",
                                  "/admin/inventory/ipaddress/", "/admin/inventory/tenant/"])
def test_changelist_queries_do_not_grow_with_rows(client, operator_a, tenant_a, path):
    dc = Datacenter.objects.create(tenant=tenant_a, name="dc")
    net = Network.objects.create(tenant=tenant_a, name="n", subnet="127.100.0.0/16", datacenter=dc)
    tag = Tag.objects.create(tenant=tenant_a, name="t")
    client.force_login(operator_a)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    add_devices(tenant_a, 0, 3, dc, net, tag)
    few = count()
    add_devices(tenant_a, 3, 40, dc, net, tag)
    many = count()
    assert many == few, f"{path}: {few} queries with 3 rows, {many} with 43"


def test_a_filtered_changelist_counts_up_to_the_cap_and_says_more_than(client, operator_a, tenant_a, monkeypatch):
    from inventory.admin import base

    tag = Tag.objects.create(tenant=tenant_a, name="prod")
    for i in range(7):
        Device.objects.create(tenant=tenant_a, name=f"p{i}").tags.add(tag)
    Device.objects.create(tenant=tenant_a, name="other")
    client.force_login(operator_a)
    monkeypatch.setattr(base, "FILTERED_COUNT_CAP", 5)
    page = client.get("/admin/inventory/device/?tags__id__exact=%d" % tag.pk).content.decode()
    assert 'id="count-capped"' in page and "more than 5 devices" in page
    monkeypatch.setattr(base, "FILTERED_COUNT_CAP", 7)  # exactly the cap: an exact count
    page = client.get("/admin/inventory/device/?tags__id__exact=%d" % tag.pk).content.decode()
    assert 'id="count-capped"' not in page and "7 devices" in page
    page = client.get("/admin/inventory/device/").content.decode()  # unfiltered: the cached exact count
    assert 'id="count-capped"' not in page and "8 devices" in page


class _Counting(dict):
    """ROLE_FOR_ACTION, counting how often a principal works out the tenants of an action."""

    calls = 0

    def __getitem__(self, key):
        type(self).calls += 1
        return super().__getitem__(key)


@pytest.mark.parametrize("path", ["/admin/", "/admin/inventory/device/", "/admin/inventory/ipaddress/"])
def test_rights_are_worked_out_once_per_request_not_per_row(client, operator_a, tenant_a, monkeypatch, path):
    """The memberships are read once per request (Principal.roles) and the tenants of each
    action worked out once (Principal.tenant_ids_for), however many rows and permission checks
    the page has."""
    from inventory import tenancy

    dc = Datacenter.objects.create(tenant=tenant_a, name="dc")
    net = Network.objects.create(tenant=tenant_a, name="n", subnet="127.100.0.0/16", datacenter=dc)
    add_devices(tenant_a, 0, 30, dc, net, Tag.objects.create(tenant=tenant_a, name="t"))
    client.force_login(operator_a)
    client.get(path)  # warm: caches
    monkeypatch.setattr(tenancy, "ROLE_FOR_ACTION", _Counting(tenancy.ROLE_FOR_ACTION))
    _Counting.calls = 0
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    memberships = [q["sql"] for q in ctx.captured_queries if "inventory_membership" in q["sql"]]
    assert len(memberships) <= 1, memberships
    assert _Counting.calls <= len(tenancy.Action), f"{path}: tenants of an action worked out {_Counting.calls} times"
