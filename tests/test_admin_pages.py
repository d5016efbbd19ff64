"""Admin pages: constant query counts by role at two data sizes, search through the search
service, utilisation, the paginated network page, global search, chrome."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Datacenter, Device, DeviceRelationship, IPAddress, IPPool, Network, Tag, Tenant

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15


def grow(tenant, start, count):
    """``count`` more devices, each with an address, a tag and a relationship, in one datacenter."""
    dc, _ = Datacenter.objects.get_or_create(tenant=tenant, name=f"dc-{tenant.pk}")
    net = Network.objects.filter(tenant=tenant).first() or Network.objects.create(
        tenant=tenant, name=f"net-{tenant.pk}", subnet=f"127.{tenant.pk % 200}.0.0/16", datacenter=dc)
    if not net.pools.exists():
        IPPool.objects.create(network=net, name="pool", start_address=f"127.{tenant.pk % 200}.1.1",
                              end_address=f"127.{tenant.pk % 200}.1.250")
    tag, _ = Tag.objects.get_or_create(tenant=tenant, name="prod")
    previous = None
    for i in range(start, start + count):
        d = Device.objects.create(tenant=tenant, name=f"web-{i:04}", datacenter=dc, domains=[f"web{i}.example"],
                                  facts={"cpu": i})
        d.tags.add(tag)
        IPAddress.objects.create(network=net, address=f"127.{tenant.pk % 200}.{1 + i // 250}.{1 + i % 250}", device=d)
        if previous is not None:
            DeviceRelationship.objects.create(parent=previous, child=d, type="connected_to")
        previous = d
    return net, dc


def pages(tenant):
    dev = Device.objects.filter(tenant=tenant).order_by("pk").first()
    net = Network.objects.filter(tenant=tenant).first()
    dc = Datacenter.objects.filter(tenant=tenant).first()
    return [
        "/admin/",
        "/admin/inventory/device/",
        "/admin/inventory/device/?q=web-0001",
        "/admin/inventory/device/?tags__name=prod",
        "/admin/inventory/device/?status__exact=planned",
        f"/admin/inventory/device/{dev.pk}/change/",
        f"/admin/inventory/device/{dev.pk}/history/",
        "/admin/inventory/network/",
        f"/admin/inventory/network/{net.pk}/change/",
        "/admin/inventory/ipaddress/",
        "/admin/inventory/ipaddress/?q=127.1.1.2",
        "/admin/inventory/ippool/",
        "/admin/inventory/datacenter/",
        f"/admin/inventory/datacenter/{dc.pk}/change/",
        "/admin/inventory/tenant/",
        "/admin/inventory/tag/",
        "/admin/search/?q=web-0001",
        "/admin/search/?q=127.1.1.2",
    ]


@pytest.fixture
def sites(make_user, superuser):
    a = Tenant.objects.create(pk=1, name="Acme")
    b = Tenant.objects.create(pk=2, name="Beta")
    operator = make_user("op", {a: "operator"})
    return {"a": a, "b": b, "operator": operator, "superuser": superuser}


@pytest.mark.parametrize("role", ["operator", "superuser"])
def test_queries_do_not_grow_with_rows(client, sites, role):
    client.force_login(sites[role])
    grow(sites["b"], 0, 3)
    grow(sites["a"], 0, 3)

    def counts():
        out = {}
        for path in pages(sites["a"]):
            client.get(path)  # warm the shared caches (counts, credentials)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            out[path] = len(ctx.captured_queries)
        return out

    few = counts()
    grow(sites["a"], 3, 30)
    grow(sites["b"], 3, 10)
    many = counts()
    assert many == few, {p: (few[p], many[p]) for p in few if few[p] != many[p]}
    over = {p: n for p, n in many.items() if n > MAX_QUERIES}
    assert not over, over


def test_device_search_uses_the_search_service(client, sites):
    grow(sites["a"], 0, 12)
    client.force_login(sites["operator"])
    found = client.get("/admin/inventory/device/", {"q": "127.1.1.2"}).context["cl"].result_list
    assert [d.name for d in found] == ["web-0001"]  # the holder of exactly that address, not 127.1.1.2x
    found = client.get("/admin/inventory/device/", {"q": "web3.example"}).context["cl"].result_list
    assert [d.name for d in found] == ["web-0003"]  # domains are searched
    assert client.get("/admin/inventory/device/", {"tags__name": "prod"}).status_code == 200


def test_network_page_is_paginated_with_utilisation(client, sites):
    net, _ = grow(sites["a"], 0, 120)
    client.force_login(sites["operator"])
    page = client.get(f"/admin/inventory/network/{net.pk}/change/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Page 1 of 3 (120 addresses)" in body and "127.1.1.1" in body and "127.1.1.60" not in body
    assert "65534 usable addresses, 120 recorded, 65414 free" in body
    second = client.get(f"/admin/inventory/network/{net.pk}/change/", {"addresses": 3}).content.decode()
    assert "Page 3 of 3" in second and "127.1.1.120" in second
    listing = client.get("/admin/inventory/network/").content.decode()
    assert "utilisation" in listing and "65414" in listing
    pools = client.get("/admin/inventory/ippool/").content.decode()
    assert 'title="120 of 250 used, 130 free"' in pools


def test_global_search_groups_results_of_the_callers_tenants_only(client, sites):
    grow(sites["a"], 0, 3)
    grow(sites["b"], 0, 3)
    client.force_login(sites["operator"])
    body = client.get("/admin/search/", {"q": "127.1.1.2"}).content.decode()
    assert "search-devices" in body and "web-0001" in body and "search-ip-addresses" in body
    assert "Beta" not in body and "127.2." not in body
    words = client.get("/admin/search/", {"q": "web-0002"}).content.decode()
    assert "web-0002" in words and "Beta" not in words
    assert 'id="global-search"' in client.get("/admin/inventory/device/").content.decode()


def test_chrome_on_every_page(client, sites):
    client.force_login(sites["operator"])
    for path in ("/admin/", "/admin/inventory/device/", "/oauth-clients/"):
        body = client.get(path).content.decode()
        assert 'rel="icon"' in body and 'id="mcp-topbar"' in body, path
        assert "Log out" in body and "View site" not in body, path


def test_history_lists_real_fields_only(client, sites):
    grow(sites["a"], 0, 2)
    client.force_login(sites["operator"])
    device = Device.objects.filter(tenant=sites["a"]).order_by("pk").first()
    net = Network.objects.filter(tenant=sites["a"]).first()
    for path in (f"/admin/inventory/device/{device.pk}/history/", f"/admin/inventory/network/{net.pk}/history/"):
        body = client.get(path).content.decode()
        assert "web-0000" in body or "net-" in body
        assert ".None" not in body and "inventory.IPAddress" not in body, path


def _sidebar(body: str) -> str:
    import re

    return " ".join(re.search(r'<nav class="sticky" id="nav-sidebar".*?</nav>', body, re.S).group(0).split())


def test_sidebar_from_the_cache_is_the_callers_own(client, sites, monkeypatch):
    """The sidebar's model list comes from the cache, per digest of what it shows: the same HTML as a
    fresh render, never another caller's (a superuser's auth models), the current page marked."""
    from inventory import admin_site

    client.force_login(sites["superuser"])
    root = _sidebar(client.get("/admin/inventory/device/").content.decode())
    client.force_login(sites["operator"])
    cached = _sidebar(client.get("/admin/inventory/device/").content.decode())
    again = _sidebar(client.get("/admin/inventory/device/").content.decode())
    assert "/admin/auth/user/" in root and "/admin/auth/user/" not in cached and again == cached
    assert 'class="model-device current-model"' in cached
    network = _sidebar(client.get("/admin/inventory/network/").content.decode())
    assert 'class="model-network current-model"' in network and 'class="model-device current-model"' not in network
    monkeypatch.setattr(admin_site, "nav_sidebar_key", lambda request, apps: "")  # no key: rendered each time
    assert _sidebar(client.get("/admin/inventory/device/").content.decode()) == cached
    client.force_login(sites["superuser"])
    assert _sidebar(client.get("/admin/inventory/device/").content.decode()) == root
