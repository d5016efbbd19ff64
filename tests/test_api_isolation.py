"""Tenant isolation over the API: for every kind, a user of tenant A and an API key scoped
to A cannot read, list, search, update or delete tenant B's objects, nor attach to them."""

import pytest

from oauth.models import ApiKey
from tests.test_api_support import client_for

pytestmark = pytest.mark.django_db

KINDS = {
    # path: (world key, patch body)
    "tenants": ("tenant", {"description": "hacked"}),
    "memberships": ("membership", {"role": "viewer"}),
    "datacenters": ("datacenter", {"description": "hacked"}),
    "networks": ("network", {"description": "hacked"}),
    "pools": ("pool", {"description": "hacked"}),
    "ip-addresses": ("ipaddress", {"dns_name": "hacked.example.com"}),
    "devices": ("device", {"description": "hacked"}),
    "relationships": ("relationship", {"type": "depends_on"}),
}


def attach_bodies(w):
    a, b = w["a"], w["b"]
    return [
        ("datacenters", {"name": "x", "tenant": b["tenant"].pk}, "tenant"),
        ("networks", {"name": "x", "subnet": "127.101.0.0/24", "datacenter": b["datacenter"].pk}, "datacenter"),
        ("pools", {"network": b["network"].pk, "name": "x", "start_address": "127.100.0.10", "end_address": "127.100.0.20"}, "network"),
        ("ip-addresses", {"address": "127.100.0.77", "network": b["network"].pk}, "network"),
        ("ip-addresses", {"address": "127.100.0.77", "network": a["network"].pk, "device": b["device"].pk}, "device"),
        ("ip-addresses", {"address": "127.100.0.150", "pool": b["pool"].pk}, "pool"),
        ("devices", {"name": "x", "datacenter": b["datacenter"].pk}, "datacenter"),
        ("devices", {"name": "x", "tenant": b["tenant"].pk}, "tenant"),
        ("relationships", {"parent": a["device"].pk, "child": b["device"].pk, "type": "depends_on"}, "child"),
        ("relationships", {"parent": b["device"].pk, "child": a["device"].pk, "type": "depends_on"}, "parent"),
        ("memberships", {"tenant": b["tenant"].pk, "user": "admin_a", "role": "admin"}, "tenant"),
    ]


@pytest.fixture(params=["user", "key"])
def client_a(request, make_user, world):
    """An admin of A: a session user who is only in A, or an all-scope key narrowed to A
    for a user who is admin in A and B."""
    make_user("admin_b_only", {world["b"]["tenant"]: "admin"})
    admin_a = make_user("admin_a", {world["a"]["tenant"]: "admin"})
    for side in ("a", "b"):
        world[side]["membership"] = world[side]["tenant"].memberships.first()
    if request.param == "user":
        return client_for(admin_a)
    both = make_user("both", {world["a"]["tenant"]: "admin", world["b"]["tenant"]: "admin"})
    _key, raw = ApiKey.create(both, "script", tenant=world["a"]["tenant"])
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize("path", KINDS)
def test_cannot_read_list_update_delete_other_tenant(client_a, world, path):
    key, patch = KINDS[path]
    mine, theirs = world["a"][key], world["b"][key]
    listed = {o["id"] for o in client_a.get(f"/api/{path}/?limit=1000").json()["results"]}
    assert mine.pk in listed and theirs.pk not in listed
    assert client_a.get(f"/api/{path}/{mine.pk}/").status_code == 200
    assert client_a.get(f"/api/{path}/{theirs.pk}/").status_code == 404
    assert client_a.patch(f"/api/{path}/{theirs.pk}/", patch, format="json").status_code == 404
    assert client_a.put(f"/api/{path}/{theirs.pk}/", patch, format="json").status_code == 404
    assert client_a.delete(f"/api/{path}/{theirs.pk}/").status_code == 404
    before = {f: getattr(theirs, f) for f in patch}
    theirs.refresh_from_db()
    assert {f: getattr(theirs, f) for f in patch} == before


@pytest.mark.parametrize("index", range(11))
def test_cannot_attach_to_other_tenant_objects(client_a, world, index):
    path, body, field = attach_bodies(world)[index]
    model = type(world["a"][KINDS[path][0]])
    count = model.objects.count()
    r = client_a.post(f"/api/{path}/", body, format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json()
    assert model.objects.count() == count


def test_cannot_search_or_allocate_in_other_tenant(client_a, world):
    found = client_a.get("/api/search/?q=dev").json()
    assert {d["name"] for d in found["devices"]} == {"dev-a", "dev2-a"}
    found = client_a.get("/api/search/?q=127.100.0.5").json()
    assert [d["name"] for d in found["devices"]] == ["dev-a"]
    assert [n["name"] for n in found["networks"]] == ["net-a"]
    assert client_a.get("/api/search/?q=dc-b").json()["datacenters"] == []
    assert client_a.get(f"/api/networks/{world['b']['network'].pk}/next-ip/").status_code == 404
    assert client_a.post(f"/api/pools/{world['b']['pool'].pk}/next-ip/").status_code == 404
    r = client_a.post(f"/api/networks/{world['a']['network'].pk}/next-ip/", {"device": world["b"]["device"].pk}, format="json")
    assert r.status_code == 400 and "device" in r.json()
    # another tenant in a filter is "not visible", whichever spelling (as for ids in bodies)
    b = world["b"]["tenant"]
    for query in (f"tenant={b.pk}", f"tenant_id={b.pk}", f"tenant={b.slug}", f"tenant={b.name}"):
        r = client_a.get(f"/api/devices/?{query}")
        assert r.status_code == 400 and "not visible to you" in r.json()[query.split("=")[0]][0], query


def filter_spellings(w):
    b = w["b"]
    return [
        ("devices", "tenant", b["tenant"].slug), ("devices", "tenant_id", b["tenant"].pk),
        ("devices", "datacenter", b["datacenter"].name), ("devices", "datacenter_id", b["datacenter"].pk),
        ("networks", "datacenter", b["datacenter"].name), ("datacenters", "tenant", b["tenant"].name),
        ("pools", "network", b["network"].name), ("pools", "network_id", b["network"].pk),
        ("ip-addresses", "network", b["network"].name), ("ip-addresses", "pool", b["pool"].name),
        ("ip-addresses", "device", b["device"].name), ("ip-addresses", "device_id", b["device"].pk),
        ("relationships", "parent", b["device"].name), ("relationships", "child_id", b["device2"].pk),
        ("relationships", "device", b["device"].name), ("memberships", "tenant_id", b["tenant"].pk),
    ]


@pytest.mark.parametrize("index", range(16))
def test_filters_never_name_other_tenants_objects(client_a, world, index):
    """Every filter spelling answers "not visible" for B's objects, as for ones that do not exist."""
    path, param, value = filter_spellings(world)[index]
    r = client_a.get(f"/api/{path}/", {param: value})
    assert r.status_code == 400, r.content
    assert "not visible to you" in r.json()[param][0]
    # A's own object of the same name is found: only A's rows
    if isinstance(value, str) and value.endswith("-b"):
        r = client_a.get(f"/api/{path}/", {param: value[:-1] + "a"})
        assert r.status_code == 200
        assert {row["tenant"]["id"] for row in r.json()["results"]} <= {world["a"]["tenant"].pk}
