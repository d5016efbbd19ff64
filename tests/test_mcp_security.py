"""MCP gateway: bad input, scopes, tenant isolation, tool groups, DNS rebinding, workers, audit."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from tests.servers import UvicornServer
from tests.test_mcp_support import MODES, api_key, call, mcp_client, run

pytestmark = pytest.mark.django_db(transaction=True)

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
MODERN = {**JSON_HEADERS, "MCP-Protocol-Version": "2026-07-28"}


def _modern_call(url, token, name, arguments, *, method="tools/call", headers=None):
    """A raw 2026-07-28 request as the SDK client sends it (with Mcp-Method / Mcp-Name)."""
    hdrs = {**MODERN, "Mcp-Method": method, **({"Mcp-Name": name} if name else {}), **(headers or {})}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    params = {"name": name, "arguments": arguments} if method == "tools/call" else {}
    params["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                       "io.modelcontextprotocol/clientCapabilities": {}}
    return httpx.post(f"{url}/mcp", headers=hdrs, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                      timeout=30)


def _counts():
    from inventory.models import Datacenter, Device, IPAddress, Network

    return [m.objects.count() for m in (Datacenter, Device, Network, IPAddress)]


@pytest.mark.parametrize("mode", MODES)
def test_bad_input_is_error_with_codes_and_nothing_changes(mcp_server, make_user, tenant_a, tenant_b, mode):
    from inventory.models import Datacenter, Device, IPPool, Network

    user = make_user("op", {tenant_a: "admin"})
    key = api_key(user)
    dc_b = Datacenter.objects.create(tenant=tenant_b, name="theirs")
    dev_b = Device.objects.create(tenant=tenant_b, name="their-dev")
    net_a = Network.objects.create(tenant=tenant_a, name="lan", subnet="127.109.0.0/30")
    full_pool = IPPool.objects.create(network=net_a, name="tiny", start_address="127.109.0.1", end_address="127.109.0.1")
    pool_b = IPPool.objects.create(network=Network.objects.create(tenant=tenant_b, name="theirs", subnet="127.108.0.0/24"),
                                   name="theirs", start_address="127.108.0.1", end_address="127.108.0.9")
    mine = Device.objects.create(tenant=tenant_a, name="mine")
    before = _counts()

    async def body():
        async with mcp_client(mcp_server.url, key, mode) as client:
            async def err(name, args, code):
                data, is_error = await call(client, name, args)
                assert is_error, (name, args, data)
                assert data["error"]["code"] == code, (name, args, data)
                assert data["error"]["message"]
                return data["error"]["details"]

            # missing required fields (checked by the serializer on create)
            details = await err("network_save", {"name": "x"}, "INVALID_PARAMS")
            assert "subnet" in details
            details = await err("device_save", {"description": "no name"}, "INVALID_PARAMS")
            assert details["name"] == ["This field is required."]
            # wrong types (checked against the declared input schema)
            details = await err("device_save", {"name": 5, "tags": "web"}, "INVALID_PARAMS")
            assert set(details) == {"name", "tags"}
            details = await err("device_get", {"id": "abc"}, "INVALID_PARAMS")
            assert "id" in details
            details = await err("device_list", {"limit": 100000}, "INVALID_PARAMS")
            assert "limit" in details
            details = await err("device_save", {"name": "x", "bogus": 1}, "INVALID_PARAMS")
            assert details == {"bogus": ["Unknown field."]}
            # invalid CIDR / host bits
            details = await err("network_save", {"name": "bad", "subnet": "127.100.0.1/24"}, "INVALID_PARAMS")
            assert "subnet" in details
            details = await err("network_save", {"name": "bad", "subnet": "999.1.1.0/24"}, "INVALID_PARAMS")
            assert "subnet" in details
            details = await err("device_save", {"name": "bad-ip", "addresses": [{"ip": "127.100.0.300"}]}, "INVALID_PARAMS")
            assert "addresses" in details
            # unknown ids and other tenants' ids
            await err("device_get", {"id": 999999}, "NOT_FOUND")
            await err("device_get", {"id": dev_b.pk}, "NOT_FOUND")
            await err("device_delete", {"id": dev_b.pk}, "NOT_FOUND")
            await err("device_save", {"id": dev_b.pk, "name": "stolen"}, "NOT_FOUND")
            await err("datacenter_get", {"id": dc_b.pk}, "NOT_FOUND")
            await err("device_get_relationships", {"id": dev_b.pk}, "NOT_FOUND")
            await err("pool_get_next_ip", {"pool_id": pool_b.pk}, "NOT_FOUND")
            await err("pool_get_next_ip", {"pool_id": 999999}, "NOT_FOUND")
            details = await err("device_save", {"name": "x", "datacenter_id": dc_b.pk}, "INVALID_PARAMS")
            assert "datacenter_id" in details  # field named as the tool names it
            details = await err("device_add_relationship",
                                {"parent_id": mine.pk, "child_id": dev_b.pk, "type": "contains"}, "INVALID_PARAMS")
            assert "child_id" in details
            details = await err("device_save", {"name": "x", "tenant_id": tenant_b.pk}, "INVALID_PARAMS")
            assert "tenant_id" in details
            # a failed multi-step save leaves nothing behind (address outside any usable spot)
            await err("device_save", {"name": "half", "addresses": [{"ip": "127.100.0.1", "type": "ipv6"}]},
                      "INVALID_PARAMS")
            # conflicts: duplicate name, full pool
            await err("device_save", {"name": "mine"}, "INVALID_PARAMS")
            first, is_error = await call(client, "pool_get_next_ip", {"pool_id": full_pool.pk})
            assert not is_error, first
            await err("pool_get_next_ip", {"pool_id": full_pool.pk}, "CONFLICT")
            # unknown tool: a JSON-RPC error, not a result
            with pytest.raises(Exception) as exc:
                await client.call_tool("no_such_tool", {})
            assert "Unknown tool" in str(exc.value)

    run(body)
    after = _counts()
    assert after[:3] == before[:3] and after[3] == before[3] + 1  # only the one allocation
    assert not Device.objects.filter(name__in=["half", "x", "bad-ip", "stolen"]).exists()
    assert Device.objects.get(pk=dev_b.pk).name == "their-dev"


def test_scope_challenge_and_forbidden(mcp_server, make_user, tenant_a):
    from inventory.models import Device
    from mcp_gateway.models import McpCall

    user = make_user("reader", {tenant_a: "admin"})
    read_only = api_key(user, scopes=["inventory:read"])
    dev = Device.objects.create(tenant=tenant_a, name="keep-me")

    # 2026 clients name the tool in headers: an HTTP 403 insufficient_scope challenge
    r = _modern_call(mcp_server.url, read_only, "device_delete", {"id": dev.pk})
    assert r.status_code == 403, r.text
    challenge = r.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="inventory:delete"' in challenge
    assert "resource_metadata=" in challenge
    # a read tool passes the gate
    r = _modern_call(mcp_server.url, read_only, "device_get", {"id": dev.pk})
    assert r.status_code == 200 and r.json()["result"]["structuredContent"]["name"] == "keep-me"

    async def body():
        # legacy clients send no tool header: the call itself answers FORBIDDEN
        async with mcp_client(mcp_server.url, read_only, "legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_get" in names and not names & {"device_save", "device_delete", "pool_get_next_ip"}
            data, is_error = await call(client, "device_delete", {"id": dev.pk})
            assert is_error and data["error"]["code"] == "FORBIDDEN"
            assert data["error"]["details"] == {"required_scopes": ["inventory:delete"]}

    run(body)
    assert Device.objects.filter(pk=dev.pk).exists()
    denied = McpCall.objects.get(outcome="denied")
    assert denied.tool == "device_delete" and denied.error_code == "FORBIDDEN"

    # no credential / bad credential: 401 with the resource_metadata challenge
    for token in (None, "inv_not-a-real-key"):
        r = _modern_call(mcp_server.url, token, "device_get", {"id": dev.pk})
        assert r.status_code == 401
        assert "resource_metadata=" in r.headers["www-authenticate"]
        assert "/.well-known/oauth-protected-resource/mcp" in r.headers["www-authenticate"]


def test_roles_and_tenant_isolation_through_tools(mcp_server, make_user, tenant_a, tenant_b):
    from inventory.models import Datacenter, Device, Network

    viewer = make_user("viewer", {tenant_a: "viewer"})
    operator = make_user("operator", {tenant_a: "operator", tenant_b: "viewer"})
    Datacenter.objects.create(tenant=tenant_b, name="b-dc")
    dev_a = Device.objects.create(tenant=tenant_a, name="a-dev")
    dev_b = Device.objects.create(tenant=tenant_b, name="b-dev")
    Network.objects.create(tenant=tenant_b, name="b-net", subnet="127.102.0.0/24")
    viewer_key, operator_key, operator_b_key = api_key(viewer), api_key(operator), api_key(operator, tenant=tenant_b)

    async def body():
        async with mcp_client(mcp_server.url, viewer_key) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_list" in names and "device_save" not in names and "device_delete" not in names
            devices, _ = await call(client, "device_list")
            assert [d["id"] for d in devices["items"]] == [dev_a.pk]
            nets, _ = await call(client, "network_list")
            assert nets["items"] == []
            found, _ = await call(client, "search", {"query": "dev"})
            assert [d["id"] for d in found["devices"]] == [dev_a.pk]
            tenants, _ = await call(client, "tenant_list")
            assert [t["id"] for t in tenants["items"]] == [tenant_a.pk]
            data, is_error = await call(client, "device_save", {"id": dev_a.pk, "name": "renamed"})
            assert is_error and data["error"]["code"] == "FORBIDDEN"
        async with mcp_client(mcp_server.url, operator_key) as client:
            # sees both tenants, may write only in A
            devices, _ = await call(client, "device_list")
            assert {d["id"] for d in devices["items"]} == {dev_a.pk, dev_b.pk}
            data, is_error = await call(client, "device_save", {"id": dev_b.pk, "name": "renamed"})
            assert is_error and data["error"]["code"] == "FORBIDDEN"
            data, is_error = await call(client, "device_save", {"name": "new-in-a", "tenant_id": tenant_a.pk})
            assert not is_error and data["tenant_id"] == tenant_a.pk
            data, is_error = await call(client, "device_save", {"name": "new-in-b", "tenant_id": tenant_b.pk})
            assert is_error and data["error"]["code"] == "FORBIDDEN"
            data, is_error = await call(client, "tenant_save", {"id": tenant_a.pk, "name": "Mine now"})
            assert is_error and data["error"]["code"] == "FORBIDDEN"
        # a key narrowed to tenant B sees nothing of A
        async with mcp_client(mcp_server.url, operator_b_key) as client:
            devices, _ = await call(client, "device_list")
            assert [d["id"] for d in devices["items"]] == [dev_b.pk]
            data, is_error = await call(client, "device_get", {"id": dev_a.pk})
            assert is_error and data["error"]["code"] == "NOT_FOUND"

    run(body)
    assert set(Device.objects.values_list("name", flat=True)) == {"a-dev", "b-dev", "new-in-a"}


def test_tool_groups_per_tenant_and_client(mcp_server, make_user, tenant_a, tenant_b, superuser):
    from inventory.models import Device, Network
    from mcp_gateway.models import ToolGroupPolicy
    from tests.test_mcp_support import oauth_token

    user = make_user("both", {tenant_a: "admin", tenant_b: "admin"})
    Device.objects.create(tenant=tenant_a, name="a-dev")
    Device.objects.create(tenant=tenant_b, name="b-dev")
    net_b = Network.objects.create(tenant=tenant_b, name="b-net", subnet="127.103.0.0/24")
    # tenant B turned the ipam group off for every client
    ToolGroupPolicy.objects.create(tenant=tenant_b, enabled_groups=["inventory", "tenants"])
    token, app = oauth_token(user, resource=f"{mcp_server.url}/mcp")
    # and restricted this OAuth client to the inventory group in tenant A
    ToolGroupPolicy.objects.create(tenant=tenant_a, client_id=app.client_id, enabled_groups=["inventory"])
    key = api_key(user)

    async def body():
        async with mcp_client(mcp_server.url, key) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "network_list" in names  # still enabled in tenant A
            nets, _ = await call(client, "network_list")
            assert nets["items"] == []  # B's networks are out of reach through ipam tools
            data, is_error = await call(client, "network_get", {"id": net_b.pk})
            assert is_error and data["error"]["code"] == "NOT_FOUND"
            devices, _ = await call(client, "device_list")
            assert len(devices["items"]) == 2
        async with mcp_client(mcp_server.url, token) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_list" in names and "network_list" not in names and "pool_get_next_ip" not in names
            tenants, _ = await call(client, "tenant_list")  # "tenants" is off for this client in A only
            assert [t["id"] for t in tenants["items"]] == [tenant_b.pk]
            data, is_error = await call(client, "network_list")
            assert is_error and data["error"]["code"] == "FORBIDDEN"

    run(body)


def test_dns_rebinding_rejected(mcp_server, make_user, tenant_a):
    key = api_key(make_user("u", {tenant_a: "viewer"}))
    r = _modern_call(mcp_server.url, key, None, {}, method="tools/list", headers={"Host": "evil.example:80"})
    assert r.status_code == 421
    r = _modern_call(mcp_server.url, key, None, {}, method="tools/list", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    # without credentials too: the host check comes first
    r = _modern_call(mcp_server.url, None, None, {}, method="tools/list", headers={"Host": "evil.example"})
    assert r.status_code == 421
    r = _modern_call(mcp_server.url, key, None, {}, method="tools/list", headers={"Origin": mcp_server.url})
    assert r.status_code == 200
    r = httpx.get(f"{mcp_server.url}/mcp/sse", headers={"Authorization": f"Bearer {key}", "Origin": "https://evil.example"})
    assert r.status_code == 403


@pytest.mark.parametrize("mode", MODES)
def test_two_workers_serve_one_client(transactional_db, make_user, tenant_a, mode):
    """Stateless serving: consecutive requests of one client land on either worker, and each
    sees what the other wrote."""
    from mcp_gateway.models import McpCall

    user = make_user("multi", {tenant_a: "operator"})
    key = api_key(user)
    saved = 0
    with UvicornServer(workers=2) as server:
        # which worker accepts a connection is up to the kernel and the load: call in rounds of
        # ten until both have served (under a loaded host one may win several rounds in a row)
        while saved < 30 or (len(set(McpCall.objects.values_list("served_by", flat=True))) < 2 and saved < 300):
            async def body(first=saved):
                async with mcp_client(server.url, key, mode) as client:
                    for i in range(first, first + 10):
                        data, is_error = await call(client, "device_save", {"name": f"d{i}"})
                        assert not is_error, data
                    listed, _ = await call(client, "device_list", {"limit": 1})
                    assert listed["count"] == first + 10
            run(body)
            saved += 10
        log = server.output()
    assert McpCall.objects.filter(outcome="ok").count() == saved + saved // 10
    # one client, one connection per request, both worker processes took turns
    assert len(set(McpCall.objects.values_list("served_by", flat=True))) == 2
    assert "Traceback" not in log


def test_audit_rows_redact_secrets(mcp_server, make_user, tenant_a):
    from mcp_gateway.audit import REDACTED, redact
    from mcp_gateway.models import McpCall

    user = make_user("auditee", {tenant_a: "operator"})
    key = api_key(user)

    async def body():
        async with mcp_client(mcp_server.url, key, headers={"User-Agent": "audit-test/1.0"}) as client:
            data, is_error = await call(client, "device_save", {
                "name": "with-secrets", "facts": {"bmc_password": "hunter2", "api_token": "t0k", "ram": "64G",
                                                  "nested": {"ssh_private_key": "-----BEGIN"}}})
            assert not is_error, data

    run(body)
    row = McpCall.objects.get(tool="device_save")
    facts = row.arguments["facts"]
    assert facts["bmc_password"] == REDACTED and facts["api_token"] == REDACTED and facts["ram"] == "64G"
    assert facts["nested"]["ssh_private_key"] == REDACTED
    assert row.user_agent.startswith("audit-test") and row.username == "auditee" and row.outcome == "ok"
    assert redact({"Secret": "x", "keys": ["a"], "plain": {"token": ""}}) == {"Secret": REDACTED, "keys": REDACTED,
                                                                               "plain": {"token": ""}}
    # the model change carries the same actor in django-auditlog, linked to the call
    from auditlog.models import LogEntry

    entry = LogEntry.objects.filter(object_repr="with-secrets").first()
    assert entry is not None and entry.actor_id == user.pk and entry.cid == str(row.call_id)
