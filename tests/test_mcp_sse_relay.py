"""The legacy HTTP+SSE transport with no sticky sessions: the stream is held by one server, every
message is POSTed to another (two uvicorn processes on one database and Redis, as behind a
round-robin load balancer), and the message is relayed through Redis (mcp_gateway.sse_relay)."""

from __future__ import annotations

import json
import time
import uuid

import anyio
import httpx2 as httpx
import pytest

from tests.servers import UvicornServer
from tests.test_mcp_support import api_key, call, run

pytestmark = pytest.mark.redis


@pytest.fixture
def two_servers(transactional_db):
    with UvicornServer(workers=1) as holder, UvicornServer(workers=1) as other:
        yield holder, other


class PostsElsewhere(httpx.AsyncBaseTransport):
    """Sends GETs to the server the client connected to, and every POST to ``other``."""

    def __init__(self, other_port: int):
        self.inner = httpx.AsyncHTTPTransport()
        self.other_port = other_port
        self.posts = 0

    async def handle_async_request(self, request):
        if request.method == "POST":
            self.posts += 1
            request.url = request.url.copy_with(port=self.other_port)
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


def test_official_client_over_sse_with_messages_posted_to_another_server(two_servers, make_user, tenant_a):
    from mcp import Client
    from mcp.client.sse import sse_client

    from mcp_gateway.models import McpCall

    holder, other = two_servers
    key = api_key(make_user("sse_relay", {tenant_a: "operator"}))
    transport = PostsElsewhere(int(other.url.rsplit(":", 1)[1]))

    def factory(headers=None, timeout=None, auth=None):
        return httpx.AsyncClient(headers=headers, timeout=timeout or 30, auth=auth, transport=transport)

    async def body():
        with anyio.fail_after(60):  # a message lost on the way leaves the client waiting: fail instead
            await session()

    async def session():
        async with Client(sse_client(f"{holder.url}/mcp/sse", headers={"Authorization": f"Bearer {key}"},
                                     httpx_client_factory=factory), mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_save" in names
            saved, is_error = await call(client, "device_save", {"name": "relayed-dev"})
            assert not is_error, saved
            got, is_error = await call(client, "device_get", {"id": saved["id"]})
            assert not is_error and got["name"] == "relayed-dev"
            missing, is_error = await call(client, "device_get", {"id": 999999})
            assert is_error and missing["error"]["code"] == "NOT_FOUND"

    run(body)
    assert transport.posts >= 5  # initialize, initialized, tools/list, 3 calls: all sent to the other server
    calls = list(McpCall.objects.filter(username="sse_relay").order_by("id"))
    assert [c.tool for c in calls] == ["device_save", "device_get", "device_get"]
    assert {c.transport for c in calls} == {"sse"} and {c.auth_kind for c in calls} == {"api_key"}
    assert all(c.served_by.endswith(f":{holder.proc.pid}") for c in calls)  # run where the stream is


async def _open_stream(url: str, key: str, stack):
    """GET /mcp/sse; returns (endpoint path with session id, async iterator of the stream's events)."""
    http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
    response = await stack.enter_async_context(
        http.stream("GET", f"{url}/mcp/sse", headers={"Authorization": f"Bearer {key}"}))
    assert response.status_code == 200

    async def events():
        event = {}
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event["event"] = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                event["data"] = line.split(":", 1)[1].strip()
            elif not line and event:
                yield event
                event = {}

    stream = events()
    first = await anext(stream)
    assert first["event"] == "endpoint"
    return first["data"], stream


def test_relay_refusals_leave_the_session_untouched(two_servers, make_user, tenant_a, tenant_b):
    holder, other = two_servers
    key = api_key(make_user("sse_owner", {tenant_a: "operator"}))
    stranger = api_key(make_user("sse_stranger", {tenant_b: "operator"}))
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}

    def post(path, token, body, **headers):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(f"{other.url}{path}", content=content, timeout=30, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers})

    async def body():
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            endpoint, events = await _open_stream(holder.url, key, stack)
            assert endpoint.startswith("/mcp/messages?session_id=")
            unknown = f"/mcp/messages?session_id={uuid.uuid4().hex}"
            # refused where the POST arrives: nothing reaches the session
            assert (await anyio.to_thread.run_sync(post, endpoint, stranger, initialize)).status_code == 404
            assert (await anyio.to_thread.run_sync(post, unknown, key, initialize)).status_code == 404
            assert (await anyio.to_thread.run_sync(post, endpoint, key, b"{not json")).status_code == 400
            r = await anyio.to_thread.run_sync(lambda: post(endpoint, key, initialize, Origin="https://evil.example"))
            assert r.status_code == 403
            assert (await anyio.to_thread.run_sync(post, endpoint, "inv_bogus", initialize)).status_code == 401
            # accepted: the answer comes back on the stream held by the first server
            assert (await anyio.to_thread.run_sync(post, endpoint, key, initialize)).status_code == 202
            with anyio.fail_after(20):
                event = await anext(events)
            reply = json.loads(event["data"])
            assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"]
        # the stream is closed: its session is gone for every server
        deadline = time.monotonic() + 10
        while (status := (await anyio.to_thread.run_sync(post, endpoint, key, initialize)).status_code) != 404:
            assert status == 202 and time.monotonic() < deadline
            await anyio.sleep(0.2)

    run(body)
