"""End to end, for real: the official MCP SDK OAuth client against uvicorn, with the user
logging in and consenting in headless Chromium (Playwright).

discovery (401 -> RFC 9728 -> RFC 8414) -> dynamic registration -> browser: admin login,
consent with a tenant choice -> code (with `iss`) -> token exchange with `resource` ->
the protected call succeeds and sees only the approved tenant.
"""

import os
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2 as httpx
import pytest

from tests.servers import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "pass-word-123"
TIMEOUT_MS = 30_000

pytestmark = [pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
                                 reason="needs /usr/bin/chromium"), pytest.mark.end_to_end]


class MemoryStorage:
    def __init__(self):
        self.tokens = self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class BrowserUser:
    """Plays the user in Chromium: logs in, picks tenants, allows or denies.

    The redirect to the client's loopback callback is intercepted in the browser (nothing
    listens there); its URL is what the SDK's callback handler returns.
    """

    def __init__(self, username, tenant_values, redirect_uri, allow=True):
        self.username, self.tenant_values, self.redirect_uri, self.allow = username, tenant_values, redirect_uri, allow
        self.callback_url = None
        self.consent_html = ""

    async def redirect_handler(self, url: str) -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                captured = anyio.Event()

                async def on_callback(route):
                    self.callback_url = route.request.url
                    captured.set()
                    await route.fulfill(status=200, content_type="text/html", body="You can close this window.")

                await page.route(self.redirect_uri + "**", on_callback)
                await page.goto(url)
                # the normal Django admin login page
                await page.fill("#id_username", self.username)
                await page.fill("#id_password", PASSWORD)
                await page.click("input[type=submit]")
                # our consent page
                await page.wait_for_selector("#authorizationForm")
                self.consent_html = await page.content()
                for box in await page.query_selector_all("input[name=tenants]"):
                    if await box.is_checked():
                        await box.uncheck()
                for value in self.tenant_values:
                    await page.check(f"input[name=tenants][value='{value}']")
                await page.click("#allow" if self.allow else "#deny")
                with anyio.fail_after(TIMEOUT_MS / 1000):
                    await captured.wait()
            finally:
                await browser.close()

    async def callback_handler(self):
        from mcp.shared.auth import AuthorizationCodeResult

        params = {k: v[0] for k, v in parse_qs(urlsplit(self.callback_url).query).items()}
        if "error" in params:
            raise RuntimeError(f"authorization failed: {params['error']}")
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


def make_provider(server, user: BrowserUser, storage=None):
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    metadata = OAuthClientMetadata(client_name="E2E MCP client", redirect_uris=[user.redirect_uri],
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"])
    return OAuthClientProvider(server_url=f"{server}/mcp", client_metadata=metadata, storage=storage or MemoryStorage(),
                               redirect_handler=user.redirect_handler, callback_handler=user.callback_handler)


@pytest.fixture
def people(transactional_db, make_user, tenant_a, tenant_b):
    from django.core.cache import cache

    cache.clear()  # registration rate-limit counters live in the shared cache
    make_user("alice", {tenant_a: "operator", tenant_b: "viewer"}, password=PASSWORD)
    return tenant_a, tenant_b


def test_mcp_sdk_oauth_flow_in_a_real_browser(live_server_url, people):
    from oauth2_provider.models import AccessToken, Application, RefreshToken

    tenant_a, tenant_b = people
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    user = BrowserUser("alice", [str(tenant_a.pk)], redirect_uri)
    storage = MemoryStorage()

    async def run():
        async with httpx.AsyncClient(auth=make_provider(live_server_url, user, storage), timeout=30) as http:
            first = await http.get(f"{live_server_url}/oauth/whoami")
            again = await http.get(f"{live_server_url}/oauth/whoami")  # reuses the token
        return first, again

    first, again = anyio.run(run)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["user"] == "alice" and body["via"] == "oauth" and body["client_name"] == "E2E MCP client"
    assert body["tenants"] == ["Tenant A"]  # only the tenant approved on the consent page
    assert again.status_code == 200 and again.json()["tenants"] == ["Tenant A"]

    # the consent page said who asks, that it is unverified, and where the code goes
    assert "E2E MCP client" in user.consent_html and "unverified" in user.consent_html
    assert "loopback" in user.consent_html
    # the authorization response carried iss; the token is bound to /mcp and stored hashed
    assert parse_qs(urlsplit(user.callback_url).query)["iss"] == [live_server_url]
    app = Application.objects.get()
    assert app.registration_source == "dcr" and app.client_type == "public"
    token = AccessToken.objects.get(application=app)
    assert token.resource == [f"{live_server_url}/mcp"] and token.token == ""
    assert RefreshToken.objects.get(application=app).token == ""
    assert storage.tokens.access_token not in str(list(AccessToken.objects.values()))

    # the same token is refused by the REST API resource's audience check... (bound to /mcp)
    from oauth.credentials import authenticate_bearer

    assert authenticate_bearer(storage.tokens.access_token, resource=f"{live_server_url}/api") is None
    # ...and a refresh through the real server keeps the tenant restriction
    refreshed = httpx.post(f"{live_server_url}/oauth/token/", data={
        "grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
        "client_id": app.client_id, "resource": f"{live_server_url}/mcp"})
    assert refreshed.status_code == 200, refreshed.text
    probe = httpx.get(f"{live_server_url}/oauth/whoami",
                      headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"})
    assert probe.json()["tenants"] == ["Tenant A"]


def test_deny_in_the_browser_issues_nothing(live_server_url, people):
    from oauth2_provider.models import AccessToken, Grant

    tenant_a, _ = people
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    user = BrowserUser("alice", [str(tenant_a.pk)], redirect_uri, allow=False)

    async def run():
        async with httpx.AsyncClient(auth=make_provider(live_server_url, user), timeout=30) as http:
            await http.get(f"{live_server_url}/oauth/whoami")

    with pytest.raises(RuntimeError, match="access_denied"):
        anyio.run(run)
    assert parse_qs(urlsplit(user.callback_url).query)["error"] == ["access_denied"]
    assert not Grant.objects.exists() and not AccessToken.objects.exists()


def test_mcp_client_connects_to_mcp_through_the_browser_flow(live_server_url, people):
    """The real thing: an MCP client pointed at /mcp, nothing else configured."""
    import json

    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    tenant_a, tenant_b = people
    user = BrowserUser("alice", [str(tenant_b.pk)], f"http://127.0.0.1:{free_port()}/callback")

    async def run():
        async with httpx.AsyncClient(auth=make_provider(live_server_url, user), timeout=30) as http:
            async with Client(streamable_http_client(f"{live_server_url}/mcp", http_client=http)) as client:
                result = await client.call_tool("tenant_list", {})
                return result.structured_content or json.loads(result.content[0].text)

    listed = anyio.run(run)
    assert [t["id"] for t in listed["items"]] == [tenant_b.pk]


def test_mcp_sdk_with_a_client_id_metadata_document(transactional_db, people, tmp_path):
    """The SDK's CIMD path: the server advertises client_id_metadata_document_supported, the
    client presents its document's https URL instead of registering; the server (a real uvicorn)
    fetches it from a local HTTPS server whose CA only this server trusts, the user consents in
    Chromium, and the MCP call works. No registration happened."""
    import json

    from mcp import Client
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import OAuthClientMetadata
    from oauth2_provider.models import AccessToken, Application

    from tests.cimd_server import DocumentServer
    from tests.servers import UvicornServer

    tenant_a, _ = people
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    user = BrowserUser("alice", [str(tenant_a.pk)], redirect_uri)
    with DocumentServer(tmp_path) as docs:
        url = docs.publish("/oauth/client-metadata.json", {
            "client_name": "Documented MCP client", "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"})
        env = {"OAUTH_CIMD_CA_FILE": str(docs.ca_file), "OAUTH_CIMD_ALLOWED_NETWORKS": "127.0.0.0/8"}
        with UvicornServer(env=env) as server:
            metadata = OAuthClientMetadata(client_name="Documented MCP client", redirect_uris=[redirect_uri],
                                           grant_types=["authorization_code", "refresh_token"],
                                           response_types=["code"])
            provider = OAuthClientProvider(server_url=f"{server.url}/mcp", client_metadata=metadata,
                                           storage=MemoryStorage(), redirect_handler=user.redirect_handler,
                                           callback_handler=user.callback_handler, client_metadata_url=url)

            async def run():
                async with httpx.AsyncClient(auth=provider, timeout=30) as http:
                    async with Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
                        result = await client.call_tool("tenant_list", {})
                        return result.structured_content or json.loads(result.content[0].text)

            listed = anyio.run(run)
    assert [t["id"] for t in listed["items"]] == [tenant_a.pk]
    app = Application.objects.get()
    assert (app.client_id, app.registration_source, app.client_type) == (url, "cimd", "public")
    assert AccessToken.objects.filter(application=app).count() == 1
    assert "Documented MCP client" in user.consent_html and "127.0.0.1" in user.consent_html
    assert docs.hits["/oauth/client-metadata.json"] == 1  # cached for the consent and the token exchange
