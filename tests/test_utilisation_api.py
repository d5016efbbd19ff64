"""Utilisation (size, used, free, percent) of networks and pools over REST and MCP: always on a
single object, on lists when asked (?fields=...,utilisation; MCP ``fields``), counted in SQL with
a number of queries that does not grow with rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from inventory import ipam
from inventory.models import IPAddress, IPPool, Network
from inventory.tenancy import Principal

pytestmark = pytest.mark.django_db


def seed(tenant, networks: int, start: int = 0, addresses: int = 3):
    """``networks`` /24s in 127.x (each with a pool of 10 and ``addresses`` addresses, 2 in the pool)."""
    out, octet = [], 1 + tenant.pk % 200
    for i in range(start, start + networks):
        net = Network.objects.create(tenant=tenant, name=f"net-{tenant.pk}-{i}", subnet=f"127.{octet}.{i}.0/24")
        pool = IPPool.objects.create(network=net, name="p", start_address=f"127.{octet}.{i}.1",
                                     end_address=f"127.{octet}.{i}.10")
        for j in range(addresses):  # .1 and .2 in the pool, the others above it
            IPAddress.objects.create(network=net, address=f"127.{octet}.{i}.{j + 1 if j < 2 else 50 + j}")
        out.append((net, pool))
    return out


@pytest.fixture
def api(operator_a):
    client = APIClient()
    client.force_authenticate(operator_a)
    return client


def test_detail_has_utilisation(api, tenant_a):
    (net, pool), = seed(tenant_a, 1)
    body = api.get(f"/api/networks/{net.pk}/").json()
    assert body["utilisation"] == {"size": 254, "used": 3, "free": 251, "percent": 1.2}
    body = api.get(f"/api/pools/{pool.pk}/").json()
    assert body["utilisation"] == {"size": 10, "used": 2, "free": 8, "percent": 20.0}
    # a full /31 pair (RFC 3021: both usable) and an empty network
    tiny = Network.objects.create(tenant=tenant_a, name="p2p", subnet="127.9.9.0/31")
    IPAddress.objects.create(network=tiny, address="127.9.9.0")
    IPAddress.objects.create(network=tiny, address="127.9.9.1")
    assert api.get(f"/api/networks/{tiny.pk}/").json()["utilisation"] == {
        "size": 2, "used": 2, "free": 0, "percent": 100.0}
    v6 = Network.objects.create(tenant=tenant_a, name="v6", subnet="fd00::/64")
    assert api.get(f"/api/networks/{v6.pk}/").json()["utilisation"] == {
        "size": 2 ** 64 - 1, "used": 0, "free": 2 ** 64 - 1, "percent": 0.0}


def test_lists_show_it_only_when_asked(api, tenant_a):
    seed(tenant_a, 2)
    plain = api.get("/api/networks/").json()["results"]
    assert plain and all("utilisation" not in row for row in plain)
    asked = api.get("/api/networks/", {"fields": "id,name,utilisation"}).json()["results"]
    assert [sorted(row) for row in asked] == [["id", "name", "utilisation"]] * 2
    assert all(row["utilisation"]["used"] == 3 for row in asked)
    pools = api.get("/api/pools/", {"fields": "id,utilisation"}).json()["results"]
    assert [row["utilisation"]["percent"] for row in pools] == [20.0, 20.0]
    assert "utilisation" not in api.get("/api/pools/").json()["results"][0]
    # the OpenAPI document describes it
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    text = str(schema["components"]["schemas"]["Network"])
    assert "utilisation" in text


def test_bad_fields_are_still_refused(api, tenant_a):
    seed(tenant_a, 1)
    response = api.get("/api/networks/", {"fields": "id,utilisations"})
    assert response.status_code == 400 and "utilisations" in str(response.json()["fields"])


def test_another_tenants_network_is_404(api, tenant_a, tenant_b):
    (net_b, pool_b), = seed(tenant_b, 1)
    assert api.get(f"/api/networks/{net_b.pk}/").status_code == 404
    assert api.get(f"/api/pools/{pool_b.pk}/").status_code == 404


@pytest.mark.parametrize("path", ["/api/networks/", "/api/pools/"])
def test_rest_queries_do_not_grow_with_rows(api, tenant_a, path):
    def queries(url, params=None):
        api.get(url, params)  # warm caches (credentials, counts)
        with CaptureQueriesContext(connection) as ctx:
            response = api.get(url, params)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    (net, pool), = seed(tenant_a, 1)
    detail = f"{path}{(net if 'networks' in path else pool).pk}/"
    few = queries(path, {"fields": "id,name,utilisation"}), queries(detail)
    seed(tenant_a, 8, start=1, addresses=4)
    octet = 1 + tenant_a.pk % 200
    IPAddress.objects.bulk_create([IPAddress(network=net, tenant=tenant_a, address=f"127.{octet}.0.{i}",
                                             address_key=ipam.key(ipam.parse_address(f"127.{octet}.0.{i}")))
                                   for i in range(100, 200)])
    many = queries(path, {"fields": "id,name,utilisation"}), queries(detail)
    assert many == few, (few, many)


def test_mcp_get_and_list(operator_a, tenant_a):
    from mcp_gateway.registry import registry
    from mcp_gateway.server import CallerEnv, execute

    (net, pool), = seed(tenant_a, 1)
    env = CallerEnv(principal=Principal(operator_a, via="api_key"), ip="127.0.0.1", user_agent="pytest")
    got, is_error = execute(registry.get("network_get"), {"id": net.pk}, env)
    assert not is_error and got["utilisation"] == {"size": 254, "used": 3, "free": 251, "percent": 1.2}
    got, is_error = execute(registry.get("pool_get"), {"id": pool.pk}, env)
    assert not is_error and got["utilisation"]["used"] == 2
    listed, is_error = execute(registry.get("network_list"), {}, env)
    assert not is_error and "utilisation" not in listed["items"][0]
    seed(tenant_a, 5, start=1)

    def queries(args):
        with CaptureQueriesContext(connection) as ctx:
            listed, is_error = execute(registry.get("network_list"), args, env)
        assert not is_error, listed
        return listed, len(ctx.captured_queries)

    listed, n_all = queries({"fields": ["id", "name", "utilisation"]})
    assert [i["utilisation"]["used"] for i in listed["items"]] == [3] * 6
    _, n_two = queries({"fields": ["id", "name", "utilisation"], "limit": 2})
    assert n_all == n_two
    pools, is_error = execute(registry.get("pool_list"), {"network_id": net.pk, "fields": ["id", "utilisation"]}, env)
    assert not is_error and pools["items"][0]["utilisation"]["free"] == 8
    schema = registry.get("pool_get").output_schema
    assert "utilisation" in str(schema)


def test_mcp_over_http(mcp_server, make_user):
    """The official client over real HTTP: the output schema validates the nested object."""
    from inventory.models import Tenant
    from tests.test_mcp_support import api_key, call, mcp_client, run

    tenant = Tenant.objects.create(name="Acme")
    user = make_user("alice", {tenant: "operator"})
    (net, pool), = seed(tenant, 1)
    token = api_key(user, scopes=["inventory:read"])

    async def body():
        async with mcp_client(mcp_server.url, token) as client:
            got, is_error = await call(client, "pool_get", {"id": pool.pk})
            assert not is_error and got["utilisation"] == {"size": 10, "used": 2, "free": 8, "percent": 20.0}
            listed, is_error = await call(client, "network_list", {"fields": ["id", "utilisation"]})
            assert not is_error and listed["items"][0]["utilisation"]["used"] == 3

    run(body)
