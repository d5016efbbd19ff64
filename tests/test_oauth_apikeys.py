"""API keys: hash-only storage, narrowing, revocation/expiry, DRF authentication, command, admin."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from inventory.models import Tenant
from inventory.tenancy import ALL_SCOPES
from oauth import challenges
from oauth.authentication import BearerAuthentication
from oauth.credentials import authenticate_bearer
from oauth.models import ApiKey


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def two_tenant_user(make_user, tenant_a, tenant_b):
    return make_user("both", {tenant_a: "operator", tenant_b: "viewer"})


def test_key_is_stored_as_hash_only(two_tenant_user):
    key, raw = ApiKey.create(two_tenant_user, "script")
    assert raw.startswith("inv_") and len(raw) > 40
    assert key.prefix == raw[:12]
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert not any(isinstance(v, str) and raw in v for v in stored.values())
    assert raw[12:] not in str(stored)


def test_key_acts_as_its_user_with_all_scopes_by_default(two_tenant_user, tenant_a, tenant_b):
    _, raw = ApiKey.create(two_tenant_user, "script")
    principal = authenticate_bearer(raw)
    assert principal.via == "api_key" and principal.user == two_tenant_user
    assert principal.scopes == ALL_SCOPES
    assert set(Tenant.objects.restrict(principal, "view")) == {tenant_a, tenant_b}
    assert principal.can("change", tenant_a) and not principal.can("change", tenant_b)  # roles still apply


def test_key_narrowed_by_scopes_and_tenant(two_tenant_user, tenant_a, tenant_b):
    _, raw = ApiKey.create(two_tenant_user, "ro", scopes=["inventory:read"], tenant=tenant_a)
    principal = authenticate_bearer(raw, resource="https://elsewhere.example/mcp")  # keys: any resource
    assert list(Tenant.objects.restrict(principal, "view")) == [tenant_a]
    assert not principal.can("change", tenant_a)
    assert principal.missing_scopes("change") == ["inventory:write"]


def test_key_cannot_name_a_tenant_the_user_is_not_in(make_user, tenant_a, tenant_b):
    user = make_user("solo", {tenant_a: "viewer"})
    with pytest.raises(Exception) as exc:
        ApiKey.create(user, "x", tenant=tenant_b)
    assert "tenant" in str(exc.value)
    with pytest.raises(Exception):
        ApiKey.create(user, "x", scopes=["inventory:everything"])
    assert not ApiKey.objects.exists()


def test_revoked_expired_unknown_and_inactive_are_refused(two_tenant_user):
    key, raw = ApiKey.create(two_tenant_user, "k")
    assert authenticate_bearer(raw) is not None
    assert authenticate_bearer(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert authenticate_bearer("inv_nothing") is None
    assert authenticate_bearer("") is None
    key.revoke()
    assert authenticate_bearer(raw) is None

    key2, raw2 = ApiKey.create(two_tenant_user, "k2", expires_at=timezone.now() + timedelta(hours=1))
    assert authenticate_bearer(raw2) is not None
    ApiKey.objects.filter(pk=key2.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert authenticate_bearer(raw2) is None

    _, raw3 = ApiKey.create(two_tenant_user, "k3")
    two_tenant_user.is_active = False
    two_tenant_user.save()
    assert authenticate_bearer(raw3) is None


def test_last_use_is_recorded(two_tenant_user):
    key, raw = ApiKey.create(two_tenant_user, "k")
    assert key.last_used_at is None
    authenticate_bearer(raw)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    authenticate_bearer(raw)  # within the minute: no second write
    key.refresh_from_db()
    assert key.last_used_at == first


class Probe(APIView):
    authentication_classes = [BearerAuthentication]
    permission_classes = []

    def get(self, request):
        if request.auth is None:
            return Response(status=401)
        return Response({"user": request.user.username, "via": request.auth.via})


def test_drf_bearer_authentication(two_tenant_user):
    _, raw = ApiKey.create(two_tenant_user, "k")
    factory = APIRequestFactory()
    ok = Probe.as_view()(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    assert ok.status_code == 200 and ok.data == {"user": "both", "via": "api_key"}

    for header in (f"Bearer {raw}x", "Bearer", f"Bearer {raw} extra"):
        bad = Probe.as_view()(factory.get("/x", HTTP_AUTHORIZATION=header))
        assert bad.status_code == 401, header
        assert bad["WWW-Authenticate"].startswith("Bearer ")
        assert 'resource_metadata="http' in bad["WWW-Authenticate"]
    assert 'error="invalid_token"' in Probe.as_view()(
        factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {raw}x"))["WWW-Authenticate"]


@override_settings(PUBLIC_URL="https://inv.example.com")
def test_challenge_headers():
    assert challenges.unauthorized() == (
        'Bearer resource_metadata="https://inv.example.com/.well-known/oauth-protected-resource/mcp", '
        'scope="inventory:read inventory:write inventory:delete jobs:execute"'
    )
    assert challenges.unauthorized(["inventory:read"], error="invalid_token") == (
        'Bearer error="invalid_token", resource_metadata='
        '"https://inv.example.com/.well-known/oauth-protected-resource/mcp", scope="inventory:read"'
    )
    assert challenges.insufficient_scope(["inventory:read", "inventory:write"]) == (
        'Bearer error="insufficient_scope", scope="inventory:read inventory:write", '
        'resource_metadata="https://inv.example.com/.well-known/oauth-protected-resource/mcp"'
    )
    assert "oauth-protected-resource/api" in challenges.unauthorized(resource="/api")


def test_apikey_command(two_tenant_user, tenant_a):
    out, err = StringIO(), StringIO()
    call_command("apikey", "create", "--user", "both", "--scopes", "inventory:read,inventory:write",
                 "--tenant", "Tenant A", "--expires", "30d", "--name", "ci", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert key.prefix == raw[:12] and key.scopes == ["inventory:read", "inventory:write"]
    assert key.tenant == tenant_a and key.expires_at > timezone.now() + timedelta(days=29)
    assert authenticate_bearer(raw).user == two_tenant_user

    listing = StringIO()
    call_command("apikey", "list", stdout=listing)
    assert key.prefix in listing.getvalue() and raw not in listing.getvalue()

    call_command("apikey", "revoke", key.prefix, stdout=StringIO())
    assert authenticate_bearer(raw) is None

    for bad in (["--user", "nobody"], ["--user", "both", "--scopes", "root"],
                ["--user", "both", "--tenant", "nope"], ["--user", "both", "--expires", "soonish"]):
        with pytest.raises(CommandError):
            call_command("apikey", "create", *bad, stdout=StringIO(), stderr=StringIO())
    assert ApiKey.objects.count() == 1
    with pytest.raises(CommandError):
        call_command("apikey", "revoke", "inv_missing0", stdout=StringIO())


def test_admin_shows_key_once_and_revokes(client, two_tenant_user, tenant_a, make_user):
    client.force_login(two_tenant_user)
    response = client.post("/admin/oauth/apikey/add/", {
        "name": "from admin", "scopes": ["inventory:read"], "tenant": tenant_a.pk, "expires_at_0": "",
        "expires_at_1": "",
    })
    assert response.status_code == 200, response.content[:2000]
    key = ApiKey.objects.get()
    raw = response.context["raw_key"]
    assert raw.startswith(key.prefix) and raw.encode() in response.content
    assert key.user == two_tenant_user and key.scopes == ["inventory:read"]
    # the change page never shows it again
    page = client.get(f"/admin/oauth/apikey/{key.pk}/change/")
    assert page.status_code == 200 and raw.encode() not in page.content

    # another member cannot see or revoke it
    other = make_user("other", {tenant_a: "admin"})
    client.force_login(other)
    assert client.get(f"/admin/oauth/apikey/{key.pk}/change/").status_code in (302, 403, 404)
    client.post("/admin/oauth/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is None

    client.force_login(two_tenant_user)
    client.post("/admin/oauth/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert authenticate_bearer(raw) is None
