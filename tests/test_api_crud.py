"""REST endpoints: happy and bad paths for every kind, lean responses, error handling."""

import ipaddress
import json
import re

import pytest
from auditlog.models import LogEntry

from inventory.models import Datacenter, Device, DeviceRelationship, IPAddress, Membership, Network, Tag, Tenant

pytestmark = pytest.mark.django_db


# --- authentication ------------------------------------------------------------------------
def test_anonymous_gets_401_with_bearer_challenge(api):
    r = api().get("/api/devices/")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_schema_and_docs_are_served_locally(api):
    r = api().get("/api/schema/?format=json")
    assert r.status_code == 200
    schema = json.loads(r.content)
    assert "/api/devices/{id}/" in schema["paths"] and "/api/pools/{id}/next-ip/" in schema["paths"]
    docs = api().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # every asset from this server: no CDN, no absolute URL (the page's random CSRF token may
    # spell "cdn" by chance, so the check looks at the asset URLs, not the whole page)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert "swagger-ui" in html and assets and "https://" not in html.split("<body")[0]
    assert all(url.startswith("/") and not url.startswith("//") and "cdn" not in url.lower() for url in assets)
    assert not re.search(r"https?://", html)
    # the assets themselves are served by the web process: tests/test_asgi_handler.py


def test_browsable_api(api, viewer_a, world):
    r = api(viewer_a).get("/api/devices/", HTTP_ACCEPT="text/html")
    assert r.status_code == 200 and b"dev-a" in r.content and b"dev-b" not in r.content


# --- tenants and memberships -----------------------------------------------------------------
def test_tenant_create_only_superuser(api, superuser, admin_a):
    assert api(admin_a).post("/api/tenants/", {"name": "New"}).status_code == 403
    r = api(superuser).post("/api/tenants/", {"name": "New Co"})
    assert r.status_code == 201 and r.json()["slug"] == "new-co"
    assert "already exists" in api(superuser).post("/api/tenants/", {"name": "New Co"}).json()["name"][0]


def test_tenant_update_needs_admin_and_delete_superuser(api, tenant_a, operator_a, admin_a, superuser):
    url = f"/api/tenants/{tenant_a.pk}/"
    assert api(operator_a).patch(url, {"description": "x"}).status_code == 403
    assert api(admin_a).patch(url, {"description": "ours"}).status_code == 200
    assert api(admin_a).delete(url).status_code == 403
    assert api(superuser).delete(url).status_code == 204
    assert not Tenant.objects.filter(pk=tenant_a.pk).exists()


def test_memberships_managed_by_tenant_admin(api, tenant_a, tenant_b, admin_a, operator_a, make_user):
    bob = make_user("bob")
    r = api(operator_a).post("/api/memberships/", {"tenant": tenant_a.pk, "user": "bob", "role": "viewer"})
    assert r.status_code == 403
    r = api(admin_a).post("/api/memberships/", {"tenant": tenant_a.pk, "user": "bob", "role": "viewer"})
    assert r.status_code == 201, r.json()
    mid = r.json()["id"]
    assert api(admin_a).post("/api/memberships/", {"tenant": tenant_a.pk, "user": "bob"}).json() == {
        "user": ["Membership with this User and Tenant already exists."]}
    assert api(admin_a).post("/api/memberships/", {"tenant": tenant_a.pk, "user": "nobody"}).status_code == 400
    assert api(admin_a).post("/api/memberships/", {"tenant": tenant_b.pk, "user": "bob"}).json()["tenant"]
    assert api(admin_a).patch(f"/api/memberships/{mid}/", {"role": "operator"}).json()["role"] == "operator"
    assert api(admin_a).patch(f"/api/memberships/{mid}/", {"role": "king"}).status_code == 400
    assert api(admin_a).patch(f"/api/memberships/{mid}/", {"user": "admin_a"}).status_code == 400
    assert api(admin_a).delete(f"/api/memberships/{mid}/").status_code == 204
    assert not Membership.objects.filter(user=bob).exists()


# --- datacenters and networks ------------------------------------------------------------------
def test_datacenter_crud(api, operator_a, admin_a, viewer_a, tenant_a):
    c = api(operator_a)
    r = c.post("/api/datacenters/", {"name": "fra1", "location": "Frankfurt"})  # only tenant: implied
    assert r.status_code == 201 and r.json()["tenant"]["id"] == tenant_a.pk
    url = r.json()["url"]
    assert c.post("/api/datacenters/", {"name": "fra1"}).json() == {"name": ["Datacenter with this Tenant and Name already exists."]}
    assert c.patch(url, {"location": "FRA"}).json()["location"] == "FRA"
    assert api(viewer_a).patch(url, {"location": "x"}).status_code == 403
    assert c.delete(url).status_code == 403  # operators do not delete
    assert api(admin_a).delete(url).status_code == 204


def test_tenant_required_when_ambiguous(api, make_user, tenant_a, tenant_b):
    both = make_user("both", {tenant_a: "operator", tenant_b: "operator"})
    r = api(both).post("/api/datacenters/", {"name": "x"})
    assert r.status_code == 400 and "tenant" in r.json()
    assert api(both).post("/api/datacenters/", {"name": "x", "tenant": tenant_b.pk}).json()["tenant"]["id"] == tenant_b.pk


def test_viewer_cannot_create(api, viewer_a):
    r = api(viewer_a).post("/api/datacenters/", {"name": "x"})
    assert r.status_code == 403 and "role" in r.json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"name": "n", "subnet": "127.100.0.1/24"}, "subnet"),
    ({"name": "n", "subnet": "banana"}, "subnet"),
    ({"name": "n", "subnet": "127.100.0.0/24", "vlan_id": 5000}, "vlan_id"),
    ({"name": "n", "subnet": "127.100.0.0/24", "vlan_id": "abc"}, "vlan_id"),
    ({"name": "n", "subnet": "127.100.0.0/24", "datacenter": 999999}, "datacenter"),
    ({"name": "", "subnet": "127.100.0.0/24"}, "name"),
    ({"subnet": "127.100.0.0/24"}, "name"),
])
def test_network_bad_input(api, operator_a, body, field):
    r = api(operator_a).post("/api/networks/", body, format="json")
    assert r.status_code == 400 and field in r.json()
    assert not Network.objects.exists()


def test_network_and_pool(api, operator_a):
    c = api(operator_a)
    net = c.post("/api/networks/", {"name": "lan", "subnet": "127.168.1.0/24", "vlan_id": 10}).json()
    assert net["family"] == 4 and net["prefix_length"] == 24
    r = c.post("/api/pools/", {"network": net["id"], "name": "dhcp", "start_address": "127.168.1.100", "end_address": "127.168.1.50"})
    assert r.status_code == 400 and "end_address" in r.json()
    r = c.post("/api/pools/", {"network": net["id"], "name": "dhcp", "start_address": "127.168.1.100", "end_address": "127.168.1.150"})
    assert r.status_code == 201
    r = c.post("/api/pools/", {"network": net["id"], "name": "p2", "start_address": "127.168.1.140", "end_address": "127.168.1.160"})
    assert r.status_code == 400 and "overlaps" in r.json()["start_address"][0]
    r = c.post("/api/pools/", {"network": net["id"], "name": "p3", "start_address": "127.100.0.1", "end_address": "127.100.0.2"})
    assert r.status_code == 400 and "start_address" in r.json()


def test_ip_address_crud(api, operator_a, world):
    c = api(operator_a)
    r = c.post("/api/ip-addresses/", {"address": "127.100.0.9", "network": world["a"]["network"].pk, "dns_name": "h.example.com"})
    assert r.status_code == 201, r.json()
    assert r.json()["tenant"]["id"] == world["a"]["tenant"].pk
    assert c.post("/api/ip-addresses/", {"address": "127.100.0.9", "network": world["a"]["network"].pk}).json() == {
        "address": ["IP address with this Network and Address already exists."]}
    r = c.post("/api/ip-addresses/", {"address": "127.109.9.9", "network": world["a"]["network"].pk})
    assert r.status_code == 400 and "not inside" in r.json()["address"][0]
    assert c.post("/api/ip-addresses/", {"address": "999.1.1.1"}).status_code == 400
    r = c.get("/api/ip-addresses/", {"address": "127.100.0.9"})
    assert r.json()["count"] == 1
    assert c.get("/api/ip-addresses/", {"address": "nope"}).status_code == 400


# --- devices -----------------------------------------------------------------------------------
def test_device_saved_with_addresses_tags_domains(api, operator_a, world):
    c = api(operator_a)
    body = {"name": "web1", "make_model": "Dell R640", "os": "Ubuntu 24.04", "status": "active",
            "addresses": [{"ip": "127.100.0.20", "type": "ipv4"}, {"ip": "2001:db8::1", "type": "ipv6"}],
            "tags": ["web", "prod"], "domains": ["Example.COM."], "datacenter": world["a"]["datacenter"].pk}
    r = c.post("/api/devices/", body, format="json")
    assert r.status_code == 201, r.json()
    d = r.json()
    assert d["tags"] == ["prod", "web"] and d["domains"] == ["example.com"]
    assert {(a["ip"], a["type"]) for a in d["addresses"]} == {("127.100.0.20", "ipv4"), ("2001:db8::1", "ipv6")}
    # detail and list read tags and addresses with the batch loaders: the same values as the save rendered
    listed = c.get("/api/devices/", {"name": "web1"}).json()["results"]
    for shown in (c.get(d["url"]).json(), *listed):
        assert shown["tags"] == d["tags"]
        assert sorted(shown["addresses"], key=lambda a: a["id"]) == sorted(d["addresses"], key=lambda a: a["id"])
        assert [a["ip"] for a in shown["addresses"]] == ["127.100.0.20", "2001:db8::1"]  # address order
    assert len(listed) == 1
    assert IPAddress.objects.get(address="127.100.0.20").network == world["a"]["network"]
    device = Device.objects.get(pk=d["id"])
    assert "prod" in device.search_text and "127.100.0.20" in device.search_text
    # replace addresses and tags
    r = c.patch(d["url"], {"addresses": [{"ip": "127.100.0.21"}], "tags": ["db"]}, format="json")
    assert r.status_code == 200
    assert [a["ip"] for a in r.json()["addresses"]] == ["127.100.0.21"] and r.json()["tags"] == ["db"]
    assert not IPAddress.objects.filter(address="127.100.0.20").exists()
    assert Tag.objects.filter(tenant=world["a"]["tenant"], name="web").exists()


@pytest.mark.parametrize("addresses, message", [
    ([{"ip": "127.100.0.30"}, {"ip": "not-an-ip"}], "valid"),
    ([{"ip": "127.100.0.30", "type": "ipv6"}], "IPv4 address, not ipv6"),
    ([{"ip": "127.100.0.30"}, {"ip": "127.100.0.30"}], "listed twice"),
    ([{"ip": "127.100.0.5"}], "already assigned to device 'dev-a'"),
    ("127.100.0.30", "list"),
    ([{"address": "127.100.0.30"}], "Unknown field"),
    ([{}], "required"),
])
def test_device_with_a_bad_address_writes_nothing(api, operator_a, world, addresses, message):
    before = (Device.objects.count(), IPAddress.objects.count(), Tag.objects.count())
    r = api(operator_a).post("/api/devices/", {"name": "web9", "addresses": addresses, "tags": ["new"]}, format="json")
    assert r.status_code == 400, r.json()
    assert message in json.dumps(r.json())
    assert (Device.objects.count(), IPAddress.objects.count(), Tag.objects.count()) == before


def test_device_update_with_bad_address_keeps_old_state(api, operator_a, world):
    dev = world["a"]["device"]
    r = api(operator_a).patch(f"/api/devices/{dev.pk}/", {"name": "renamed", "tags": ["x"], "addresses": [{"ip": "127.100.0.6"}, {"ip": "127.105.5.5"}]}, format="json")
    # 127.105.5.5 lies in no network of the tenant: recorded without network, fine; so use a clash instead
    assert r.status_code == 200
    r = api(operator_a).patch(f"/api/devices/{dev.pk}/", {"name": "again", "addresses": [{"ip": "127.100.0.7"}, {"ip": "zz"}]}, format="json")
    assert r.status_code == 400
    dev.refresh_from_db()
    assert dev.name == "renamed" and sorted(dev.addresses.values_list("address", flat=True)) == ["127.100.0.6", "127.105.5.5"]


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "status": "exploded"}, "status"),
    ({"name": "x", "domains": ["bad domain!"]}, "domains"),
    ({"name": "x", "domains": "example.com"}, "domains"),
    ({"name": "x", "tags": [{"name": "a"}]}, "tags"),
    ({"name": "x", "facts": [1, 2]}, "facts"),
    ({"name": "x", "datacenter": "abc"}, "datacenter"),
    ({"name": "x", "datacenter": True}, "datacenter"),
    ({"name": "x" * 101}, "name"),
    ({"name": "dev-a"}, "name"),
])
def test_device_bad_fields(api, operator_a, world, body, field):
    r = api(operator_a).post("/api/devices/", body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()


def test_device_filters(api, operator_a, world):
    c = api(operator_a)
    c.post("/api/devices/", {"name": "db1", "tags": ["db"], "status": "active"}, format="json")
    c.post("/api/devices/", {"name": "db2", "tags": ["db", "prod"], "status": "offline"}, format="json")
    names = lambda r: sorted(d["name"] for d in r.json()["results"])  # noqa: E731
    assert names(c.get("/api/devices/?tag=db")) == ["db1", "db2"]
    assert names(c.get("/api/devices/?tag=db&tag=prod")) == ["db2"]
    assert names(c.get("/api/devices/?status=active")) == ["db1"]
    assert names(c.get("/api/devices/?status=active&status=offline")) == ["db1", "db2"]
    assert names(c.get(f"/api/devices/?datacenter_id={world['a']['datacenter'].pk}")) == ["dev-a"]
    assert names(c.get("/api/devices/?q=dell")) == ["dev-a"]
    assert names(c.get("/api/devices/?q=127.100.0.5")) == ["dev-a"]
    assert names(c.get(f"/api/devices/?tenant={world['a']['tenant'].pk}&ordering=-name"))[:1] == ["db1"]
    assert c.get("/api/devices/?status=exploded").status_code == 400
    assert c.get("/api/devices/?datacenter_id=abc").status_code == 400
    r = c.get("/api/devices/?colour=red")
    assert r.status_code == 400 and "colour" in r.json()["non_field_errors"][0]


# --- relationships -------------------------------------------------------------------------------
def test_relationships_reject_cycles_self_links_duplicates(api, operator_a, world):
    c = api(operator_a)
    a, a2 = world["a"]["device"], world["a"]["device2"]
    r = c.post("/api/relationships/", {"parent": a.pk, "child": a.pk, "type": "contains"})
    assert r.status_code == 400 and "itself" in r.json()["child"][0]
    r = c.post("/api/relationships/", {"parent": a.pk, "child": a2.pk, "type": "contains"})
    assert r.status_code == 400 and "already" in r.json()["child"][0]
    r = c.post("/api/relationships/", {"parent": a2.pk, "child": a.pk, "type": "contains"})
    assert r.status_code == 400 and "cycle" in r.json()["child"][0]
    r = c.post("/api/relationships/", {"parent": a2.pk, "child": a.pk, "type": "depends_on"})
    assert r.status_code == 201
    r = c.post("/api/relationships/", {"parent": a.pk, "child": world["b"]["device"].pk, "type": "depends_on"})
    assert r.status_code == 400 and "child" in r.json()
    r = c.post("/api/relationships/", {"parent": a.pk, "child": a2.pk, "type": "loves"})
    assert r.status_code == 400 and "type" in r.json()


def test_relationship_across_tenants_for_member_of_both(api, make_user, world):
    both = make_user("both", {world["a"]["tenant"]: "operator", world["b"]["tenant"]: "operator"})
    r = api(both).post("/api/relationships/", {"parent": world["a"]["device"].pk, "child": world["b"]["device"].pk, "type": "depends_on"})
    assert r.status_code == 400 and "another tenant" in r.json()["child"][0]
    assert DeviceRelationship.objects.count() == 2


# --- lean responses ----------------------------------------------------------------------------
def test_brief_and_fields(api, viewer_a, world):
    c = api(viewer_a)
    r = c.get("/api/devices/?brief=1")
    assert set(r.json()["results"][0]) == {"id", "name", "display", "url"}
    r = c.get("/api/devices/?fields=id,name,tags")
    assert set(r.json()["results"][0]) == {"id", "name", "tags"}
    r = c.get(f"/api/devices/{world['a']['device'].pk}/?fields=addresses")
    assert r.json() == {"addresses": [{"id": world["a"]["ipaddress"].pk, "ip": "127.100.0.5", "type": "ipv4", "dns_name": "",
                                       "network": world["a"]["network"].pk, "status": "allocated"}]}
    assert set(c.get("/api/ip-addresses/?brief=1").json()["results"][0]) == {"id", "address", "display", "url"}
    r = c.get("/api/devices/?fields=id,secret")
    assert r.status_code == 400 and "secret" in r.json()["fields"][0]
    assert c.get("/api/devices/?brief=maybe").status_code == 400


def test_prefetch_follows_requested_fields(api, viewer_a, world, django_assert_max_num_queries):
    for i in range(20):
        Device.objects.create(tenant=world["a"]["tenant"], name=f"bulk{i}")
    c = api(viewer_a)
    c.get("/api/devices/")  # warm the session
    with django_assert_max_num_queries(10):  # + one query per referenced kind (tenant, datacenter)
        r = c.get("/api/devices/")
    assert r.json()["count"] == 22
    with django_assert_max_num_queries(6) as ctx:
        c.get("/api/devices/?brief=1")
    assert not any("inventory_tag" in q["sql"] or "inventory_ipaddress" in q["sql"] for q in ctx.captured_queries)
    # one object: one query per shown related field (the batch loaders), none for fields left out
    pk = world["a"]["device"].pk
    with django_assert_max_num_queries(8) as ctx:
        assert c.get(f"/api/devices/{pk}/").json()["addresses"]
    assert sum("inventory_ipaddress" in q["sql"] for q in ctx.captured_queries) == 1
    with django_assert_max_num_queries(8) as ctx:
        c.get(f"/api/devices/{pk}/?fields=id,name")
    assert not any("inventory_tag" in q["sql"] or "inventory_ipaddress" in q["sql"] for q in ctx.captured_queries)


@pytest.mark.parametrize("kind", ["tenants", "memberships", "datacenters", "networks", "pools", "ip-addresses",
                                  "devices", "relationships"])
def test_sparse_fields_load_only_what_they_render(api, admin_a, world, kind, monkeypatch):
    """?fields= / ?brief= load only the model fields the chosen fields read (only()): every field
    alone shows what the full row shows, and no deferred field is fetched row by row."""
    from django.db.models import Model

    c = api(admin_a)
    rows = c.get(f"/api/{kind}/").json()["results"]
    assert rows, kind

    def deferred_load(instance, *args, **kwargs):
        raise AssertionError(f"{type(instance).__name__} loaded a deferred field {kwargs.get('fields') or args}")

    monkeypatch.setattr(Model, "refresh_from_db", deferred_load)
    for name in rows[0]:
        sparse = c.get(f"/api/{kind}/", {"fields": f"id,{name}"}).json()["results"]
        assert sparse == [{"id": row["id"], name: row[name]} for row in rows], name
    brief = c.get(f"/api/{kind}/", {"brief": 1}).json()["results"]
    assert brief == [{k: row[k] for k in brief[0]} for row in rows]


def test_times_are_rendered_in_the_current_time_zone(world):
    from django.utils import timezone

    from inventory.api.serializers import DeviceSerializer

    device = world["a"]["device"]
    with timezone.override("Asia/Kolkata"):
        rendered = DeviceSerializer(device, context={"principal": None}).data
    assert rendered["created"].endswith("+05:30")
    assert rendered["created"] == device.created.astimezone(timezone.get_fixed_timezone(330)).isoformat()
    assert DeviceSerializer(device, context={"principal": None}).data["created"].endswith("Z")


def test_a_mapping_is_rendered_key_by_key_as_drf_does(world):
    from inventory.api.serializers import DatacenterSerializer

    row = {"id": 7, "name": "dc-x", "location": "Berlin", "tenant": world["a"]["tenant"]}
    rendered = DatacenterSerializer(row, context={"principal": None, "fields": {"id", "name", "location"}}).data
    assert (rendered["id"], rendered["name"], rendered["location"]) == (7, "dc-x", "Berlin")


def test_list_rows_match_detail_rows(api, operator_a, world):
    """A page and a single object are both rendered with the batch loaders, a page's objects
    together: both must say the same, in the same order, as the save response did."""
    c = api(operator_a)
    for i, (tags, ips) in enumerate([(["web", "db", "alpha"], ["127.100.0.30", "127.100.0.7", "2001:db8::1"]),
                                     ([], []), (["zulu"], ["127.100.0.8"])]):
        r = c.post("/api/devices/", {"name": f"batch{i}", "tags": tags,
                                     "addresses": [{"ip": ip} for ip in ips]}, format="json")
        assert r.status_code == 201, r.content
        saved = r.json()
        assert [a["ip"] for a in saved["addresses"]] == sorted(ips, key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip))) and \
            saved["tags"] == sorted(tags)
    page = c.get("/api/devices/?limit=100").json()["results"]
    assert len(page) >= 4
    for row in page:
        assert c.get(f"/api/devices/{row['id']}/").json() == row
    assert saved in page
    by_name = {row["name"]: row for row in page}
    assert by_name["batch0"]["tags"] == ["alpha", "db", "web"]
    assert [a["ip"] for a in by_name["batch0"]["addresses"]] == ["127.100.0.7", "127.100.0.30", "2001:db8::1"]
    assert by_name["batch1"]["tags"] == [] and by_name["batch1"]["addresses"] == []
    only_tags = c.get("/api/devices/?fields=id,tags&limit=100").json()["results"]
    assert {r["id"]: r["tags"] for r in only_tags} == {r["id"]: r["tags"] for r in page}


def test_detail_routes_take_no_filters(api, viewer_a, world):
    device = world["a"]["device"]
    c = api(viewer_a)
    assert c.get(f"/api/devices/{device.pk}/?brief=1").status_code == 200
    r = c.get(f"/api/devices/{device.pk}/?status=offline")
    assert r.status_code == 400 and "status" in r.json()["non_field_errors"][0]
    assert c.get(f"/api/networks/{world['a']['network'].pk}/next-ip/?ordering=id").status_code == 400


def test_pagination(api, viewer_a, world):
    for i in range(60):
        Device.objects.create(tenant=world["a"]["tenant"], name=f"p{i:02}")
    r = api(viewer_a).get("/api/devices/?limit=25&offset=25")
    body = r.json()
    assert body["count"] == 62 and len(body["results"]) == 25 and body["next"] and body["previous"]
    assert api(viewer_a).get("/api/devices/?limit=abc").status_code == 200  # DRF falls back to the default


# --- bad requests ---------------------------------------------------------------------------------
def test_malformed_json_and_wrong_content(api, operator_a):
    c = api(operator_a)
    r = c.generic("POST", "/api/datacenters/", "{not json", content_type="application/json")
    assert r.status_code == 400 and "JSON parse error" in r.json()["non_field_errors"][0]
    r = c.generic("POST", "/api/datacenters/", json.dumps(["a", "list"]), content_type="application/json")
    assert r.status_code == 400
    r = c.generic("POST", "/api/datacenters/", "[" * 100000 + "]" * 100000, content_type="application/json")
    assert r.status_code in (400, 413)
    r = c.generic("POST", "/api/datacenters/", json.dumps({"name": "a\u0000b"}), content_type="application/json")
    assert r.status_code == 400
    r = c.generic("POST", "/api/datacenters/", '{"name": "\\ud800"}', content_type="application/json")
    assert r.status_code == 400
    r = c.generic("POST", "/api/datacenters/", "name", content_type="application/xml")
    assert r.status_code == 415
    assert not Datacenter.objects.exists()


def test_huge_payload_is_413(api, operator_a):
    body = json.dumps({"name": "x", "description": "y" * (2 * 1024 * 1024)})
    r = api(operator_a).generic("POST", "/api/datacenters/", body, content_type="application/json")
    assert r.status_code == 413
    assert not Datacenter.objects.exists()


def test_bad_ids_in_urls(api, viewer_a):
    c = api(viewer_a)
    assert c.get("/api/devices/abc/").status_code == 404
    assert c.get("/api/devices/99999999999999999999999/").status_code == 404
    assert c.get("/api/devices/?datacenter_id=99999999999999999999999").status_code in (200, 400)
    assert c.get("/api/devices/?q=%00").status_code == 400


@pytest.mark.parametrize("pk", ["abc", "", None, True, -1, 0, 2**63, "9" * 30, 1.5, "1 OR 1=1"])
def test_ids_no_row_can_have_are_not_found(world, admin_a, pk):
    """The shared lookup of REST, MCP and jobs (services.common.get_for): 404 for any id no row can have."""
    from rest_framework.exceptions import NotFound

    from inventory.services.common import get_for
    from inventory.tenancy import Principal

    principal = Principal(admin_a)
    assert get_for(principal, Device, str(world["a"]["device"].pk)) == world["a"]["device"]
    with pytest.raises(NotFound):
        get_for(principal, Device, pk)
    with pytest.raises(NotFound):
        get_for(principal, Device, world["b"]["device"].pk)


# --- audit -------------------------------------------------------------------------------------------
def test_writes_are_audited_with_the_actor(api, operator_a):
    r = api(operator_a).post("/api/devices/", {"name": "audited"}, format="json")
    entry = LogEntry.objects.get_for_object(Device.objects.get(pk=r.json()["id"])).get()
    assert entry.actor == operator_a
