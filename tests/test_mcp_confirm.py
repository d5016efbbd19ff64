"""Confirmation before destructive MCP calls, on each of the three paths, with the official SDK
client over real HTTP (and the SSE transport for 2025 elicitation); dry_run; per-tenant policy."""

from __future__ import annotations

import mcp_types as types
import pytest

from tests.test_mcp_support import api_key, call, mcp_client, mcp_server, rest, run  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _answer(confirm: bool | None, seen: list):
    """An elicitation callback: accept with confirm=<confirm>, or decline (None)."""

    async def callback(ctx, params):
        seen.append(params)
        if confirm is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"confirm": confirm})

    return callback


def _devices(tenant, n, prefix="d"):
    from inventory.models import Device

    return [Device.objects.create(tenant=tenant, name=f"{prefix}{i}") for i in range(n)]


def _sse_client(url, key, **kwargs):
    from mcp import Client
    from mcp.client.sse import sse_client

    return Client(sse_client(f"{url}/mcp/sse", headers={"Authorization": f"Bearer {key}"}), mode="legacy", **kwargs)


def _modern_client(url, key, **kwargs):
    import httpx2 as httpx
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return http, Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="2026-07-28", **kwargs)


def _legacy_http_client(url, key, **kwargs):
    import httpx2 as httpx
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return http, Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy", **kwargs)


@pytest.mark.parametrize("transport", ["2026-07-28", "legacy-sse"])
def test_elicited_confirmation_decline_writes_nothing_accept_runs_once(mcp_server, make_user, tenant_a, transport):
    """2026-07-28: an input_required round; 2025 session with elicitation: elicitation/create."""
    from inventory.models import Device
    from mcp_gateway.models import Confirmation, McpCall

    admin = make_user("c_admin", {tenant_a: "admin"})
    key = api_key(admin)
    device, other = _devices(tenant_a, 2)
    seen: list = []

    async def with_client(confirm, fn):
        if transport == "legacy-sse":
            async with _sse_client(mcp_server.url, key, elicitation_callback=_answer(confirm, seen)) as client:
                return await fn(client)
        http, client = _modern_client(mcp_server.url, key, elicitation_callback=_answer(confirm, seen))
        async with http, client:
            return await fn(client)

    # declined: nothing deleted
    out, err = run(with_client, None, lambda c: call(c, "device_delete", {"id": device.pk}))
    assert err and out["error"]["code"] == "CONFIRMATION_DECLINED", out
    assert "nothing was changed" in out["error"]["message"]
    # accepted with confirm=false counts as a no
    out, err = run(with_client, False, lambda c: call(c, "device_delete", {"id": device.pk}))
    assert err and out["error"]["code"] == "CONFIRMATION_DECLINED", out
    assert Device.objects.filter(pk=device.pk).exists()
    # confirmed: runs, once
    out, err = run(with_client, True, lambda c: call(c, "device_delete", {"id": device.pk}))
    assert not err and out["deleted"] is True, out
    # read-only and non-destructive tools never ask
    out, err = run(with_client, True, lambda c: call(c, "device_get", {"id": other.pk}))
    assert not err
    out, err = run(with_client, True, lambda c: call(c, "device_save", {"id": other.pk, "description": "x"}))
    assert not err, out

    assert not Device.objects.filter(pk=device.pk).exists()
    assert len(seen) == 3
    assert f"deletes device {device.name}" in seen[0].message
    assert seen[0].requested_schema["properties"]["confirm"]["type"] == "boolean"
    path = "input_required" if transport == "2026-07-28" else "elicitation"
    rows = list(Confirmation.objects.order_by("created", "id").values_list("path", "status", "tool"))
    assert rows == [(path, "declined", "device_delete"), (path, "declined", "device_delete"),
                    (path, "accepted", "device_delete")]
    outcomes = list(McpCall.objects.filter(tool="device_delete").order_by("created", "id")
                    .values_list("outcome", flat=True))
    if transport == "2026-07-28":  # each round is one tools/call
        assert outcomes == ["pending", "declined", "pending", "declined", "pending", "ok"]
    else:
        assert outcomes == ["declined", "declined", "ok"]
    accepted = Confirmation.objects.get(status="accepted")
    assert McpCall.objects.filter(call_id=accepted.answer_call_id, outcome="ok").exists()


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
def test_token_confirmation_single_use_bound_to_caller_tool_and_arguments(mcp_server, make_user, tenant_a, mode):
    """Clients without elicitation (and 2025 HTTP, which has no back-channel here): the
    CONFIRMATION_REQUIRED error and its token."""
    from inventory.models import Device
    from mcp_gateway.models import Confirmation

    admin = make_user("t_admin", {tenant_a: "admin"})
    admin2 = make_user("t_admin2", {tenant_a: "admin"})
    key, key_same_user, key_other = api_key(admin), api_key(admin, name="second"), api_key(admin2)
    d1, d2 = _devices(tenant_a, 2)
    seen: list = []

    async def first():
        # legacy HTTP with an elicitation callback still gets a token: no back-channel (stateless)
        factory = _legacy_http_client if mode == "legacy" else _modern_client
        kwargs = {"elicitation_callback": _answer(True, seen)} if mode == "legacy" else {}
        http, client = factory(mcp_server.url, key, **kwargs)
        async with http, client:
            out, err = await call(client, "device_delete", {"id": d1.pk})
            assert err and out["error"]["code"] == "CONFIRMATION_REQUIRED", out
            details = out["error"]["details"]
            token = details["confirm_token"]
            assert details["impact"]["summary"].startswith(f"deletes device {d1.name}")
            assert "confirm_token" in out["error"]["message"]
            # for other arguments: refused, nothing deleted
            out, err = await call(client, "device_delete", {"id": d2.pk, "confirm_token": token})
            assert err and out["error"]["code"] == "CONFIRMATION_INVALID", out
            # a garbage token
            out, err = await call(client, "device_delete", {"id": d1.pk, "confirm_token": "nope"})
            assert err and out["error"]["code"] == "CONFIRMATION_INVALID"
        # by another caller (another user; the same user's other key): refused
        for other in (key_other, key_same_user):
            async with mcp_client(mcp_server.url, other, mode) as client:
                out, err = await call(client, "device_delete", {"id": d1.pk, "confirm_token": token})
                assert err and out["error"]["code"] == "CONFIRMATION_INVALID", out
                assert "another caller" in out["error"]["message"]
        return token

    token = run(first)
    assert Device.objects.filter(pk__in=[d1.pk, d2.pk]).count() == 2

    async def use(args):
        async with mcp_client(mcp_server.url, key, mode) as client:
            return await call(client, "device_delete", args)

    out, err = run(use, {"id": d1.pk, "confirm_token": token})
    assert not err and out["deleted"] is True, out
    # replay: refused (also for a new object with the same name)
    d1_again = Device.objects.create(tenant=tenant_a, name=d1.name)
    out, err = run(use, {"id": d1_again.pk, "confirm_token": token})
    assert err and out["error"]["code"] == "CONFIRMATION_INVALID"
    out, err = run(use, {"id": d1.pk, "confirm_token": token})
    assert err and out["error"]["code"] == "CONFIRMATION_INVALID"
    assert "already" in out["error"]["message"]
    assert Device.objects.filter(pk=d1_again.pk).exists()
    assert seen == []  # no elicitation was attempted without a back-channel
    assert list(Confirmation.objects.values_list("path", "status")) == [("token", "accepted")]


def test_token_expires_and_confirmation_is_audited(mcp_server, make_user, tenant_a):
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import Device
    from mcp_gateway.models import Confirmation, McpCall

    admin = make_user("e_admin", {tenant_a: "admin"})
    key = api_key(admin)
    (d1,) = _devices(tenant_a, 1)

    async def use(args):
        async with mcp_client(mcp_server.url, key, "2026-07-28") as client:
            return await call(client, "device_delete", args)

    out, _ = run(use, {"id": d1.pk})
    token = out["error"]["details"]["confirm_token"]
    Confirmation.objects.update(expires=timezone.now() - timedelta(seconds=1))
    out, err = run(use, {"id": d1.pk, "confirm_token": token})
    assert err and out["error"]["code"] == "CONFIRMATION_INVALID" and "expired" in out["error"]["message"]
    assert Device.objects.filter(pk=d1.pk).exists()
    asked = McpCall.objects.filter(tool="device_delete").order_by("created", "id")
    assert [c.outcome for c in asked] == ["pending", "error"]
    assert asked[1].arguments["confirm_token"] == "***"  # never stored in the audit
    row = Confirmation.objects.get()
    assert row.request_call_id == asked[0].call_id and row.status == "pending"
    assert row.token_hash != token and token not in str(row.arguments)


def test_tenant_delete_impact_and_dry_run(mcp_server, superuser, tenant_a, tenant_b):
    from inventory.models import Datacenter, Device, Network, Tenant

    key = api_key(superuser)
    dc = Datacenter.objects.create(tenant=tenant_a, name="east")
    _devices(tenant_a, 3)
    Network.objects.create(tenant=tenant_a, name="lan", subnet="127.10.0.0/24", datacenter=dc)
    _devices(tenant_b, 2, prefix="b")

    async def body():
        async with mcp_client(mcp_server.url, key, "2026-07-28") as client:
            out, err = await call(client, "tenant_delete", {"id": tenant_a.pk, "dry_run": True})
            assert not err, out
            assert out["dry_run"] is True and out["deleted"] is False
            impact = out["impact"]
            assert impact["summary"].startswith("deletes tenant Tenant A: 3 devices")
            assert "1 network" in impact["summary"] and "1 datacenter" in impact["summary"]
            assert impact["counts"]["devices"] == 3 and impact["tenant_id"] == tenant_a.pk
            out, err = await call(client, "tenant_delete", {"id": tenant_a.pk})
            assert err and out["error"]["code"] == "CONFIRMATION_REQUIRED"
            assert out["error"]["details"]["impact"] == impact
            # dry_run of a save: validated, returned, not written
            out, err = await call(client, "device_save", {"name": "dry", "tenant_id": tenant_b.pk, "dry_run": True})
            assert not err and out["dry_run"] is True and out["name"] == "dry", out
            out, err = await call(client, "device_save", {"name": "", "tenant_id": tenant_b.pk, "dry_run": True})
            assert err and out["error"]["code"] == "INVALID_PARAMS"
            out, err = await call(client, "device_save", {"name": "x", "dry_run": "yes"})
            assert err and "dry_run" in out["error"]["details"]

    run(body)
    assert Tenant.objects.filter(pk=tenant_a.pk).exists() and Device.objects.filter(tenant=tenant_a).count() == 3
    assert not Device.objects.filter(name="dry").exists()


def test_policy_per_tenant_rest_and_isolation(mcp_server, make_user, tenant_a, tenant_b):
    from inventory.models import Device

    admin = make_user("p_admin", {tenant_a: "admin"})
    viewer = make_user("p_viewer", {tenant_a: "viewer"})
    other = make_user("p_other", {tenant_b: "admin"})
    key, viewer_key, other_key = api_key(admin), api_key(viewer), api_key(other)
    (d1,) = _devices(tenant_a, 1)
    base = "/api/mcp/confirmation-policies/"

    # bad input: unknown / read-only tool names, a threshold below 0
    for bad in ({"extra_tools": ["nope"]}, {"exempt_tools": ["device_list"]}, {"impact_threshold": -1},
                {"extra_tools": "device_save"}):
        r = rest(mcp_server.url, key, "POST", base, json={"tenant": tenant_a.pk, **bad})
        assert r.status_code == 400, (bad, r.text)
    # another tenant's admin and a viewer may not set tenant A's policy
    r = rest(mcp_server.url, other_key, "POST", base, json={"tenant": tenant_a.pk, "exempt_tools": ["device_delete"]})
    assert r.status_code in (400, 403), r.text
    r = rest(mcp_server.url, viewer_key, "POST", base, json={"tenant": tenant_a.pk})
    assert r.status_code == 403, r.text
    r = rest(mcp_server.url, key, "POST", base, json={
        "tenant": tenant_a.pk, "exempt_tools": ["device_delete"], "extra_tools": ["device_save"]})
    assert r.status_code == 201, r.text
    policy = r.json()
    r = rest(mcp_server.url, key, "POST", base, json={"tenant": tenant_a.pk})
    assert r.status_code == 400, r.text  # one policy per tenant
    assert rest(mcp_server.url, other_key, "GET", base).json()["count"] == 0
    assert rest(mcp_server.url, other_key, "GET", f"{base}{policy['id']}/").status_code == 404
    assert rest(mcp_server.url, viewer_key, "GET", base).json()["count"] == 1

    async def body():
        async with mcp_client(mcp_server.url, key, "2026-07-28") as client:
            out, err = await call(client, "device_save", {"id": d1.pk, "description": "changed"})
            assert err and out["error"]["code"] == "CONFIRMATION_REQUIRED", out
            out, err = await call(client, "device_delete", {"id": d1.pk})
            assert not err and out["deleted"] is True, out

    run(body)
    assert not Device.objects.filter(pk=d1.pk).exists()
