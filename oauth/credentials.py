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

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from inventory.runtime.caching import bump, cached
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


#: how long a resolved credential may be served from the shared cache; any change to keys,
#: tokens, OAuth clients, users, memberships or tenants invalidates it at once (``inventory.runtime.caching``)
PRINCIPAL_CACHE_SECONDS = 300
CREDENTIALS = "credentials"  # the generation those changes bump


def forget_credentials() -> None:
    """Drop every cached credential (a key, token, client, user, membership or tenant changed)."""
    bump(CREDENTIALS)


def authenticate_bearer(raw: str, *, resource: str | None = None) -> Principal | None:
    """Resolve ``raw`` (the text after ``Bearer ``) to a principal, or None if it is unknown,
    revoked, expired, belongs to an inactive user, or (OAuth) is not bound to ``resource``.

    A resolved credential (the principal with its roles) is kept in the shared cache under the
    SHA-256 of the bearer until something it depends on changes (see ``oauth.signals``), so a
    request usually costs one cache round trip and no query.

    Synchronous (database access): call it from async code through
    ``asgiref.sync.sync_to_async``.
    """
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if not raw or len(raw) > _MAX_BEARER_LENGTH:
        return None
    from oauth.models import API_KEY_PREFIX, hash_key

    checksum = hash_key(raw)
    kind = "apikey" if raw.startswith(API_KEY_PREFIX) else "oauth"
    build = _api_key_entry if kind == "apikey" else _oauth_entry
    entry = cached(f"inv:principal:{kind}:{checksum}", (CREDENTIALS,), lambda: build(checksum))
    if entry is None:
        return None
    principal, valid_until, resources, used_key = entry
    if valid_until is not None and time.time() >= valid_until:
        return None
    if kind == "oauth" and (resource is None or not any(same_resource(resource, r) for r in resources)):
        return None
    _record_use(*used_key)
    return principal


@dataclass(frozen=True)
class CredentialRef:
    """What a principal keeps of its credential: no secret, so it can sit in the cache."""

    kind: str  # "apikey" or "oauth"
    pk: int
    prefix: str = ""  # an API key's visible prefix
    tool_mode: str = ""  # the key's or OAuth client's MCP tools/list mode ("" = the server's)


def _without_password(user):
    """The same user with the password hash left out (deferred): safe to cache, and a save()
    writes only the loaded fields."""
    names = [f.attname for f in user._meta.concrete_fields if f.attname != "password"]
    return type(user).from_db(user._state.db, names, [getattr(user, n) for n in names])


def _entry(principal: Principal, expires, resources, used_key):
    """(cache entry, timeout): the principal with its roles resolved, valid until ``expires``."""
    principal.user = _without_password(principal.user)
    principal.roles  # noqa: B018 - resolve the memberships now, so cached hits need no query
    valid_until = expires.timestamp() if expires is not None else None
    timeout = PRINCIPAL_CACHE_SECONDS
    if valid_until is not None:
        timeout = max(0, min(timeout, int(valid_until - time.time())))
    return (principal, valid_until, resources, used_key), timeout


def _api_key_entry(checksum: str):
    from oauth.models import ApiKey

    key = ApiKey.objects.select_related("user").filter(key_hash=checksum).first()
    if key is None or not key.is_active or not key.user.is_active:
        return None, 0
    principal = key.principal()
    principal.credential = CredentialRef("apikey", key.pk, key.prefix, key.tool_mode)
    return _entry(principal, key.expires_at, [], ("apikey", key.pk))


def _oauth_entry(checksum: str):
    from oauth2_provider.models import get_access_token_model
    from oauth2_provider.settings import oauth2_settings

    token = (
        get_access_token_model().objects.select_related("user", "application")
        .filter(token_checksum=checksum).first()
    )
    if token is None or token.is_expired() or token.application is None or token.user is None:
        return None, 0
    scopes = token.scope.split()
    if oauth2_settings.DCR_REGISTRATION_SCOPE in scopes:  # never a bearer for resources
        return None, 0
    if not token.user.is_active:
        return None, 0
    principal = Principal(
        token.user,
        scopes=scopes,
        tenant_ids=tenant_ids_from_scopes(scopes),
        via="oauth",
        credential=CredentialRef("oauth", token.pk, tool_mode=_client_tool_mode(token.application_id)),
        client_id=token.application.client_id,
        client_name=token.application.name,
    )
    return _entry(principal, token.expires, list(token.resource or []), ("oauthclient", token.application_id))


def _client_tool_mode(application_id) -> str:
    from oauth.models import ClientProfile

    return ClientProfile.objects.filter(application_id=application_id).values_list("tool_mode", flat=True).first() or ""


#: per process: when each credential's last use was last recorded (spares a cache call per request)
_recorded: dict[tuple[str, int], float] = {}


def _record_use(kind: str, pk: int) -> None:
    now = time.monotonic()
    if now - _recorded.get((kind, pk), -LAST_USED_INTERVAL) < LAST_USED_INTERVAL:
        return
    if len(_recorded) > 10000:
        _recorded.clear()
    _recorded[(kind, pk)] = now
    if not _first_use_in_interval(kind, pk):
        return
    if kind == "apikey":
        from oauth.models import ApiKey

        ApiKey.objects.filter(pk=pk).update(last_used_at=timezone.now())
    else:
        from oauth.models import ClientProfile

        stamp = timezone.now()
        if not ClientProfile.objects.filter(application_id=pk).update(last_used_at=stamp):
            ClientProfile.objects.get_or_create(application_id=pk, defaults={"last_used_at": stamp})


def _first_use_in_interval(kind: str, pk) -> bool:
    """True once per LAST_USED_INTERVAL per credential (cheap: one cache ``add``)."""
    try:
        return cache.add(f"oauth:last-used:{kind}:{pk}", 1, LAST_USED_INTERVAL)
    except Exception:  # a cache outage must not lock people out
        log.warning("cache unavailable; not recording last use", exc_info=True)
        return False
