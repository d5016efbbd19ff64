"""The one place that turns a bearer string into a :class:`~inventory.tenancy.Principal`.

Used by the REST API (``oauth.authentication.BearerAuthentication``) and the MCP gateway.

Two kinds of bearer:

- API keys (``inv_...``, :class:`oauth.models.ApiKey`): accepted for any resource.
- OAuth access tokens issued by this server (django-oauth-toolkit, stored as SHA-256
  checksums only). A token is bound to one resource (RFC 8707) and is accepted only where
  that resource is required: ``authenticate_bearer(raw, resource=PUBLIC_URL + "/mcp")``
  refuses a token bound to ``/api``, to anything else, or to nothing. With
  ``resource=None`` no OAuth token is accepted at all (fail closed).

Tenant narrowing of OAuth tokens travels in the token's scope string as internal
``tenant:<id>`` entries (or ``tenant:*`` for "all my tenants"), chosen by the user on the
consent page (clients cannot request them; ``oauth.validators`` strips them). A token
without any tenant entry sees no tenant. Unknown scopes (e.g. Claude's ``claudeai``) are
ignored: ``Principal`` keeps only ``inventory.tenancy.ALL_SCOPES``.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache
from django.utils import timezone

from inventory.tenancy import Principal
from oauth.resources import same_resource

log = logging.getLogger(__name__)

TENANT_SCOPE_PREFIX = "tenant:"
ALL_TENANTS_SCOPE = "tenant:*"
#: record last use at most this often per credential
LAST_USED_INTERVAL = 60
_MAX_BEARER_LENGTH = 512


def is_tenant_scope(scope: str) -> bool:
    return scope.startswith(TENANT_SCOPE_PREFIX) and (
        scope == ALL_TENANTS_SCOPE or scope[len(TENANT_SCOPE_PREFIX):].isdigit()
    )


def tenant_scopes(tenant_ids) -> list[str]:
    """``None`` (all the user's tenants) -> ``["tenant:*"]``; ``[3, 5]`` -> ``["tenant:3", "tenant:5"]``."""
    if tenant_ids is None:
        return [ALL_TENANTS_SCOPE]
    return [f"{TENANT_SCOPE_PREFIX}{int(t)}" for t in sorted(set(tenant_ids))]


def tenant_ids_from_scopes(scopes) -> frozenset[int] | None:
    """The tenant narrowing carried by a scope list: None = all, empty = none."""
    scopes = list(scopes)
    if ALL_TENANTS_SCOPE in scopes:
        return None
    return frozenset(int(s[len(TENANT_SCOPE_PREFIX):]) for s in scopes if is_tenant_scope(s))


def authenticate_bearer(raw: str, *, resource: str | None = None) -> Principal | None:
    """Resolve ``raw`` (the text after ``Bearer ``) to a principal, or None if it is unknown,
    revoked, expired, belongs to an inactive user, or (OAuth) is not bound to ``resource``.

    Synchronous (database access): call it from async code through
    ``asgiref.sync.sync_to_async``.
    """
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if not raw or len(raw) > _MAX_BEARER_LENGTH:
        return None
    from oauth.models import API_KEY_PREFIX

    if raw.startswith(API_KEY_PREFIX):
        return _api_key_principal(raw)
    return _oauth_principal(raw, resource)


def _api_key_principal(raw: str) -> Principal | None:
    from oauth.models import ApiKey, hash_key

    key = ApiKey.objects.select_related("user").filter(key_hash=hash_key(raw)).first()
    if key is None or not key.is_active or not key.user.is_active:
        return None
    if _first_use_in_interval("apikey", key.pk):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key.principal()


def _oauth_principal(raw: str, resource: str | None) -> Principal | None:
    from oauth2_provider.models import get_access_token_model
    from oauth2_provider.settings import oauth2_settings

    checksum = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    token = (
        get_access_token_model().objects.select_related("user", "application")
        .filter(token_checksum=checksum).first()
    )
    if token is None or token.is_expired() or token.application is None or token.user is None:
        return None
    scopes = token.scope.split()
    if oauth2_settings.DCR_REGISTRATION_SCOPE in scopes:  # never a bearer for resources
        return None
    if resource is None or not any(same_resource(resource, r) for r in (token.resource or [])):
        return None
    if not token.user.is_active:
        return None
    if _first_use_in_interval("oauthclient", token.application_id):
        from oauth.models import ClientProfile

        now = timezone.now()
        if not ClientProfile.objects.filter(application_id=token.application_id).update(last_used_at=now):
            ClientProfile.objects.get_or_create(application_id=token.application_id,
                                                defaults={"last_used_at": now})
    return Principal(
        token.user,
        scopes=scopes,
        tenant_ids=tenant_ids_from_scopes(scopes),
        via="oauth",
        credential=token,
        client_id=token.application.client_id,
        client_name=token.application.name,
    )


def _first_use_in_interval(kind: str, pk) -> bool:
    """True once per LAST_USED_INTERVAL per credential (cheap: one cache ``add``)."""
    try:
        return cache.add(f"oauth:last-used:{kind}:{pk}", 1, LAST_USED_INTERVAL)
    except Exception:  # a cache outage must not lock people out
        log.warning("cache unavailable; not recording last use", exc_info=True)
        return False
