"""Issue 24 items 11-13: exact Host/Origin matching on /mcp, forwarded headers believed only
from TRUSTED_PROXIES, and no invisible characters in client names."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from tests.servers import UvicornServer
from tests.test_mcp_support import api_key, call, mcp_client, run

# --- item 11: Host and Origin are parsed, then compared exactly ---------------------------
ALLOWED = ["127.0.0.1:18200", "127.0.0.1:18200", "localhost:18200", "[::1]:18200"]


def _gate_answer(headers: dict) -> int:
    """The status the /mcp gate answers for these headers (the app behind it answers 200)."""
    from mcp_gateway.auth import AuthGate

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = AuthGate(app)
    statuses = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/mcp", "headers": [
        (k.lower().encode(), v.encode()) for k, v in headers.items()], "client": ("127.0.0.1", 5000),
        "query_string": b"", "scheme": "http", "server": ("127.0.0.1", 18200), "root_path": ""}
    asyncio.run(gate(scope, receive, send))
    return statuses[0]


@pytest.mark.parametrize("host", [
    "127.0.0.1:18200@evil.example", "127.0.0.1:18200.evil.example", "127.0.0.1.evil.example", "127.0.0.1.evil.example:18200",
    "localhost:18200@evil.example", "localhost.evil.example", "127.0.0.1:99999", "127.0.0.1:18200/x", "127.0.0.1: 18200",
    "[::1]:18200.evil.example", "127.0.0.1:*", "evil.example", "", "127.0.0.1:18200:1"])
def test_lookalike_hosts_are_refused(settings, host):
    settings.PUBLIC_URL = "http://127.0.0.1:18200"
    assert _gate_answer({"Host": host}) == 421


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:18200.evil.example", "http://127.0.0.1.evil.example", "http://127.0.0.1:18200@evil.example",
    "http://localhost:18200.evil.example:80", "http://localhost:80@evil.example", "https://evil.example",
    "http://127.0.0.1:18200/", "http://[::1]:18200.evil.example", "ftp://127.0.0.1:18200", "null",
    "http://127.0.0.1:*", "http://127.0.0.1:70000"])
def test_lookalike_origins_are_refused(settings, origin):
    settings.PUBLIC_URL = "http://127.0.0.1:18200"
    assert _gate_answer({"Host": "127.0.0.1:18200", "Origin": origin}) == 403


@pytest.mark.parametrize("headers", [
    {"Host": "127.0.0.1:18200"}, {"Host": "127.0.0.1"}, {"Host": "localhost:5173"}, {"Host": "[::1]:8000"},
    {"Host": "127.0.0.1:18200", "Origin": "http://127.0.0.1:18200"},
    {"Host": "127.0.0.1:18200", "Origin": "http://localhost:5173"},
    {"Host": "127.0.0.1:18200", "Origin": "http://127.0.0.1"},
    {"Host": "127.0.0.1:18200", "Origin": "http://[::1]:3000"}])
def test_real_hosts_and_origins_pass(settings, headers):
    settings.PUBLIC_URL = "http://127.0.0.1:18200"
    # 401: the gate let it through to authentication (no credential given)
    assert _gate_answer(headers) == 401


def test_public_host_matched_exactly(settings):
    settings.PUBLIC_URL = "https://inventory.example.com"
    settings.ALLOWED_HOSTS = ["inventory.example.com"]
    assert _gate_answer({"Host": "inventory.example.com"}) == 401
    assert _gate_answer({"Host": "inventory.example.com:443"}) == 401
    assert _gate_answer({"Host": "inventory.example.com.evil.example"}) == 421
    assert _gate_answer({"Host": "inventory.example.com:443@evil.example"}) == 421
    assert _gate_answer({"Host": "inventory.example.com", "Origin": "https://inventory.example.com"}) == 401
    assert _gate_answer({"Host": "inventory.example.com", "Origin": "https://inventory.example.com.evil.example"}) == 403
    assert _gate_answer({"Host": "inventory.example.com", "Origin": "http://inventory.example.com"}) == 403


# --- item 12: X-Forwarded-For only from TRUSTED_PROXIES -----------------------------------
def _register(url, forwarded_for):
    return httpx.post(f"{url}/oauth/register/", headers={"X-Forwarded-For": forwarded_for}, timeout=30,
                      json={"client_name": "xff", "redirect_uris": ["http://127.0.0.1:9/cb"],
                            "token_endpoint_auth_method": "none"})


def _clear_rate(*ips):
    from django.core.cache import cache

    for ip in ips:
        cache.delete(f"oauth:register:{ip}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_for_is_believed_only_from_trusted_proxies(make_user, tenant_a, trusted):
    from mcp_gateway.models import McpCall

    forged = [f"198.51.100.{n}" for n in range(1, 5)]
    _clear_rate("127.0.0.1", *forged)
    env = {"OAUTH_REGISTRATION_RATE": "2/h", **({"TRUSTED_PROXIES": "127.0.0.1/32"} if trusted else {})}
    user = make_user("xff", {tenant_a: "viewer"})
    token = api_key(user)
    with UvicornServer(env=env) as server:
        statuses = [_register(server.url, ip).status_code for ip in forged]
        if trusted:  # each forwarded client has its own budget
            assert statuses == [201, 201, 201, 201]
        else:  # rotating the header does not get around the limit
            assert statuses == [201, 201, 429, 429]

        async def body():
            async with mcp_client(server.url, token, headers={"X-Forwarded-For": "203.0.113.77"}) as client:
                await call(client, "tenant_list")
        run(body)
    row = McpCall.objects.filter(tool="tenant_list").latest("created")
    assert row.ip == ("203.0.113.77" if trusted else "127.0.0.1")
    _clear_rate("127.0.0.1", *forged)


def test_readme_and_serve_do_not_trust_every_proxy():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    assert "--proxy-headers" not in readme and "--no-proxy-headers" in readme and "TRUSTED_PROXIES" in readme
    serve = (root / "inventory/management/commands/serve.py").read_text()
    assert '"--no-proxy-headers"' in serve


# --- item 13: no invisible characters in client names; the redirect host beside the name ------
@pytest.mark.django_db
def test_registration_strips_format_characters(client):
    resp = client.post("/oauth/register/", {"client_name": "Claude\u202e\u200bgpj.exe\u2066 Desktop\u2028",
                                            "redirect_uris": ["http://127.0.0.1:9/cb"],
                                            "token_endpoint_auth_method": "none"}, content_type="application/json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["client_name"] == "Claudegpj.exe Desktop"
    resp = client.post("/oauth/register/", {"client_name": "x", "redirect_uris": ["http://127.0.0.1:9/c\u202eb"],
                                            "token_endpoint_auth_method": "none"}, content_type="application/json")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_redirect_uri"
    resp = client.post("/oauth/register/", {"client_name": "\u202e\u200b", "redirect_uris": ["http://127.0.0.1:9/cb"],
                                            "token_endpoint_auth_method": "none"}, content_type="application/json")
    assert resp.json()["client_name"] == "Unnamed client"


@pytest.mark.django_db
def test_consent_page_shows_clean_name_and_redirect_host(client, make_user, tenant_a):
    from oauth2_provider.models import Application

    from oauth.resources import mcp_resource

    member = make_user("consent_m", {tenant_a: "operator"})
    redirect = "https://callback.example.net/cb"
    app = Application.objects.create(name="Good\u202eliveC", client_type="public", redirect_uris=redirect,
                                     authorization_grant_type="authorization-code", client_secret="",
                                     hash_client_secret=False, registration_source="dcr")
    client.force_login(member)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(secrets.token_bytes(32)).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": app.client_id, "redirect_uri": redirect, "state": "s",
              "scope": "inventory:read", "code_challenge": challenge, "code_challenge_method": "S256",
              "resource": mcp_resource()}
    page = client.get("/oauth/authorize/?" + urlencode(params))
    assert page.status_code == 200, page.content[:300]
    html = page.content.decode()
    assert "\u202e" not in html and "GoodliveC" in html
    start = html.index('id="client-name"')
    heading = html[start:html.index("</h1>", start)]
    assert "GoodliveC" in heading and "callback.example.net" in heading
