"""GET /api/search/: names, descriptions, tags, domains, make/model, OS and addresses."""

import pytest

from inventory.models import Datacenter, Device, Network
from inventory.services.search import search
from inventory.tenancy import Principal

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(api, operator_a, world):
    c = api(operator_a)
    for body in (
        {"name": "web-fra-1", "os": "Ubuntu 24.04", "make_model": "Dell R640", "tags": ["frontend"],
         "domains": ["shop.example.com"], "addresses": [{"ip": "127.100.0.50"}]},
        {"name": "db-fra-1", "description": "Primary Postgres", "os": "Debian 13", "tags": ["database"],
         "addresses": [{"ip": "127.100.0.51"}]},
    ):
        assert c.post("/api/devices/", body, format="json").status_code == 201
    Datacenter.objects.create(tenant=world["a"]["tenant"], name="Frankfurt 1", location="FRA")
    return c


def names(result, kind):
    return sorted(x["name"] for x in result[kind])


@pytest.mark.parametrize("q, devices", [
    ("ubuntu", ["web-fra-1"]),
    ("frontend", ["web-fra-1"]),
    ("shop.example", ["web-fra-1"]),
    ("DELL r640", ["dev-a", "web-fra-1"]),
    ("postgres", ["db-fra-1"]),
    ("fra database", ["db-fra-1"]),
    ("127.100.0.51", ["db-fra-1"]),
    ("nothing-like-this", []),
])
def test_search_devices(fleet, q, devices):
    r = fleet.get("/api/search/", {"q": q})
    assert r.status_code == 200
    assert names(r.json(), "devices") == devices


def test_search_ip_finds_holder_and_containing_network(fleet, world):
    Network.objects.create(tenant=world["a"]["tenant"], name="wide", subnet="127.100.0.0/16")
    r = fleet.get("/api/search/?q=127.100.0.50").json()
    assert names(r, "devices") == ["web-fra-1"]
    assert [n["name"] for n in r["networks"]] == ["net-a", "wide"]  # most specific first
    assert names(fleet.get("/api/search/?q=127.0.0.0/8").json(), "networks") == ["net-a", "wide"]


def test_search_networks_and_datacenters_by_text(fleet):
    r = fleet.get("/api/search/?q=fra").json()
    assert names(r, "datacenters") == ["Frankfurt 1"]
    assert names(r, "devices") == ["db-fra-1", "web-fra-1"]
    assert names(fleet.get("/api/search/?q=net-a").json(), "networks") == ["net-a"]


def test_search_hits_load_only_what_they_show(fleet, world, monkeypatch):
    """Hits are read with only() the fields they render: each hit shows what the object's own
    page shows for those fields, and no deferred field is fetched afterwards."""
    from django.db.models import Model

    Network.objects.create(tenant=world["a"]["tenant"], name="fra-net", subnet="127.109.0.0/24", vlan_id=7)
    full = {kind: {row["id"]: row for row in fleet.get(f"/api/{kind}/?limit=100").json()["results"]}
            for kind in ("devices", "networks", "datacenters")}

    def deferred_load(instance, *args, **kwargs):
        raise AssertionError(f"{type(instance).__name__} loaded a deferred field")

    monkeypatch.setattr(Model, "refresh_from_db", deferred_load)
    r = fleet.get("/api/search/?q=fra").json()
    assert all(r[kind] for kind in full), r
    for kind, hits in r.items():
        for hit in hits:
            assert hit == {k: full[kind][hit["id"]][k] for k in hit}


def test_search_limit_and_bad_queries(fleet, world):
    for i in range(30):
        Device.objects.create(tenant=world["a"]["tenant"], name=f"many{i:02}")
    assert len(fleet.get("/api/search/?q=many&limit=5").json()["devices"]) == 5
    assert len(fleet.get("/api/search/?q=many").json()["devices"]) == 20
    for bad in ("", "?q=", "?q=x&limit=0", "?q=x&limit=abc", "?q=x&limit=101", "?q=x&colour=red", "?q=" + "x" * 201):
        r = fleet.get("/api/search/" + bad)
        assert r.status_code == 400, bad


def test_search_needs_authentication(api):
    assert api().get("/api/search/?q=x").status_code == 401


def test_search_service_without_request(operator_a, fleet, operator_b):
    assert [d.name for d in search(Principal(operator_a), "ubuntu")["devices"]] == ["web-fra-1"]
    assert search(Principal(operator_b), "ubuntu")["devices"] == []
    assert search(Principal(operator_a), "   ") == {"devices": [], "networks": [], "datacenters": [], "racks": []}
