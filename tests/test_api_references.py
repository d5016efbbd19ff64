"""Nested references, bulk operations and CSV export over real HTTP (uvicorn), as a script
written against NetBox's conventions uses them."""

import csv
import io

import httpx2 as httpx
import pytest
from auditlog.models import LogEntry

from inventory.models import Datacenter, Device
from oauth.models import ApiKey
from tests.test_api_support import world  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def http(live_server_url, make_user, world):
    """httpx clients with API keys: an admin of tenant A (``http``); ``http.viewer``: a viewer of A."""
    admin = make_user("ref_admin_a", {world["a"]["tenant"]: "admin"})
    viewer = make_user("ref_viewer_a", {world["a"]["tenant"]: "viewer"})
    _key, raw = ApiKey.create(admin, "references")
    _key, raw_viewer = ApiKey.create(viewer, "references viewer")
    with httpx.Client(base_url=live_server_url, timeout=30, headers={"authorization": f"Bearer {raw}"}) as client, \
            httpx.Client(base_url=live_server_url, timeout=30, headers={"authorization": f"Bearer {raw_viewer}"}) as ro:
        client.viewer = ro
        yield client


def test_nested_references_read_and_write(http, world):
    a = world["a"]
    base = str(http.base_url).rstrip("/")
    device = http.get(f"/api/devices/{a['device'].pk}/").json()
    assert device["tenant"] == {"id": a["tenant"].pk, "url": f"{base}/api/tenants/{a['tenant'].pk}/",
                                "display": "Tenant A", "name": "Tenant A"}
    assert device["datacenter"]["name"] == "dc-a" and device["datacenter"]["url"].endswith(f"/api/datacenters/{a['datacenter'].pk}/")
    assert http.get(f"/api/devices/{a['device2'].pk}/").json()["datacenter"] is None
    rows = http.get("/api/ip-addresses/").json()["results"]
    assert rows[0]["network"]["display"] == "net-a (127.100.0.0/24)" and rows[0]["device"]["name"] == "dev-a"
    pools = http.get("/api/pools/").json()["results"]
    assert pools[0]["tenant"]["name"] == "Tenant A" and pools[0]["network"]["name"] == "net-a"
    # ?fields= picks parts of a reference; ?brief keeps working
    r = http.get("/api/devices/?fields=name,tenant.name,datacenter.id")
    assert r.status_code == 200, r.text
    assert r.json()["results"][0] == {"name": "dev-a", "tenant": {"name": "Tenant A"}, "datacenter": {"id": a["datacenter"].pk}}
    assert set(http.get("/api/devices/?brief=1").json()["results"][0]) == {"id", "name", "display", "url"}
    for bad in ("tenant.colour", "name.first", "nope.name"):
        r = http.get(f"/api/devices/?fields={bad}")
        assert r.status_code == 400 and "fields" in r.json(), bad
    # write: an id, a reference object as responses show it, or {"name": ...} / {"slug": ...}
    r = http.post("/api/devices/", json={"name": "n1", "tenant": {"slug": a["tenant"].slug}, "datacenter": {"name": "dc-a"}})
    assert r.status_code == 201, r.text
    assert r.json()["datacenter"]["id"] == a["datacenter"].pk and r.json()["tenant"]["id"] == a["tenant"].pk
    r = http.patch(f"/api/devices/{r.json()['id']}/", json={"datacenter": device["datacenter"]})
    assert r.status_code == 200 and r.json()["datacenter"]["name"] == "dc-a"
    r = http.post("/api/networks/", json={"name": "n2", "subnet": "127.109.0.0/24", "tenant": {"id": a["tenant"].pk},
                                         "datacenter": a["datacenter"].pk})
    assert r.status_code == 201, r.text
    # malformed references: 400 naming the field, nothing written
    before = Device.objects.count()
    for ref, text in (({"colour": "x"}, "Expected an id"), ({"name": "dc-b"}, "not visible to you"),
                      ({"name": "nope"}, "No datacenter named 'nope'"), ([1], "Incorrect type"),
                      ({"id": "abc"}, "No datacenter with id abc"), ({"id": world["b"]["datacenter"].pk}, "not visible")):
        r = http.post("/api/devices/", json={"name": "n3", "datacenter": ref})
        assert r.status_code == 400 and text in r.json()["datacenter"][0], (ref, r.text)
    assert Device.objects.count() == before
    # OpenAPI: a reference object in responses, an id or an object in requests
    schema = http.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert schema["Device"]["properties"]["tenant"]["properties"]["name"]["type"] == "string"
    assert {s["type"] for s in schema["DeviceRequest"]["properties"]["datacenter"]["oneOf"]} == {"integer", "object"}


def test_bulk_create_update_delete(http, world):
    tenant = world["a"]["tenant"]
    before = Device.objects.count()
    # one bad item: nothing written, the errors under its index
    r = http.post("/api/devices/", json=[{"name": "b1"}, {"name": "b2", "status": "exploded"}, {"name": "dev-a"}])
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"1", "2"} and "status" in r.json()["1"] and "name" in r.json()["2"]
    assert Device.objects.count() == before
    r = http.post("/api/devices/", json=[{"name": "b1"}, {"name": "b1"}])  # the second repeats the first
    assert r.status_code == 400 and set(r.json()) == {"1"} and Device.objects.count() == before
    r = http.post("/api/devices/", json=[{"name": f"b{i}", "tags": ["bulk"], "datacenter": {"name": "dc-a"}} for i in range(5)])
    assert r.status_code == 201, r.text
    created = r.json()
    assert [d["name"] for d in created] == [f"b{i}" for i in range(5)] and created[0]["datacenter"]["name"] == "dc-a"
    assert Device.objects.count() == before + 5
    ids = [d["id"] for d in created]
    assert LogEntry.objects.get_for_model(Device).filter(object_pk__in=[str(i) for i in ids],
                                                        action=LogEntry.Action.CREATE).count() == 5
    # PATCH on the list: many at once, all or nothing
    r = http.patch("/api/devices/", json=[{"id": ids[0], "status": "active"}, {"id": ids[1], "status": "bogus"}])
    assert r.status_code == 400 and list(r.json()) == ["1"]
    assert Device.objects.get(pk=ids[0]).status == "planned"
    r = http.patch("/api/devices/", json=[{"id": i, "status": "active"} for i in ids])
    assert r.status_code == 200 and {d["status"] for d in r.json()} == {"active"}
    # another tenant's object is "not visible" (400 under its index), nothing changes
    r = http.patch("/api/devices/", json=[{"id": ids[0], "status": "offline"}, {"id": world["b"]["device"].pk, "status": "offline"}])
    assert r.status_code == 400 and "not visible" in r.json()["1"]["id"][0]
    assert Device.objects.get(pk=ids[0]).status == "active" and Device.objects.get(pk=world["b"]["device"].pk).status != "offline"
    for body in ({"id": ids[0]}, [], [{"status": "x"}], ["x"]):
        assert http.patch("/api/devices/", json=body).status_code == 400, body
    # a viewer may not: 403, nothing changes
    r = http.viewer.patch("/api/devices/", json=[{"id": ids[0], "status": "offline"}])
    assert r.status_code == 403 and Device.objects.get(pk=ids[0]).status == "active"
    r = http.viewer.post("/api/devices/", json=[{"name": "v1"}])
    assert r.status_code == 403
    r = http.viewer.request("DELETE", "/api/devices/", json=[{"id": ids[0]}])
    assert r.status_code == 403 and Device.objects.filter(pk=ids[0]).exists()
    # DELETE on the list
    r = http.request("DELETE", "/api/devices/", json=[{"id": ids[0]}, {"id": world["b"]["device"].pk}])
    assert r.status_code == 400 and Device.objects.filter(pk=ids[0]).exists()
    r = http.request("DELETE", "/api/devices/", json=[{"id": i} for i in ids[:3]] + ids[3:])
    assert r.status_code == 204, r.text
    assert not Device.objects.filter(pk__in=ids).exists()
    assert LogEntry.objects.get_for_model(Device).filter(object_pk__in=[str(i) for i in ids],
                                                        action=LogEntry.Action.DELETE).count() == 5
    assert Device.objects.filter(tenant=world["b"]["tenant"]).count() == 2
    # other kinds take lists too
    r = http.post("/api/datacenters/", json=[{"name": "x1", "tenant": tenant.pk}, {"name": "x2", "tenant": {"slug": tenant.slug}}])
    assert r.status_code == 201 and Datacenter.objects.filter(name__in=["x1", "x2"]).count() == 2


def read_csv(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_csv_export_respects_filters_fields_and_tenancy(http, world):
    tenant = world["a"]["tenant"]
    Device.objects.bulk_create([Device(tenant=tenant, name=f"csv{i:04d}", description="=cmd()" if i == 0 else "")
                                for i in range(1200)])
    rows = read_csv(http.get("/api/devices/?format=csv"))
    assert len(rows) == 1202 and len({r["id"] for r in rows}) == 1202  # every row (no pages), none twice
    assert {r["tenant"] for r in rows} == {"Tenant A"}  # nothing of tenant B; a reference by its name
    dev_a = next(r for r in rows if r["name"] == "dev-a")
    assert dev_a["datacenter"] == "dc-a" and dev_a["addresses"].startswith("[")
    assert next(r for r in rows if r["name"] == "csv0000")["description"] == "'=cmd()"  # no formula
    rows = read_csv(http.get("/api/devices/?format=csv&fields=id,name&datacenter=dc-a"))
    assert rows == [{"id": str(world["a"]["device"].pk), "name": "dev-a"}]
    text = http.get("/api/devices/?format=csv&fields=name,tenant.name&ordering=-name&name=dev-a").text
    assert text.splitlines() == ["tenant,name", "Tenant A,dev-a"]  # the columns in the serializer's order
    assert read_csv(http.get("/api/devices/?format=csv&brief=1&ordering=-name"))[0]["name"] == "dev2-a"
    for kind in ("tenants", "datacenters", "networks", "pools", "ip-addresses", "relationships", "memberships"):
        rows = read_csv(http.get(f"/api/{kind}/?format=csv"))
        assert rows, kind
    assert read_csv(http.get("/api/ip-addresses/?format=csv&parent=127.100.0.0/24"))[0]["address"] == "127.100.0.5"
    # bad input is the JSON 400 it always is
    r = http.get("/api/devices/?format=csv&tenant=nope")
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json") and "tenant" in r.json()
    r = http.get("/api/devices/?format=csv&ordering=nope")
    assert r.status_code == 400 and "ordering" in r.json()
    assert http.get("/api/devices/?format=csv", headers={"authorization": ""}).status_code == 401


def test_csv_export_of_jobs_and_the_mcp_audit_log(http, world):
    from inventory.jobs.models import Job
    from mcp_gateway.models import McpCall

    a, b = world["a"], world["b"]
    for tenant, name in ((a["tenant"], "a"), (b["tenant"], "b")):
        Job.objects.create(tenant=tenant, kind="command", device=world[name]["device"], target=f"dev-{name}",
                           params={"command": f"echo {name}"}, sent="2026-01-01T00:00:00Z")
        McpCall.objects.create(tenant=tenant, username=f"user-{name}", tool="device_list", outcome="ok",
                               transport="http", auth_kind="api_key")
    McpCall.objects.create(tenant=a["tenant"], username="user-a", tool="job_get", outcome="error",
                           transport="http", auth_kind="api_key")
    rows = read_csv(http.get("/api/jobs/?format=csv"))
    assert [r["target"] for r in rows] == ["dev-a"] and rows[0]["url"].endswith(f"/api/jobs/{rows[0]['id']}/")
    assert read_csv(http.get("/api/jobs/?format=csv&status=running")) == []
    r = http.get("/api/jobs/?format=csv&status=nope")
    assert r.status_code == 400 and "status" in r.json()
    rows = read_csv(http.get("/api/mcp/audit/logs?format=csv"))
    assert sorted((r["user"], r["tool"]) for r in rows) == [("user-a", "device_list"), ("user-a", "job_get")]  # not B's
    assert [r["tool"] for r in read_csv(http.get("/api/mcp/audit/logs?format=csv&outcome=error"))] == ["job_get"]
    r = http.get("/api/mcp/audit/logs?format=csv&colour=red")
    assert r.status_code == 400 and "colour" in r.json()
    assert http.get("/api/mcp/audit/logs?format=csv", headers={"authorization": ""}).status_code == 401


def test_put_replaces_the_whole_object(http, world):
    a = world["a"]
    r = http.post("/api/devices/", json={"name": "p1", "status": "active", "tags": ["web"], "domains": ["p1.example"],
                                        "addresses": [{"ip": "127.100.0.60"}], "datacenter": a["datacenter"].pk,
                                        "os": "Debian 12", "facts": {"cpus": 4}})
    assert r.status_code == 201, r.text
    pk = r.json()["id"]
    r = http.put(f"/api/devices/{pk}/", json={"name": "p1-renamed"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["status"], body["tags"], body["domains"], body["addresses"], body["datacenter"],
            body["os"], body["facts"]) == ("p1-renamed", "planned", [], [], [], None, "", {})
    assert body["tenant"]["id"] == a["tenant"].pk  # the tenant stays (objects never move)
    # PATCH changes only what it names
    r = http.patch(f"/api/devices/{pk}/", json={"tags": ["db"]})
    assert r.json()["tags"] == ["db"] and r.json()["name"] == "p1-renamed"
    r = http.put(f"/api/devices/{pk}/", json={"os": "x"})  # a full replacement still needs the required fields
    assert r.status_code == 400 and "name" in r.json()


def test_links_follow_the_script_prefix():
    """The link paths are reversed once per URLconf and script prefix, not once for all: an app
    mounted under a prefix links under it."""
    from django.urls import set_script_prefix

    from inventory.api.serializers.base import placeholder_path

    assert placeholder_path("api:device-detail") == "/api/devices/987654321/"
    set_script_prefix("/inventory/")
    try:
        assert placeholder_path("api:device-detail") == "/inventory/api/devices/987654321/"
    finally:
        set_script_prefix("/")
    assert placeholder_path("api:device-detail") == "/api/devices/987654321/"
