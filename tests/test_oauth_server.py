"""OAuth 2.1 server through Django's test client: metadata, registration, consent, tokens,
and the negative suite (each refused with the right OAuth error and nothing issued).

The real-browser, real-HTTP end-to-end run with the MCP SDK is tests/test_oauth_e2e.py.
"""

import base64
import hashlib
import secrets
from datetime import timedelta
from io import StringIO
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken
from oauth2_provider.settings import oauth2_settings

from oauth.credentials import authenticate_bearer
from oauth.models import ClientProfile, RedeemedCode
from oauth.resources import api_resource, mcp_resource

REDIRECT = "http://127.0.0.1:53682/callback"
ALL = "inventory:read inventory:write inventory:delete jobs:execute"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


def pkce():
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register(client, **metadata):
    body = {"client_name": "Test MCP client", "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
            **metadata}
    return client.post("/oauth/register/", body, content_type="application/json")


def authorize_url(client_id, challenge, *, method="S256", resource=None, redirect_uri=REDIRECT, scope=ALL, **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "state": "st-123", "scope": scope, **extra}
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    if resource is not False:
        params["resource"] = resource or mcp_resource()
    return "/oauth/authorize/?" + urlencode(params)


def consent(client, url, *, tenants=None, scopes=None, allow=True):
    """GET the consent page, then POST the user's choice; return the POST response."""
    page = client.get(url)
    assert page.status_code == 200, page.content[:500]
    form = page.context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None
            and name not in ("granted_scopes", "tenants")}
    data["granted_scopes"] = scopes if scopes is not None else form.fields["granted_scopes"].initial
    data["tenants"] = [str(t) for t in tenants] if tenants is not None else (form.fields["tenants"].initial or [])
    if allow:
        data["allow"] = "Allow"
    return client.post(url, data)


def redirect_params(response):
    assert response.status_code == 302, response.content[:1000]
    location = response["Location"]
    assert location.startswith(REDIRECT.split("/callback")[0]), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(client, **data):
    return client.post("/oauth/token/", data)


@pytest.fixture
def member(make_user, tenant_a, tenant_b):
    return make_user("member", {tenant_a: "operator", tenant_b: "operator"})


@pytest.fixture
def app(client):
    return Application.objects.get(client_id=register(client).json()["client_id"])


@pytest.fixture
def authorized(client, member, app, tenant_a):
    """A code for ``member`` approved for tenant A only; returns (code, verifier)."""
    client.force_login(member)
    verifier, challenge = pkce()
    params = redirect_params(consent(client, authorize_url(app.client_id, challenge), tenants=[tenant_a.pk]))
    return params["code"], verifier


def exchange(client, app, code, verifier, **extra):
    return token(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                 client_id=app.client_id, code_verifier=verifier, **extra)


# --- metadata --------------------------------------------------------------------------
@override_settings(PUBLIC_URL="https://inv.example.com")
def test_metadata_is_pinned_to_public_url(client):
    meta = client.get("/.well-known/oauth-authorization-server", HTTP_HOST="localhost").json()
    assert meta["issuer"] == "https://inv.example.com"
    assert meta["authorization_endpoint"] == "https://inv.example.com/oauth/authorize/"
    assert meta["registration_endpoint"] == "https://inv.example.com/oauth/register/"
    assert meta["revocation_endpoint"] == "https://inv.example.com/oauth/revoke/"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert set(meta["scopes_supported"]) == set(ALL.split())
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        prm = client.get(path).json()
        assert prm["resource"] == "https://inv.example.com/mcp"
        assert prm["authorization_servers"] == ["https://inv.example.com"]
        assert prm["bearer_methods_supported"] == ["header"]
        assert set(prm["scopes_supported"]) == set(ALL.split())
    assert client.get("/.well-known/oauth-protected-resource/api").json()["resource"] == "https://inv.example.com/api"
    assert client.get("/.well-known/oauth-protected-resource/other").status_code == 404


# --- registration ----------------------------------------------------------------------
def test_registration_of_a_public_client(client):
    response = register(client, redirect_uris=[REDIRECT, "https://claude.ai/api/mcp/auth_callback",
                                               "http://[::1]/cb", "http://localhost:1234/cb"])
    assert response.status_code == 201
    body = response.json()
    assert body["token_endpoint_auth_method"] == "none" and "client_secret" not in body
    assert "registration_access_token" not in body
    app = Application.objects.get(client_id=body["client_id"])
    assert app.client_type == "public" and app.authorization_grant_type == "authorization-code"
    assert app.registration_source == "dcr" and not AccessToken.objects.exists()
    # a client that does not say how it authenticates is registered as public
    body = register(client, token_endpoint_auth_method=None).json()
    assert body["token_endpoint_auth_method"] == "none"


@pytest.mark.parametrize("metadata, error", [
    ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
    ({"grant_types": ["authorization_code", "client_credentials"]}, "invalid_client_metadata"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
    ({"response_types": ["token"]}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
    ({"client_name": 42}, "invalid_client_metadata"),
    ({"redirect_uris": []}, "invalid_redirect_uri"),
    ({"redirect_uris": "https://x.example/cb"}, "invalid_redirect_uri"),
    ({"redirect_uris": [f"https://x.example/{i}" for i in range(6)]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["http://example.com/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["cursor://anysphere.cursor-retrieval/oauth/callback"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://x.example/cb#frag"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://user:pw@x.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["http://127.0.0.1.evil.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": [None]}, "invalid_redirect_uri"),
])
def test_registration_refuses_unsafe_metadata(client, metadata, error):
    response = register(client, **metadata)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert not Application.objects.exists()


def test_registration_refuses_bad_json(client):
    for body in (b"not json", b"[1, 2]", b""):
        response = client.post("/oauth/register/", body, content_type="application/json")
        assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    assert client.get("/oauth/register/").status_code == 405
    assert not Application.objects.exists()


@override_settings(OAUTH_REGISTRATION_RATE=(3, 3600))
def test_registration_is_rate_limited_per_ip(client):
    for _ in range(3):
        assert register(client).status_code == 201
    response = register(client)
    assert response.status_code == 429 and response.json()["error"] == "temporarily_unavailable"
    assert response["Retry-After"] == "3600"
    assert Application.objects.count() == 3
    # another address still may
    response = client.post("/oauth/register/", {"redirect_uris": [REDIRECT]}, content_type="application/json",
                           REMOTE_ADDR="127.109.8.7")
    assert response.status_code == 201


def test_cleanup_deletes_only_never_authorized_old_clients(client, authorized, app):
    stale = Application.objects.get(client_id=register(client).json()["client_id"])
    fresh = Application.objects.get(client_id=register(client).json()["client_id"])
    Application.objects.filter(pk__in=[stale.pk, app.pk]).update(created=timezone.now() - timedelta(days=3))
    from inventory.tasks import maintenance

    code, verifier = authorized
    exchange(client, app, code, verifier)
    kept = RedeemedCode.objects.get()
    old = RedeemedCode.objects.create(code_checksum="0" * 64, application=app)
    RedeemedCode.objects.filter(pk=old.pk).update(
        created=timezone.now() - timedelta(seconds=settings.MCP_OAUTH_REFRESH_TOKEN_TTL + 60))

    maintenance("oauth_cleanup")  # what beat runs hourly (CELERY_BEAT_SCHEDULE)
    remaining = set(Application.objects.values_list("pk", flat=True))
    assert stale.pk not in remaining and {fresh.pk, app.pk} <= remaining
    assert list(RedeemedCode.objects.all()) == [kept]  # replays stay detectable while tokens may live


# --- the happy path --------------------------------------------------------------------
def test_code_flow_with_tenant_choice(client, member, app, authorized, tenant_a):
    code, verifier = authorized
    grant = Grant.objects.get()
    assert grant.resource == [mcp_resource()] and "tenant:%d" % tenant_a.pk in grant.scope.split()
    response = exchange(client, app, code, verifier, resource=mcp_resource())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    assert 3000 < body["expires_in"] <= 3600  # MCP_OAUTH_ACCESS_TOKEN_TTL default 1h
    stored = AccessToken.objects.get()
    assert stored.token == "" and body["access_token"] not in str(AccessToken.objects.values().get())
    assert RefreshToken.objects.get().token == ""  # hashed storage only

    principal = authenticate_bearer(body["access_token"], resource=mcp_resource())
    assert principal.via == "oauth" and principal.user == member and principal.client_id == app.client_id
    assert principal.tenant_ids == {tenant_a.pk}
    probe = client.get("/oauth/whoami", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert probe.status_code == 200 and probe.json()["tenants"] == ["Tenant A"]
    assert ClientProfile.objects.get(application=app).first_authorized_at is not None


def test_unknown_scopes_are_ignored_and_unticked_scopes_not_granted(client, member, app, tenant_a):
    client.force_login(member)
    verifier, challenge = pkce()
    url = authorize_url(app.client_id, challenge, scope="inventory:read inventory:write claudeai tenant:999")
    params = redirect_params(consent(client, url, tenants=[tenant_a.pk], scopes=["inventory:read"]))
    body = exchange(client, app, params["code"], verifier).json()
    assert set(body["scope"].split()) == {"inventory:read", f"tenant:{tenant_a.pk}"}
    principal = authenticate_bearer(body["access_token"], resource=mcp_resource())
    assert principal.scopes == {"inventory:read"} and principal.tenant_ids == {tenant_a.pk}
    probe = client.get("/oauth/whoami?need=inventory:write", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert probe.status_code == 403
    assert probe["WWW-Authenticate"].startswith('Bearer error="insufficient_scope", scope="inventory:read inventory:write"')


def test_consent_page_shows_client_and_warnings(client, member, app):
    client.force_login(member)
    page = client.get(authorize_url(app.client_id, pkce()[1]))
    html = page.content.decode()
    assert "Test MCP client" in html and 'id="unverified-warning"' in html
    assert 'id="loopback-warning"' in html and "127.0.0.1" in html
    assert "Tenant A" in html and "Tenant B" in html and "Read the inventory" in html


def test_login_is_the_admin_login(client, app):
    response = client.get(authorize_url(app.client_id, pkce()[1]))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=")


def test_all_tenants_choice(client, member, app, tenant_a, tenant_b):
    client.force_login(member)
    verifier, challenge = pkce()
    params = redirect_params(consent(client, authorize_url(app.client_id, challenge), tenants=["*"]))
    body = exchange(client, app, params["code"], verifier).json()
    principal = authenticate_bearer(body["access_token"], resource=mcp_resource())
    assert principal.tenant_ids is None and set(principal.roles) == {tenant_a.pk, tenant_b.pk}


def test_consent_requires_a_tenant_choice(client, member, app):
    client.force_login(member)
    response = consent(client, authorize_url(app.client_id, pkce()[1]), tenants=[])
    assert response.status_code == 200 and "Choose the tenants" in response.content.decode()
    assert not Grant.objects.exists()


def test_deny_returns_access_denied(client, member, app):
    client.force_login(member)
    params = redirect_params(consent(client, authorize_url(app.client_id, pkce()[1]), allow=False))
    assert params["error"] == "access_denied" and params["state"] == "st-123"
    assert params["iss"] == oauth2_settings.OIDC_ISS_ENDPOINT  # RFC 9207: error responses name the issuer too
    assert not Grant.objects.exists() and not AccessToken.objects.exists()


def test_refresh_rotates_keeps_tenants_and_replay_revokes_family(client, app, authorized, tenant_a):
    code, verifier = authorized
    first = exchange(client, app, code, verifier).json()
    # the client asks for its original scopes only: the tenant restriction stays
    second = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"],
                   client_id=app.client_id, scope="inventory:read claudeai", resource=mcp_resource() + "/")
    assert second.status_code == 200, second.content
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    principal = authenticate_bearer(second["access_token"], resource=mcp_resource())
    assert principal.tenant_ids == {tenant_a.pk} and principal.scopes == {"inventory:read"}
    assert authenticate_bearer(first["access_token"], resource=mcp_resource()) is None  # rotated away

    replay = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=app.client_id)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # the whole family is revoked: the newest tokens are dead too
    assert authenticate_bearer(second["access_token"], resource=mcp_resource()) is None
    again = token(client, grant_type="refresh_token", refresh_token=second["refresh_token"], client_id=app.client_id)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_refresh_cannot_add_tenants_or_scopes(client, app, authorized, tenant_b):
    code, verifier = authorized
    first = exchange(client, app, code, verifier).json()
    for scope in (f"inventory:read tenant:{tenant_b.pk}", "tenant:*"):
        response = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"],
                         client_id=app.client_id, scope=scope)
        assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_revocation_endpoint(client, app, authorized):
    code, verifier = authorized
    body = exchange(client, app, code, verifier).json()
    response = client.post("/oauth/revoke/", {"token": body["access_token"], "client_id": app.client_id})
    assert response.status_code == 200
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is None
    probe = client.get("/oauth/whoami", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert probe.status_code == 401 and 'error="invalid_token"' in probe["WWW-Authenticate"]
    assert "/.well-known/oauth-protected-resource/mcp" in probe["WWW-Authenticate"]


def test_rest_resource_tokens_are_not_mcp_tokens(client, member, app, tenant_a):
    client.force_login(member)
    verifier, challenge = pkce()
    params = redirect_params(consent(client, authorize_url(app.client_id, challenge, resource=api_resource()),
                                     tenants=[tenant_a.pk]))
    body = exchange(client, app, params["code"], verifier).json()
    assert authenticate_bearer(body["access_token"], resource=api_resource()) is not None
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is None
    assert authenticate_bearer(body["access_token"]) is None  # no audience given: refused
    assert client.get("/oauth/whoami", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").status_code == 401


# --- the negative suite ----------------------------------------------------------------
def _error_redirect(client, member, url):
    client.force_login(member)
    response = client.get(url)
    params = redirect_params(response)
    assert "code" not in params
    return params


def test_missing_pkce(client, member, app):
    params = _error_redirect(client, member, authorize_url(app.client_id, None, method=None))
    assert params["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_plain_pkce(client, member, app):
    verifier = secrets.token_urlsafe(64)
    params = _error_redirect(client, member, authorize_url(app.client_id, verifier, method="plain"))
    assert params["error"] == "invalid_request"
    # and without a method (defaults to plain)
    params = _error_redirect(client, member, authorize_url(app.client_id, verifier, method=None))
    assert params["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_plain_pkce_refused_even_if_forced_into_the_post(client, member, app, tenant_a):
    client.force_login(member)
    verifier, challenge = pkce()
    page = client.get(authorize_url(app.client_id, challenge))
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data.update(code_challenge=verifier, code_challenge_method="plain", allow="Allow",
                granted_scopes=["inventory:read"], tenants=[str(tenant_a.pk)])
    params = redirect_params(client.post(authorize_url(app.client_id, challenge), data))
    assert params["error"] == "invalid_request" and not Grant.objects.exists()


def test_wrong_verifier(client, app, authorized):
    code, _ = authorized
    response = exchange(client, app, code, pkce()[0])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_reused_code_is_refused_and_revokes_what_it_was_exchanged_for(client, app, authorized):
    code, verifier = authorized
    first = exchange(client, app, code, verifier)
    assert first.status_code == 200
    first = first.json()
    assert authenticate_bearer(first["access_token"], resource=mcp_resource()) is not None  # cached now
    assert RedeemedCode.objects.filter(code_checksum=hashlib.sha256(code.encode()).hexdigest()).exists()
    assert not RedeemedCode.objects.filter(code_checksum=code).exists()  # only the checksum is kept
    response = exchange(client, app, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    # OAuth 2.1 4.1.3: the code leaked, so the tokens of its first exchange are revoked
    assert not AccessToken.objects.exists()
    assert authenticate_bearer(first["access_token"], resource=mcp_resource()) is None
    refresh = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=app.client_id)
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


def test_reused_code_revokes_tokens_rotated_since(client, app, authorized, member, tenant_a):
    code, verifier = authorized
    first = exchange(client, app, code, verifier).json()
    rotated = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"],
                    client_id=app.client_id).json()
    # another authorization of the same client and user is not touched
    verifier2, challenge2 = pkce()
    code2 = redirect_params(consent(client, authorize_url(app.client_id, challenge2), tenants=[tenant_a.pk]))["code"]
    other = exchange(client, app, code2, verifier2).json()
    assert exchange(client, app, code, verifier).status_code == 400
    assert authenticate_bearer(rotated["access_token"], resource=mcp_resource()) is None
    again = token(client, grant_type="refresh_token", refresh_token=rotated["refresh_token"], client_id=app.client_id)
    assert again.status_code == 400
    assert authenticate_bearer(other["access_token"], resource=mcp_resource()) is not None
    assert token(client, grant_type="refresh_token", refresh_token=other["refresh_token"],
                 client_id=app.client_id).status_code == 200


def test_losing_a_concurrent_exchange_revokes_both_sides(client, app, authorized, tenant_a):
    code, verifier = authorized
    winner = exchange(client, app, code, verifier).json()
    # a second code whose record a concurrent exchange (holding the winner's tokens) wrote first
    verifier2, challenge2 = pkce()
    code2 = redirect_params(consent(client, authorize_url(app.client_id, challenge2), tenants=[tenant_a.pk]))["code"]
    RedeemedCode.objects.update(code_checksum=hashlib.sha256(code2.encode()).hexdigest())
    response = exchange(client, app, code2, verifier2)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()  # neither side's access token survives
    assert authenticate_bearer(winner["access_token"], resource=mcp_resource()) is None
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert not Grant.objects.exists()


def test_unknown_code_revokes_nothing(client, app, authorized):
    code, verifier = authorized
    body = exchange(client, app, code, verifier).json()
    response = exchange(client, app, code[:-2] + "xx", verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is not None


def test_replay_under_another_client_id_revokes_too(client, app, authorized):
    code, verifier = authorized
    body = exchange(client, app, code, verifier).json()
    thief = Application.objects.get(client_id=register(client).json()["client_id"])
    response = exchange(client, thief, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is None


def test_expired_code(client, app, authorized):
    code, verifier = authorized
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = exchange(client, app, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("redirect_uri", [
    REDIRECT + "?extra=1", "http://127.0.0.1:53682/other", "https://127.0.0.1:53682/callback",
    "http://evil.example/callback", REDIRECT + "#x",
])
def test_redirect_uri_mismatch_at_authorization(client, member, app, redirect_uri):
    client.force_login(member)
    response = client.get(authorize_url(app.client_id, pkce()[1], redirect_uri=redirect_uri))
    assert response.status_code == 400  # never redirected to an unregistered URI
    assert not Grant.objects.exists()


def test_loopback_port_may_vary(client, member, app, tenant_a):
    client.force_login(member)
    response = client.get(authorize_url(app.client_id, pkce()[1], redirect_uri="http://127.0.0.1:40001/callback"))
    assert response.status_code == 200


def test_redirect_uri_mismatch_at_token(client, app, authorized):
    code, verifier = authorized
    response = token(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT + "?extra=1",
                     client_id=app.client_id, code_verifier=verifier)
    assert response.status_code == 400 and response.json()["error"] in ("invalid_grant", "invalid_request")
    assert not AccessToken.objects.exists()


def test_unregistered_client(client, member):
    client.force_login(member)
    response = client.get(authorize_url("no-such-client", pkce()[1]))
    assert response.status_code == 400  # shown to the user, never redirected
    assert "Invalid client_id" in response.content.decode()
    response = token(client, grant_type="authorization_code", code="x", redirect_uri=REDIRECT,
                     client_id="no-such-client", code_verifier=pkce()[0])
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert not Grant.objects.exists() and not AccessToken.objects.exists()


def test_foreign_resource_at_authorization(client, member, app):
    for resource in ("https://evil.example/mcp", "http://127.0.0.1:8000/other", "not a uri"):
        params = _error_redirect(client, member, authorize_url(app.client_id, pkce()[1], resource=resource))
        assert params["error"] == "invalid_target" and params["state"] == "st-123"
    assert not Grant.objects.exists()


def test_foreign_resource_at_token(client, app, authorized):
    code, verifier = authorized
    for resource in ("https://evil.example/mcp", api_resource()):  # api: not what the grant named
        response = exchange(client, app, code, verifier, resource=resource)
        assert response.status_code == 400 and response.json()["error"] == "invalid_target"
    assert not AccessToken.objects.exists()
    # trailing slash: the same resource
    assert exchange(client, app, code, verifier, resource=mcp_resource() + "/").status_code == 200


def test_expired_and_revoked_tokens(client, app, authorized):
    code, verifier = authorized
    body = exchange(client, app, code, verifier).json()
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is None
    assert client.get("/oauth/whoami", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").status_code == 401


def test_registration_scope_tokens_are_never_bearers(client, app, member):
    from oauth2_provider.models import AccessToken as Token

    raw = secrets.token_urlsafe(32)
    Token.objects.create(user=member, application=app, token=raw, scope="oauth2_provider:registration",
                         expires=timezone.now() + timedelta(hours=1), resource=[mcp_resource()])
    assert authenticate_bearer(raw, resource=mcp_resource()) is None


def test_token_bound_to_another_resource_or_none(client, app, authorized, member):
    code, verifier = authorized
    body = exchange(client, app, code, verifier).json()
    AccessToken.objects.update(resource=["https://other.example/mcp"])
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is None
    AccessToken.objects.update(resource=[])
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is None
    response = client.get("/oauth/whoami", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert response.status_code == 401


def test_client_credentials_only_for_bound_confidential_clients(client, app, make_user, tenant_a, tenant_b):
    # a registered (public) client cannot use it
    response = token(client, grant_type="client_credentials", client_id=app.client_id)
    assert response.status_code in (400, 401) and response.json()["error"] in ("unauthorized_client", "invalid_client")
    assert not AccessToken.objects.exists()

    service = make_user("svc", {tenant_a: "operator", tenant_b: "operator"})
    secret = "s3cret-" + secrets.token_urlsafe(16)
    conf = Application.objects.create(name="svc", client_type="confidential", client_secret=secret,
                                      authorization_grant_type="client-credentials", user=service)
    creds = {"grant_type": "client_credentials", "client_id": conf.client_id, "client_secret": secret,
             "scope": "inventory:read"}
    response = token(client, **creds)  # not bound to a tenant yet
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    ClientProfile.objects.create(application=conf, service_tenant=tenant_a)
    response = token(client, **creds)
    assert response.status_code == 200, response.content
    principal = authenticate_bearer(response.json()["access_token"], resource=mcp_resource())
    assert principal.user == service and principal.tenant_ids == {tenant_a.pk} and principal.scopes == {"inventory:read"}
    bad = token(client, **{**creds, "client_secret": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


def test_clients_page_user_and_admin(client, member, app, authorized, make_user, superuser, tenant_a):
    code, verifier = authorized
    body = exchange(client, app, code, verifier).json()
    page = client.get("/oauth-clients/")
    assert page.status_code == 200 and app.client_id in page.content.decode()

    stranger = make_user("stranger", {tenant_a: "viewer"})
    client.force_login(stranger)
    assert app.client_id not in client.get("/oauth-clients/").content.decode()
    assert client.post(f"/oauth-clients/{app.pk}/revoke/").status_code == 404
    assert client.post(f"/oauth-clients/{app.pk}/delete/").status_code == 404
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is not None

    client.force_login(member)
    assert client.post(f"/oauth-clients/{app.pk}/revoke/").status_code == 302
    assert authenticate_bearer(body["access_token"], resource=mcp_resource()) is None
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()

    client.force_login(superuser)
    assert app.client_id in client.get("/oauth-clients/").content.decode()
    assert client.post(f"/oauth-clients/{app.pk}/delete/").status_code == 302
    assert not Application.objects.filter(pk=app.pk).exists() and not RefreshToken.objects.exists()


def test_consent_cannot_be_skipped(client, app, authorized, member):
    code, verifier = authorized
    exchange(client, app, code, verifier)  # the user has a live token for this client
    page = client.get(authorize_url(app.client_id, pkce()[1], approval_prompt="auto"))
    assert page.status_code == 200 and b'id="authorizationForm"' in page.content
    assert Grant.objects.count() == 0


def test_tampered_resource_in_the_consent_post(client, member, app, tenant_a):
    client.force_login(member)
    verifier, challenge = pkce()
    url = authorize_url(app.client_id, challenge)
    page = client.get(url)
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data.update(resource="https://evil.example/mcp", allow="Allow", granted_scopes=["inventory:read"],
                tenants=[str(tenant_a.pk)])
    params = redirect_params(client.post(url, data))
    assert params["error"] == "invalid_target" and not Grant.objects.exists()


def test_tampered_tenant_in_the_consent_post(client, make_user, app, tenant_a, tenant_b):
    solo = make_user("solo", {tenant_a: "operator"})
    client.force_login(solo)
    url = authorize_url(app.client_id, pkce()[1])
    page = client.get(url)
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    for tenants in ([str(tenant_b.pk)], ["*"]):  # not a member of B; "all" is only offered to multi-tenant users
        data.update(allow="Allow", granted_scopes=["inventory:read"], tenants=tenants)
        response = client.post(url, data)
        assert response.status_code == 200 and b"not one of the available choices" in response.content
    assert not Grant.objects.exists()


def test_expired_refresh_token(client, app, authorized, settings):
    code, verifier = authorized
    body = exchange(client, app, code, verifier).json()
    RefreshToken.objects.update(created=timezone.now() - timedelta(seconds=settings.MCP_OAUTH_REFRESH_TOKEN_TTL + 1))
    response = token(client, grant_type="refresh_token", refresh_token=body["refresh_token"], client_id=app.client_id)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert AccessToken.objects.count() == 1


def test_ttl_settings_parse():
    from oauth.conf import parse_duration, parse_rate

    assert parse_duration("3600") == parse_duration("1h") == parse_duration("60m") == 3600
    assert parse_duration("720h") == parse_duration("30d") == 2592000
    assert parse_rate("20/h") == (20, 3600) and parse_rate("5/10m") == (5, 600)
    for bad in ("", "0", "-5", "1w", "h", "1.5h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_rest_api_accepts_api_keys_and_rest_bound_tokens(client, member, app, tenant_a, tenant_b):
    from oauth.models import ApiKey

    _, raw = ApiKey.create(member, "k", tenant=tenant_a)
    response = client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200, response.content[:300]
    names = [t["name"] for t in response.json()["results"]]
    assert names == ["Tenant A"]
    refused = client.get("/api/tenants/", HTTP_AUTHORIZATION="Bearer inv_unknown_key")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer ")

    client.force_login(member)
    verifier, challenge = pkce()
    params = redirect_params(consent(client, authorize_url(app.client_id, challenge, resource=api_resource()),
                                     tenants=[tenant_b.pk]))
    access = exchange(client, app, params["code"], verifier).json()["access_token"]
    client.logout()
    response = client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 200 and [t["name"] for t in response.json()["results"]] == ["Tenant B"]

    # an MCP-bound token is not a REST token
    client.force_login(member)
    verifier, challenge = pkce()
    params = redirect_params(consent(client, authorize_url(app.client_id, challenge), tenants=[tenant_a.pk]))
    mcp_access = exchange(client, app, params["code"], verifier).json()["access_token"]
    client.logout()
    assert client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Bearer {mcp_access}").status_code == 401


def test_service_binding_in_the_admin(client, superuser, make_user, tenant_a):
    service = make_user("svc2", {tenant_a: "viewer"})
    client.force_login(superuser)
    page = client.get("/admin/oauth2_provider/application/add/")
    assert page.status_code == 200 and b"service_tenant" in page.content
    response = client.post("/admin/oauth2_provider/application/add/", {
        "client_id": "svc-client", "user": service.pk, "redirect_uris": "", "post_logout_redirect_uris": "",
        "client_type": "confidential", "authorization_grant_type": "client-credentials",
        "client_secret": "a-long-service-secret-123", "hash_client_secret": "on", "name": "svc", "algorithm": "",
        "allowed_origins": "", "registration_source": "manual",
        "inventory_profile-TOTAL_FORMS": "1", "inventory_profile-INITIAL_FORMS": "0",
        "inventory_profile-MIN_NUM_FORMS": "0", "inventory_profile-MAX_NUM_FORMS": "1",
        "inventory_profile-0-service_tenant": tenant_a.pk,
    })
    assert response.status_code == 302, response.content.decode()[-3000:]
    app = Application.objects.get(client_id="svc-client")
    assert app.inventory_profile.service_tenant == tenant_a
    ok = token(client, grant_type="client_credentials", client_id="svc-client",
               client_secret="a-long-service-secret-123")
    assert ok.status_code == 200, ok.content
    principal = authenticate_bearer(ok.json()["access_token"], resource=mcp_resource())
    assert principal.user == service and principal.tenant_ids == {tenant_a.pk}


def test_beat_runs_only_known_maintenance_commands(settings):
    from inventory.tasks import maintenance

    scheduled = {tuple(e["args"]) for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "inventory.maintenance"}
    assert scheduled == {("oauth_cleanup",), ("mcp", "purge-audit")}
    with pytest.raises(ValueError):
        maintenance("flush", "--no-input")
