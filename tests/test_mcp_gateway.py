"""The MCP gateway over real HTTP: the official `mcp` client against uvicorn, both protocol eras."""

from __future__ import annotations

import jsonschema
import pytest

from tests.test_mcp_support import MODES, api_key, call, confirmed, mcp_client, oauth_token, rest, run

pytestmark = pytest.mark.django_db(transaction=True)


def _setup(make_user, tenant_a, tenant_b):
    from inventory.models import Datacenter

    admin = make_user("mcp_admin", {tenant_a: "admin"})
    other = make_user("mcp_other", {tenant_b: "admin"})
    dc_b = Datacenter.objects.create(tenant=tenant_b, name="b-east")
    return admin, other, dc_b


@pytest.mark.parametrize("mode", MODES)
def test_tools_schemas_and_crud_visible_over_rest(mcp_server, make_user, tenant_a, tenant_b, mode):
    from mcp_gateway.models import McpCall

    admin, _other, dc_b = _setup(make_user, tenant_a, tenant_b)
    key = api_key(admin)
    url = mcp_server.url

    async def body():
        async with mcp_client(url, key, mode) as client:
            listed = await client.list_tools()
            tools = {t.name: t for t in listed.tools}
            assert [t.name for t in listed.tools] == [t.name for t in (await client.list_tools()).tools]
            for name in ("search", "device_save", "device_get", "device_list", "device_delete",
                         "device_add_relationship", "device_get_relationships", "device_remove_relationship",
                         "datacenter_list", "datacenter_save", "network_save", "pool_list", "pool_get_next_ip",
                         "tenant_list", "tenant_get", "tenant_save"):
                assert name in tools, name
            # a tenant admin may not create or delete tenants
            assert "tenant_delete" not in tools
            for t in listed.tools:
                jsonschema.Draft202012Validator.check_schema(t.input_schema)
                assert t.input_schema["type"] == "object"
                if t.output_schema is not None:
                    jsonschema.Draft202012Validator.check_schema(t.output_schema)
                    assert t.output_schema["type"] == "object"
                assert t.title and t.annotations is not None
            assert all(tools[n].output_schema for n in tools if n.split("_")[0] in
                       ("search", "device", "datacenter", "network", "pool", "tenant"))
            assert tools["device_list"].annotations.read_only_hint is True
            assert tools["device_delete"].annotations.destructive_hint is True
            assert tools["device_get"].annotations.idempotent_hint is True
            assert tools["device_save"].annotations.open_world_hint is False

            dc, err = await call(client, "datacenter_save", {"name": "east", "location": "Frankfurt"})
            assert not err, dc
            assert dc["tenant_id"] == tenant_a.pk
            net, err = await call(client, "network_save", {"name": "lan", "subnet": "127.101.0.0/24",
                                                           "datacenter_id": dc["id"], "vlan_id": 10})
            assert not err, net
            pool, err = await call(client, "pool_save", {"name": "hosts", "network_id": net["id"],
                                                         "start_address": "127.101.0.10", "end_address": "127.101.0.20"})
            assert not err, pool
            dev, err = await call(client, "device_save", {
                "name": "web-01", "make_model": "Dell R740", "os": "Ubuntu 24.04", "datacenter_id": dc["id"],
                "tags": ["web", "prod"], "addresses": [{"ip": "127.101.0.5", "type": "ipv4"}],
                "domains": ["web01.example.com"]})
            assert not err, dev
            assert dev["datacenter_id"] == dc["id"] and sorted(dev["tags"]) == ["prod", "web"]
            assert dev["addresses"][0]["ip"] == "127.101.0.5"
            rack, _ = await call(client, "device_save", {"name": "rack-01"})
            rel, err = await call(client, "device_add_relationship",
                                  {"parent_id": rack["id"], "child_id": dev["id"], "type": "contains"})
            assert not err, rel
            rels, _ = await call(client, "device_get_relationships", {"id": dev["id"]})
            assert [r["parent_id"] for r in rels["parents"]] == [rack["id"]]
            ip, err = await call(client, "pool_get_next_ip", {"pool_id": pool["id"], "device_id": dev["id"]})
            assert not err and ip["address"] == "127.101.0.10" and ip["pool_id"] == pool["id"]
            ip2, _ = await call(client, "pool_get_next_ip", {"pool_id": pool["id"]})
            assert ip2["address"] == "127.101.0.11"

            updated, err = await call(client, "device_save", {"id": dev["id"], "os": "Debian 13"})
            assert not err and updated["os"] == "Debian 13" and updated["name"] == "web-01"
            got, _ = await call(client, "device_get", {"id": dev["id"]})
            assert got["os"] == "Debian 13"
            listed_devices, _ = await call(client, "device_list", {"tags": ["web"]})
            assert [d["id"] for d in listed_devices["items"]] == [dev["id"]]
            assert listed_devices["count"] == 1 and listed_devices["has_more"] is False
            assert listed_devices["limit"] == 50 and listed_devices["offset"] == 0
            page, _ = await call(client, "device_list", {"limit": 1, "fields": ["name", "os"]})
            assert page["has_more"] is True and set(page["items"][0]) == {"id", "name", "os"}
            found, _ = await call(client, "search", {"query": "web"})
            assert [d["id"] for d in found["devices"]] == [dev["id"]]
            dcs, _ = await call(client, "datacenter_list")
            assert [d["id"] for d in dcs["items"]] == [dc["id"]]  # not tenant B's

            # every declared output schema accepts the real results
            for name, result in (("datacenter_save", dc), ("network_save", net), ("pool_save", pool),
                                 ("device_save", dev), ("device_add_relationship", rel),
                                 ("device_get_relationships", rels), ("pool_get_next_ip", ip),
                                 ("device_list", listed_devices), ("device_list", page), ("search", found)):
                jsonschema.validate(result, tools[name].output_schema)

            # the same objects over REST
            r = rest(url, key, "GET", f"/api/devices/{dev['id']}/")
            assert r.status_code == 200, r.text
            assert r.json()["os"] == "Debian 13" and r.json()["datacenter"]["id"] == dc["id"]  # a reference over REST, an id in MCP

            removed, err = await confirmed(client, "device_remove_relationship", {"id": rel["id"]})
            assert not err and removed["deleted"]
            gone, err = await confirmed(client, "device_delete", {"id": dev["id"]})
            assert not err and gone == {"deleted": True, "id": dev["id"], "display": "web-01"}
            assert rest(url, key, "GET", f"/api/devices/{dev['id']}/").status_code == 404
            missing, err = await call(client, "device_get", {"id": dev["id"]})
            assert err and missing["error"]["code"] == "NOT_FOUND"
            jsonschema.validate(missing, tools["device_get"].output_schema)  # errors fit the schema too

    run(body)
    calls = McpCall.objects.filter(user=admin)
    assert calls.count() == 20  # one row per tools/call (the two deletes asked for confirmation first)
    assert set(calls.values_list("outcome", flat=True)) == {"ok", "error", "pending"}
    row = calls.filter(tool="device_delete", outcome="ok").get()
    assert row.auth_kind == "api_key" and row.tenant_id == tenant_a.pk and row.ip == "127.0.0.1"
    assert row.duration_ms > 0 and row.user_agent
    # every column as written by the audit's own INSERT reads back as the model's types
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    assert isinstance(row.call_id, uuid.UUID) and set(row.arguments) == {"id", "confirm_token"} and isinstance(row.arguments["id"], int)
    assert row.arguments["confirm_token"] == "***"  # the token's value is never stored
    assert timezone.now() - timedelta(minutes=5) < row.created <= timezone.now()
    assert row.served_by and row.transport == "http" and row.username == admin.username


def test_oauth_token_bound_to_mcp(mcp_server, make_user, tenant_a):
    """An OAuth token bound to /mcp works; one bound to /api does not (401 challenge)."""
    import httpx2 as httpx

    from mcp_gateway.models import McpCall

    user = make_user("oauth_user", {tenant_a: "operator"})
    token, app = oauth_token(user, scopes="inventory:read inventory:write tenant:*", resource=f"{mcp_server.url}/mcp")
    api_token, _ = oauth_token(user, resource=f"{mcp_server.url}/api", client_name="API only")

    async def body():
        async with mcp_client(mcp_server.url, token, "2026-07-28") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_save" in names and "device_delete" not in names  # no delete scope, no admin role
            dev, err = await call(client, "device_save", {"name": "oauth-dev"})
            assert not err, dev

    run(body)
    row = McpCall.objects.get(tool="device_save")
    assert row.auth_kind == "oauth" and row.client_id == app.client_id and row.client_name == "Test client"
    r = httpx.post(f"{mcp_server.url}/mcp", headers={"Authorization": f"Bearer {api_token}",
                                                     "Content-Type": "application/json",
                                                     "Accept": "application/json, text/event-stream"},
                   json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert "resource_metadata=" in r.headers["www-authenticate"]


def test_protocol_versions_and_malformed_requests(mcp_server, make_user, tenant_a):
    import httpx2 as httpx
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    key = api_key(make_user("proto", {tenant_a: "viewer"}))
    url = f"{mcp_server.url}/mcp"
    base = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream"}

    async def body():
        async with mcp_client(mcp_server.url, key, "auto") as client:  # probes server/discover
            assert client.protocol_version == "2026-07-28"
            assert (await client.list_tools()).tools
        async with mcp_client(mcp_server.url, key, "legacy") as client:
            assert client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS

    run(body)
    # a 2025-06-18 client: initialize, then stateless calls carrying the negotiated version
    r = httpx.post(url, headers=base, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}})
    assert r.status_code == 200 and r.json()["result"]["protocolVersion"] == "2025-06-18"
    assert "mcp-session-id" not in r.headers  # stateless: any worker can serve the next request
    old = {**base, "MCP-Protocol-Version": "2025-06-18"}
    r = httpx.post(url, headers=old, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
    assert r.status_code == 200 and any(t["name"] == "device_list" for t in r.json()["result"]["tools"])
    r = httpx.post(url, headers=old, json={"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                           "params": {"name": "device_list", "arguments": {}}})
    assert r.json()["result"]["structuredContent"]["items"] == []
    # malformed: JSON-RPC errors, not tool results
    r = httpx.post(url, headers=old, content=b"{not json")
    assert r.json()["error"]["code"] == -32700
    r = httpx.post(url, headers=old, json={"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {}})
    assert r.json()["error"]["code"] == -32602
    r = httpx.post(url, headers=old, json={"jsonrpc": "2.0", "id": 5, "method": "no/such", "params": {}})
    assert r.json()["error"]["code"] == -32601
    # exact path only: no redirects, no trailing-slash games
    r = httpx.post(f"{url}/", headers=old, json={"jsonrpc": "2.0", "id": 6, "method": "tools/list"})
    assert r.status_code == 404
