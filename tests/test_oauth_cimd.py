"""Client ID Metadata Documents: an https URL as client_id, fetched from a local HTTPS server
(tests/cimd_server.py: a CA trusted by these tests only, OAUTH_CIMD_CA_FILE) on 127.0.0.1, which
only OAUTH_CIMD_ALLOWED_NETWORKS lets the fetcher reach. Each refused document is an unknown
client (400 "Invalid client_id", never a redirect) and writes no Application.

The official MCP SDK client using a metadata URL, in a real browser: tests/test_oauth_e2e.py.
"""

import time

import pytest
from django.test import override_settings
from oauth2_provider.models import AccessToken, Application

from oauth.resources import mcp_resource
from tests.cimd_server import DocumentServer
from tests.test_oauth_server import REDIRECT, authorize_url, consent, exchange, pkce, redirect_params

pytestmark = pytest.mark.django_db

DOC = {"client_name": "Doc client", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
       "response_types": ["code"], "token_endpoint_auth_method": "none"}


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()  # DOT's failure backoff lives there


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    with DocumentServer(tmp_path_factory.mktemp("cimd")) as server:
        yield server


@pytest.fixture
def trusted(docs):
    """The fetcher trusts the test CA and may reach 127.0.0.0/8 (both off by default)."""
    with override_settings(OAUTH_CIMD_CA_FILE=str(docs.ca_file), OAUTH_CIMD_ALLOWED_NETWORKS=["127.0.0.0/8"]):
        yield docs


@pytest.fixture
def member(make_user, tenant_a, client):
    user = make_user("member", {tenant_a: "operator"})
    client.force_login(user)
    return user


def refused(client, client_id, redirect_uri=REDIRECT):
    response = client.get(authorize_url(client_id, pkce()[1], redirect_uri=redirect_uri))
    assert response.status_code == 400, response.content[:500]
    assert "Invalid client_id" in response.content.decode() or "redirect" in response.content.decode().lower()
    assert not response.has_header("Location")
    return response


def test_metadata_advertises_cimd(client, settings, member, trusted):
    meta = client.get("/.well-known/oauth-authorization-server").json()
    assert meta["client_id_metadata_document_supported"] is True
    assert "none" in meta["token_endpoint_auth_methods_supported"]  # Claude needs both to choose CIMD
    # (a `with`, not the settings fixture: that would restore after `trusted` and undo it out of order)
    with override_settings(OAUTH2_PROVIDER={**settings.OAUTH2_PROVIDER, "CIMD_ENABLED": False}):
        assert client.get("/.well-known/oauth-authorization-server").json()[
            "client_id_metadata_document_supported"] is False
        refused(client, trusted.publish("/off/client.json", DOC))  # switched off: a URL is just unknown
    assert "/off/client.json" not in trusted.hits


def test_a_document_client_goes_through_the_code_flow(client, member, trusted, tenant_a):
    url = trusted.publish("/flow/client.json", DOC, cache_control="max-age=600")
    verifier, challenge = pkce()
    page = client.get(authorize_url(url, challenge))
    assert page.status_code == 200, page.content[:500]
    html = page.content.decode()
    assert "Doc client" in html and 'id="cimd-host"' in html and "127.0.0.1" in html
    app = Application.objects.get(client_id=url)
    assert (app.registration_source, app.client_type, app.user_id) == ("cimd", "public", None)
    assert app.redirect_uris == REDIRECT and app.name == "Doc client"
    params = redirect_params(consent(client, authorize_url(url, challenge), tenants=[tenant_a.pk]))
    issued = exchange(client, app, params["code"], verifier)
    assert issued.status_code == 200, issued.content
    assert AccessToken.objects.get(application=app).resource == [mcp_resource()]
    # cached: the document was fetched once for the page, the consent and the token (max-age 600)
    assert trusted.hits["/flow/client.json"] == 1


def test_claude_document_shape_is_accepted(client, member, trusted):
    """Claude's published document, its client_id replaced by the local URL: two hosted redirect
    URIs, a jwt-bearer grant we do not issue (ignored), client_uri."""
    url = trusted.publish("/claude/oauth/mcp-oauth-client-metadata", {
        "client_name": "Claude", "client_uri": "https://claude.ai",
        "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"],
        "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "response_types": ["code"], "token_endpoint_auth_method": "none"})
    page = client.get(authorize_url(url, pkce()[1], redirect_uri="https://claude.ai/api/mcp/auth_callback"))
    assert page.status_code == 200, page.content[:500]
    app = Application.objects.get(client_id=url)
    assert app.name == "Claude" and app.authorization_grant_type == "authorization-code"
    assert app.redirect_uris.split() == ["https://claude.ai/api/mcp/auth_callback",
                                         "https://claude.com/api/mcp/auth_callback"]


def test_pkce_s256_is_required_for_document_clients(client, member, trusted):
    url = trusted.publish("/pkce/client.json", DOC)
    response = client.get(authorize_url(url, None, method=None))
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]
    response = client.get(authorize_url(url, "x" * 43, method="plain"))
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]


def test_redirect_uri_not_in_the_document_is_refused(client, member, trusted):
    url = trusted.publish("/redirect/client.json", DOC)
    response = client.get(authorize_url(url, pkce()[1], redirect_uri="https://evil.example/callback"))
    assert response.status_code == 400 and not response.has_header("Location")
    assert "Mismatching redirect URI" in response.content.decode()


BAD_DOCUMENTS = {
    "client_id mismatch": {"client_id": "https://other.example/client.json"},
    "no client_id": {"client_id": None},
    "http redirect URI": {"redirect_uris": ["http://evil.example/callback"]},
    "custom scheme": {"redirect_uris": ["myapp://callback"]},
    "no redirect URIs": {"redirect_uris": []},
    "a client secret": {"client_secret": "s3cret"},
    "confidential": {"token_endpoint_auth_method": "client_secret_basic"},
    "no code grant": {"grant_types": ["client_credentials"]},
    "implicit only": {"response_types": ["token"]},
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS)
def test_bad_documents_are_unknown_clients(client, member, trusted, case):
    change = BAD_DOCUMENTS[case]
    path = "/bad/" + case.replace(" ", "-") + ".json"
    doc = {**DOC, **{k: v for k, v in change.items() if k != "client_id"}}
    url = trusted.publish(path, doc, **({"client_id": change["client_id"]} if "client_id" in change else {}))
    refused(client, url)
    assert not Application.objects.exists()


BAD_RESPONSES = {
    "not JSON": {"headers": {"Content-Type": "application/json"}, "body": b"<html>hello</html>"},
    "JSON array": {"headers": {"Content-Type": "application/json"}, "body": b"[1, 2]"},
    "HTML type": {"headers": {"Content-Type": "text/html"}, "body": b"{}"},
    "redirect": {"status": 302, "headers": {"Location": "https://127.0.0.1:1/x.json"}},
    "not found": {"status": 404},
    "server error": {"status": 500},
}


@pytest.mark.parametrize("case", BAD_RESPONSES)
def test_bad_responses_are_unknown_clients(client, member, trusted, case):
    url = trusted.route("/resp/" + case.replace(" ", "-") + ".json", **BAD_RESPONSES[case])
    refused(client, url)
    assert not Application.objects.exists()


def test_oversized_document(client, member, trusted, settings):
    padding = "x" * settings.OAUTH_CIMD_MAX_BYTES
    url = trusted.publish("/big/client.json", {**DOC, "client_name": padding})
    refused(client, url)
    # also without a Content-Length: the read stops after the limit
    body = ('{"client_id": "%s", "redirect_uris": ["%s"], "pad": "%s"}' % (
        trusted.base + "/big/chunked.json", REDIRECT, padding)).encode()
    url = trusted.route("/big/chunked.json", headers={"Content-Type": "application/json"}, body=body,
                        send_length=False)
    refused(client, url)
    assert trusted.hits["/big/chunked.json"] == 1
    assert not Application.objects.exists()


def test_slow_server_is_cut_off_at_the_deadline(client, member, trusted, settings):
    settings.OAUTH_CIMD_TIMEOUT = 1.0
    import json as _json

    body = _json.dumps({**DOC, "client_id": trusted.base + "/slow/client.json"}).encode()
    url = trusted.route("/slow/client.json", headers={"Content-Type": "application/json"}, body=body, drip=0.05)
    started = time.monotonic()
    refused(client, url)  # the whole body would take len(body) * 0.05 s (> 6 s)
    assert time.monotonic() - started < 3
    assert not Application.objects.exists()


def test_unreachable_host(client, member, trusted):
    from tests.servers import free_port

    refused(client, f"https://127.0.0.1:{free_port()}/client.json")
    assert not Application.objects.exists()


def test_loopback_and_private_targets_are_refused_by_default(client, member, docs):
    url = docs.publish("/default/client.json", DOC)
    with override_settings(OAUTH_CIMD_CA_FILE=str(docs.ca_file)):  # trusted, but 127.0.0.1 is not allowed
        refused(client, url)
        for target in ("https://10.0.0.1/c.json", "https://169.254.169.254/latest/c.json", "https://[::1]/c.json",
                       "https://localhost:1/c.json"):
            refused(client, target)
    assert docs.hits.get("/default/client.json") is None  # never even connected
    assert not Application.objects.exists()


def test_untrusted_certificate_is_refused(client, member, docs):
    url = docs.publish("/untrusted/client.json", DOC)
    with override_settings(OAUTH_CIMD_ALLOWED_NETWORKS=["127.0.0.0/8"]):  # the system CAs only
        refused(client, url)
    assert not Application.objects.exists()


def test_non_https_and_malformed_client_ids(client, member, trusted):
    for client_id in (f"http://127.0.0.1:{trusted.port}/client.json", f"https://127.0.0.1:{trusted.port}",
                      f"https://u:p@127.0.0.1:{trusted.port}/client.json",
                      f"https://127.0.0.1:{trusted.port}/a/../client.json",
                      "https://127.0.0.1/" + "x" * 300):
        refused(client, client_id)
    assert not Application.objects.exists()


def test_allowed_hosts_limit_who_may_be_a_client(client, member, trusted, settings):
    url = trusted.publish("/hosts/client.json", DOC)
    settings.OAUTH_CIMD_ALLOWED_HOSTS = [".example.com"]
    refused(client, url)
    assert trusted.hits.get("/hosts/client.json") is None
    settings.OAUTH_CIMD_ALLOWED_HOSTS = ["127.0.0.1"]
    assert client.get(authorize_url(url, pkce()[1])).status_code == 200


def test_failed_urls_are_backed_off_and_stale_documents_refetched(client, member, trusted):
    url = trusted.route("/later/client.json", status=503)
    refused(client, url)
    trusted.publish("/later/client.json", DOC)
    refused(client, url)  # within the backoff, not fetched again
    assert trusted.hits["/later/client.json"] == 1

    from django.core.cache import cache
    from django.utils import timezone

    cache.clear()
    assert client.get(authorize_url(url, pkce()[1])).status_code == 200
    # the document changes its name; once the cached copy is stale, it is fetched again
    trusted.publish("/later/client.json", {**DOC, "client_name": "Renamed"})
    Application.objects.filter(client_id=url).update(cimd_expires_at=timezone.now())
    assert client.get(authorize_url(url, pkce()[1])).status_code == 200
    assert Application.objects.get(client_id=url).name == "Renamed"
    assert trusted.hits["/later/client.json"] == 3


def test_a_document_cannot_take_over_a_registered_client(client, member, trusted):
    url = trusted.publish("/taken/client.json", {**DOC, "client_name": "Impostor"})
    Application.objects.create(client_id=url, name="Manual", client_type="public", redirect_uris=REDIRECT,
                               authorization_grant_type="authorization-code", registration_source="manual",
                               client_secret="", hash_client_secret=False)
    client.get(authorize_url(url, pkce()[1]))
    assert Application.objects.get(client_id=url).name == "Manual"


def test_cleanup_deletes_never_authorized_document_clients(client, member, trusted):
    from datetime import timedelta

    from django.utils import timezone

    from oauth.management.commands.oauth_cleanup import unused_clients

    url = trusted.publish("/cleanup/client.json", DOC)
    assert client.get(authorize_url(url, pkce()[1])).status_code == 200
    Application.objects.filter(client_id=url).update(created=timezone.now() - timedelta(days=2))
    assert list(unused_clients(3600).values_list("client_id", flat=True)) == [url]
