"""The REST conventions script authors bring from NetBox and DRF, over real HTTP (uvicorn):
filter spellings, address containment, strictness, one error shape, jobs' 202, the API root,
offline docs."""

import ipaddress
import json
import re

import httpx2 as httpx
import pytest

from inventory.models import Datacenter, Device, IPAddress, Network
from oauth.models import ApiKey
from tests.test_api_support import world  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def http(live_server_url, make_user, world):
    """An httpx client with the API key of an operator of tenant A (and nothing in B)."""
    user = make_user("conv_op_a", {world["a"]["tenant"]: "operator"})
    _key, raw = ApiKey.create(user, "conventions")
    with httpx.Client(base_url=live_server_url, timeout=20, headers={"authorization": f"Bearer {raw}"}) as client:
        yield client


def names(response):
    assert response.status_code == 200, response.text
    return sorted(row.get("name") or row.get("address") for row in response.json()["results"])


def test_filter_spellings_ids_slugs_names_repeatable(http, world):
    a, b = world["a"], world["b"]
    other_dc = Datacenter.objects.create(tenant=a["tenant"], name="dc-a2")
    Device.objects.create(tenant=a["tenant"], name="dev3-a", datacenter=other_dc)
    tenant = a["tenant"]
    all_a = ["dev-a", "dev2-a", "dev3-a"]
    # NetBox's spellings for every foreign key: <fk>_id=<id> and <fk>=<slug, name or id>
    for query in (f"tenant_id={tenant.pk}", f"tenant={tenant.slug}", f"tenant={tenant.name}", f"tenant={tenant.pk}"):
        assert names(http.get(f"/api/devices/?{query}")) == all_a, query
    assert names(http.get(f"/api/devices/?datacenter_id={a['datacenter'].pk}")) == ["dev-a"]
    assert names(http.get("/api/devices/?datacenter=dc-a")) == ["dev-a"]
    # repeatable: any of them (OR)
    assert names(http.get("/api/devices/", params=[("datacenter", "dc-a"), ("datacenter", "dc-a2")])) == ["dev-a", "dev3-a"]
    assert names(http.get("/api/devices/", params=[("datacenter_id", a["datacenter"].pk),
                                                    ("datacenter_id", other_dc.pk)])) == ["dev-a", "dev3-a"]
    assert names(http.get("/api/devices/?datacenter_id=null")) == ["dev2-a"]
    assert names(http.get("/api/ip-addresses/?network=net-a")) == ["10.0.0.5"]
    assert names(http.get("/api/ip-addresses/?network=10.0.0.0/24")) == ["10.0.0.5"]
    assert names(http.get("/api/ip-addresses/?device=dev-a")) == ["10.0.0.5"]
    assert names(http.get(f"/api/pools/?network_id={a['network'].pk}")) == ["pool-a"]
    assert names(http.get(f"/api/networks/?datacenter={a['datacenter'].name}")) == ["net-a"]
    rel = http.get("/api/relationships/?device=dev2-a").json()["results"]
    assert [r["id"] for r in rel] == [a["relationship"].pk]
    assert http.get("/api/relationships/?parent=dev2-a").json()["count"] == 0
    # bad values: a 400 naming the parameter, whether the value is unknown or another tenant's
    for query, param, text in (
        ("tenant=nope", "tenant", "No tenant with slug or name 'nope'"),
        (f"tenant={b['tenant'].slug}", "tenant", "not visible to you"),
        (f"tenant_id={b['tenant'].pk}", "tenant_id", "not visible to you"),
        ("tenant_id=acme", "tenant_id", "Expected an integer id"),
        ("tenant_id=99999999999999999999", "tenant_id", "not a valid id"),
        ("datacenter=dc-b", "datacenter", "not visible to you"),
        ("network=net-b", "network", "not visible to you"),
        (f"device_id={b['device'].pk}", "device_id", "not visible to you"),
        ("tenant_id=null", "tenant_id", "Expected an integer id"),  # a tenant is never "none"
    ):
        path = "/api/ip-addresses/" if param in ("network", "device_id") else "/api/devices/"
        r = http.get(f"{path}?{query}")
        assert r.status_code == 400, (query, r.text)
        assert text in r.json()[param][0], (query, r.text)


def test_filter_spellings_are_in_the_openapi_schema(http):
    schema = http.get("/api/schema/?format=json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/devices/"]["get"]["parameters"]}
    for name in ("tenant", "tenant_id", "datacenter", "datacenter_id"):
        assert params[name]["schema"]["type"] == "array" and params[name]["explode"] is True, name
    assert params["tenant_id"]["schema"]["items"]["type"] == "integer"
    assert params["tenant"]["schema"]["items"]["type"] == "string"
    assert "slug" in params["tenant"]["description"]
    addresses = {p["name"] for p in schema["paths"]["/api/ip-addresses/"]["get"]["parameters"]}
    assert {"parent", "q", "network", "network_id", "pool", "pool_id", "device", "device_id"} <= addresses


def test_addresses_by_containment_and_exact_q(http, world):
    net = world["a"]["network"]
    for address in ("10.0.0.1", "10.0.0.10", "10.0.0.100"):
        IPAddress.objects.create(address=address, network=net)
    wide = Network.objects.create(tenant=world["a"]["tenant"], name="v6", subnet="2001:db8::/64")
    IPAddress.objects.create(address="2001:db8::10", network=wide)
    low = Network.objects.create(tenant=world["a"]["tenant"], name="v6-low", subnet="::a00:0/120")
    IPAddress.objects.create(address="::a00:5", network=low)  # an IPv6 address whose key lies in 10.0.0.0/24's range
    assert names(http.get("/api/ip-addresses/?parent=10.0.0.0/28")) == ["10.0.0.1", "10.0.0.10", "10.0.0.5"]
    assert names(http.get("/api/ip-addresses/?parent=10.0.0.0/24")) == ["10.0.0.1", "10.0.0.10", "10.0.0.100", "10.0.0.5"]
    assert names(http.get("/api/ip-addresses/?parent=2001:db8::/32")) == ["2001:db8::10"]
    assert names(http.get(f"/api/ip-addresses/?network_id={net.pk}&parent=10.0.0.0/29")) == ["10.0.0.1", "10.0.0.5"]
    # q: an address is exactly it (not 10.0.0.10 and 10.0.0.100), a CIDR is containment
    assert names(http.get("/api/ip-addresses/?q=10.0.0.1")) == ["10.0.0.1"]
    assert names(http.get("/api/ip-addresses/?q=10.0.0.8/29")) == ["10.0.0.10"]
    assert names(http.get("/api/ip-addresses/?q=10.0.1.0/24")) == []
    r = http.get("/api/ip-addresses/?parent=10.0.0.300/24")
    assert r.status_code == 400 and "parent" in r.json()
    assert http.get("/api/ip-addresses/?parent=net-b").status_code == 400
    # another tenant's addresses in the same range stay invisible
    assert IPAddress.objects.filter(address="10.0.0.5").count() == 2
    assert names(http.get("/api/ip-addresses/?q=10.0.0.5")) == ["10.0.0.5"]
    # PostgreSQL spells this address ::10.0.0.5, SQLite as given: the same address
    assert [str(ipaddress.ip_address(n)) for n in names(http.get("/api/ip-addresses/?q=::a00:5"))] == ["::a00:5"]


def test_strict_ordering_and_body_fields(http, world):
    r = http.get("/api/devices/?ordering=nope")
    assert r.status_code == 400
    message = r.json()["ordering"][0]
    assert "'nope'" in message and "name" in message and "status" in message
    assert http.get("/api/devices/?ordering=-name,id").status_code == 200
    assert http.get("/api/devices/?ordering=--name").status_code == 400
    before = Datacenter.objects.count()
    r = http.post("/api/datacenters/", json={"name": "dc-new", "tenant": world["a"]["tenant"].pk, "colour": "red"})
    assert r.status_code == 400, r.text
    assert list(r.json()) == ["colour"] and "location" in r.json()["colour"][0]
    assert Datacenter.objects.count() == before
    r = http.patch(f"/api/devices/{world['a']['device'].pk}/", json={"colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()
    r = http.post("/api/devices/", json={"name": "x", "addresses": [{"ip": "10.0.0.9", "prefix": 24}]})
    assert r.status_code == 400 and "prefix" in json.dumps(r.json())
    # read-only fields sent back (a GET's body PUT back) are ignored, as before
    body = http.get(f"/api/datacenters/{world['a']['datacenter'].pk}/").json()
    r = http.put(f"/api/datacenters/{body['id']}/", json={**body, "location": "hall 2"})
    assert r.status_code == 200, r.text
    r = http.post(f"/api/networks/{world['a']['network'].pk}/next-ip/", json={"hostname": "x"})
    assert r.status_code == 400 and "hostname" in r.json()


def test_one_error_shape(http, make_user, tenant_b, world):
    # a missing tenant (ambiguous for a member of two tenants) is a list like every field error
    both = make_user("conv_both", {world["a"]["tenant"]: "operator", world["b"]["tenant"]: "operator"})
    _key, raw = ApiKey.create(both, "both")
    r = http.post("/api/datacenters/", json={"name": "x"}, headers={"authorization": f"Bearer {raw}"})
    assert r.status_code == 400 and isinstance(r.json()["tenant"], list), r.text
    r = http.post("/api/relationships/", json={"parent": world["a"]["device"].pk, "child": world["a"]["device"].pk,
                                               "type": "contains"})
    assert r.status_code == 400
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in r.json().values()), r.text
    # request-level messages are non-field errors, a list too
    r = http.get("/api/devices/?colour=red")
    assert r.status_code == 400 and list(r.json()) == ["non_field_errors"] and "colour" in r.json()["non_field_errors"][0]
    # nested: the bad items of a list by their index
    r = http.post("/api/devices/", json={"name": "y", "addresses": [{"ip": "10.0.0.40"}, {"ip": "nope"}]})
    assert r.status_code == 400
    assert r.json() == {"addresses": {"1": {"ip": ["Enter a valid IPv4 or IPv6 address."]}}}, r.text
    schema = http.get("/api/schema/?format=json").json()
    error = schema["components"]["schemas"]["ValidationError"]
    assert error["properties"]["non_field_errors"]["items"]["type"] == "string"
    assert error["additionalProperties"]["anyOf"][0]["type"] == "array"
    r = http.post("/api/devices/", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON parse error" in r.json()["non_field_errors"][0]
    device_create = schema["paths"]["/api/devices/"]["post"]["responses"]
    assert device_create["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationError")


def test_jobs_answer_202_with_location_and_url(http, world):
    net = Network.objects.create(tenant=world["a"]["tenant"], name="lo", subnet="127.0.0.0/30")
    r = http.post("/api/jobs/scan/", json={"network": net.pk, "scan_type": "quick"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["url"] == r.headers["location"] and job["url"].startswith(str(http.base_url).rstrip("/"))
    assert http.get(r.headers["location"]).json()["id"] == job["id"]
    assert http.get("/api/jobs/").json()["results"][0]["url"] == job["url"]
    r = http.post("/api/jobs/scan/", json={"network": net.pk, "colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()


def test_api_root_lists_every_endpoint_and_docs_are_offline(http):
    root = http.get("/api/").json()
    for name in ("tenants", "devices", "ip-addresses", "relationships", "search", "jobs", "jobs-scan",
                 "mesh-meshes", "mesh-peers", "roles", "variables", "secrets", "blueprints", "blueprint-runs",
                 "mcp-config", "mcp-tools", "mcp-tool-groups", "mcp-audit-logs", "schema", "docs", "redoc", "mcp"):
        assert name in root, name
    base = str(http.base_url).rstrip("/")
    for name, url in root.items():
        assert url.startswith(base), (name, url)
        if name != "mcp":  # each one is served (the job starters take POST only)
            status = http.get(url, params={"q": "x"} if name == "search" else None).status_code
            post_only = ("jobs-scan", "jobs-command", "jobs-provision", "roles-import", "blueprints-use")
            assert status == (405 if name in post_only else 200), (name, url)
    for page in ("/api/docs/", "/api/redoc/"):
        html = http.get(page).text
        assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
        assert assets and all(u.startswith("/") and not u.startswith("//") for u in assets), (page, assets)
        assert not re.search(r"https?://", html), page
        for url in assets:
            assert http.get(url).status_code == 200, url
