"""Pictures in the admin (inventory/admin/pictures.py): a device's relationship graph and a
datacenter's racks, server-side SVG with links; only what the caller may view; a bounded number of
queries, by role, at two data sizes."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.admin import pictures
from inventory.models import Datacenter, Device, DeviceRelationship, Rack, Tenant
from inventory.tenancy import Principal

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15


def chain(tenant, prefix, n, dc=None):
    """``n`` devices, each related to the next (contains, connected_to, depends_on in turn)."""
    devices = [Device.objects.create(tenant=tenant, name=f"{prefix}-{i}", datacenter=dc) for i in range(n)]
    types = ["contains", "connected_to", "depends_on"]
    for i in range(n - 1):
        DeviceRelationship.objects.create(parent=devices[i], child=devices[i + 1], type=types[i % 3])
    return devices


@pytest.fixture
def sites(make_user, superuser):
    a, b = Tenant.objects.create(name="Acme"), Tenant.objects.create(name="Beta")
    return {"a": a, "b": b, "superuser": superuser,
            "operator": make_user("op", {a: "operator"}), "viewer": make_user("viewer", {a: "viewer"})}


def linked_devices(body: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'class="graph-link" data-device="(\d+)"', body)}


def test_device_graph_links_related_devices_within_hops(client, sites):
    a = chain(sites["a"], "web", 6)
    chain(sites["b"], "secret", 4)
    client.force_login(sites["viewer"])
    body = client.get(f"/admin/inventory/device/{a[2].pk}/change/").content.decode()
    assert 'id="device-graph"' in body and "<svg" in body
    assert linked_devices(body) == {a[0].pk, a[1].pk, a[2].pk, a[3].pk, a[4].pk}  # two hops each way
    assert f'href="/admin/inventory/device/{a[0].pk}/change/"' in body
    assert {m for m in re.findall(r'class="graph-edge" data-type="(\w+)"', body)} == {
        "contains", "connected_to", "depends_on"}
    assert "secret-" not in body and "Beta" not in body
    three = client.get(f"/admin/inventory/device/{a[2].pk}/change/", {"graph_hops": 3}).content.decode()
    assert linked_devices(three) == {d.pk for d in a}
    # nonsense is the default, too many hops the maximum
    assert client.get(f"/admin/inventory/device/{a[2].pk}/change/", {"graph_hops": "x"}).status_code == 200
    lonely = Device.objects.create(tenant=sites["a"], name="lonely")
    assert 'id="device-graph-empty"' in client.get(f"/admin/inventory/device/{lonely.pk}/change/").content.decode()


def test_graph_shows_only_what_the_caller_may_view(client, sites):
    b = chain(sites["b"], "secret", 3)
    client.force_login(sites["operator"])
    assert client.get(f"/admin/inventory/device/{b[1].pk}/change/").status_code == 404
    nodes, edges, total = pictures.graph_data(Principal(sites["operator"]), b[1], 3)
    assert (nodes, edges, total) == ({}, [], 0)
    nodes, edges, total = pictures.graph_data(Principal(sites["superuser"]), b[1], 3)
    assert set(nodes) == {d.pk for d in b} and len(edges) == 2


def test_graph_is_capped_nearest_first(client, sites):
    hub = Device.objects.create(tenant=sites["a"], name="switch")
    leaves = [Device.objects.create(tenant=sites["a"], name=f"leaf-{i:03}") for i in range(pictures.MAX_NODES + 10)]
    DeviceRelationship.objects.bulk_create([DeviceRelationship(tenant=sites["a"], parent=hub, child=leaf,
                                                               type="connected_to") for leaf in leaves])
    client.force_login(sites["operator"])
    body = client.get(f"/admin/inventory/device/{hub.pk}/change/").content.decode()
    assert len(linked_devices(body)) == pictures.MAX_NODES
    assert f"Showing the {pictures.MAX_NODES} nearest of {pictures.MAX_NODES + 11} devices." in body


def test_datacenter_overview(client, sites):
    dc = Datacenter.objects.create(tenant=sites["a"], name="dc1")
    r1 = Rack.objects.create(datacenter=dc, name="R01", height_u=42)
    Rack.objects.create(datacenter=dc, name="R02", height_u=10)
    top = Device.objects.create(tenant=sites["a"], name="core-switch", datacenter=dc, rack=r1, rack_position=42)
    low = Device.objects.create(tenant=sites["a"], name="db-1", datacenter=dc, rack=r1, rack_position=1)
    loose = Device.objects.create(tenant=sites["a"], name="spare", datacenter=dc, rack=r1)
    floor = Device.objects.create(tenant=sites["a"], name="laptop", datacenter=dc)
    dc_b = Datacenter.objects.create(tenant=sites["b"], name="dc-b")
    Rack.objects.create(datacenter=dc_b, name="SECRET-RACK")
    client.force_login(sites["viewer"])
    body = client.get(f"/admin/inventory/datacenter/{dc.pk}/change/").content.decode()
    assert 'id="datacenter-overview"' in body and body.count('class="rack"') == 2
    # by position: U42 at the top of the 42U rack (y = 0), U1 at the bottom
    assert re.search(rf'data-device="{top.pk}"><rect x="24" y="1" ', body)
    assert re.search(rf'data-device="{low.pk}"><rect x="24" y="{41 * pictures.UNIT_PX + 1}" ', body)
    assert "Without a position: " in body and f'/admin/inventory/device/{loose.pk}/change/' in body
    unracked = body[body.index('id="datacenter-unracked"'):]
    assert f'data-device="{floor.pk}"' in unracked and "core-switch" not in unracked
    assert "SECRET-RACK" not in body
    assert client.get(f"/admin/inventory/datacenter/{dc_b.pk}/change/").status_code == 404
    empty = Datacenter.objects.create(tenant=sites["a"], name="empty")
    assert 'id="datacenter-no-racks"' in client.get(f"/admin/inventory/datacenter/{empty.pk}/change/").content.decode()


def grow(tenant, start, count):
    """More of everything the two pages show: a chain of related devices, a rack holding some."""
    dc, _ = Datacenter.objects.get_or_create(tenant=tenant, name="dc")
    rack, _ = Rack.objects.get_or_create(datacenter=dc, name=f"R{start}", defaults={"height_u": 42})
    devices = [Device.objects.create(tenant=tenant, name=f"d-{i:04}", datacenter=dc,
                                     rack=rack if i % 2 else None, rack_position=(i % 40) + 1 if i % 2 else None)
               for i in range(start, start + count)]
    first = Device.objects.filter(tenant=tenant).order_by("pk").first()
    for d in devices:
        if d.pk != first.pk:  # a star around the first device and a chain through the new ones
            DeviceRelationship.objects.create(parent=first, child=d, type="connected_to")
    for x, y in zip(devices, devices[1:]):
        DeviceRelationship.objects.create(parent=x, child=y, type="depends_on")
    return dc, first


@pytest.mark.parametrize("role", ["viewer", "operator", "superuser"])
def test_picture_pages_queries_are_bounded(client, sites, role):
    client.force_login(sites[role])
    dc, first = grow(sites["a"], 0, 4)
    grow(sites["b"], 0, 4)

    def counts():
        out = {}
        for path in (f"/admin/inventory/device/{first.pk}/change/", f"/admin/inventory/datacenter/{dc.pk}/change/",
                     f"/admin/inventory/device/{first.pk}/change/?graph_hops=3"):
            client.get(path)  # warm the shared caches
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            assert response.status_code == 200, path
            out[path] = len(ctx.captured_queries)
        return out

    few = counts()
    grow(sites["a"], 4, 36)
    grow(sites["b"], 4, 10)
    many = counts()
    assert many == few, {p: (few[p], many[p]) for p in few if few[p] != many[p]}
    assert all(n <= MAX_QUERIES for n in many.values()), many
