"""Shared fixtures and helpers of the MCP gateway tests (imported by tests/test_mcp_*.py).

One uvicorn per test (``transactional_db`` flushes the tables between tests, content types
included, which a long-lived server process would keep cached).
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import anyio
import httpx2 as httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.servers import UvicornServer

MODES = ["2026-07-28", "legacy"]


def run(coro_fn, *args, **kwargs):
    """Run an async test body (anyio, asyncio backend)."""
    return anyio.run(lambda: coro_fn(*args, **kwargs))


@pytest.fixture
def mcp_server(transactional_db):
    with UvicornServer(workers=1) as server:
        yield server


@asynccontextmanager
async def mcp_client(url: str, token: str | None, mode: str = "2026-07-28", headers: dict | None = None):
    """An MCP client; no keep-alive, so with several workers consecutive requests spread over them."""
    hdrs = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(headers=hdrs, timeout=30, limits=limits) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client:
            yield client


async def call(client, name: str, args: dict | None = None):
    """Call a tool: (structured content, is_error); also checks the text mirrors it."""
    result = await client.call_tool(name, args or {})
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content, bool(result.is_error)


async def confirmed(client, name: str, args: dict | None = None):
    """Call a tool as a user who confirms it: a CONFIRMATION_REQUIRED answer is followed by the
    same call with its confirm_token (mcp_gateway.confirm). Returns (structured content, is_error)."""
    data, is_error = await call(client, name, args)
    if is_error and data["error"]["code"] == "CONFIRMATION_REQUIRED":
        token = data["error"]["details"]["confirm_token"]
        data, is_error = await call(client, name, {**(args or {}), "confirm_token": token})
    return data, is_error


def execute_confirmed(tool, args: dict, env):
    """In-process ``server.execute`` as a user who confirms: a CONFIRMATION_REQUIRED answer is
    followed by the same call with its confirm_token."""
    from mcp_gateway.server import execute

    result, is_error = execute(tool, args, env)
    if is_error and result["error"]["code"] == "CONFIRMATION_REQUIRED":
        result, is_error = execute(tool, {**args, "confirm_token": result["error"]["details"]["confirm_token"]}, env)
    return result, is_error


def api_key(user, *, scopes=(), tenant=None, name="test key") -> str:
    from oauth.models import ApiKey

    _key, raw = ApiKey.create(user, name, scopes=scopes, tenant=tenant)
    return raw


def rest(url: str, token: str, method: str, path: str, **kwargs):
    return httpx.request(method, f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs)


def oauth_token(user, *, scopes="inventory:read inventory:write inventory:delete tenant:*", resource=None,
                client_name="Test client"):
    """Mint a DOT access token row for ``user`` bound to the MCP resource (what the OAuth flow issues)."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    from oauth.resources import mcp_resource

    app = get_application_model().objects.create(
        name=client_name, client_type="public", authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1:9/callback", user=user,
    )
    raw = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user, application=app, token=raw, scope=scopes,
        expires=timezone.now() + timedelta(hours=1), resource=[resource or mcp_resource()],
    )
    return raw, app
