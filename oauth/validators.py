"""Our rules on top of django-oauth-toolkit's OAuth2Validator.

- Scopes: only ``inventory.tenancy.ALL_SCOPES`` are granted; unknown scopes a client sends
  (e.g. ``claudeai``) are dropped, never an error and never a widening. Internal tenant
  scopes (``tenant:<id>``/``tenant:*``, see :mod:`oauth.credentials`) can never be requested
  by a client: only the consent page adds them to the grant, from the user's choice, and a
  refresh always keeps the original ones.
- Resources (RFC 8707): a token is bound to exactly one of :func:`oauth.resources.allowed_resources`
  (the MCP resource when the client names none); anything else is ``invalid_target``.
  Comparison tolerates a trailing slash.
- PKCE S256 only (DOT's RFC 9700 gate rejects ``plain``; we also refuse a missing method).
- Refresh tokens die ``MCP_OAUTH_REFRESH_TOKEN_TTL`` after they were issued.
- An authorization code is used once. A replayed code is refused (``invalid_grant``) and
  every token its first exchange issued is revoked, rotated refresh tokens included
  (OAuth 2.1 section 4.1.3; :class:`oauth.models.RedeemedCode`).
- ``client_credentials`` only for confidential, admin-created clients with a user (the
  service account) and a :class:`oauth.models.ClientProfile` ``service_tenant``; the token
  acts as that user in that tenant only.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from inventory.tenancy import ALL_SCOPES, Scope
from oauth.credentials import is_tenant_scope, tenant_scopes
from oauth.resources import allowed_resources, canonical, mcp_resource

DEFAULT_SCOPES = list(Scope.values)
logger = logging.getLogger(__name__)


def known_scopes(scopes) -> list[str]:
    """The scopes we grant, in order, without duplicates; unknown and tenant scopes dropped."""
    return [s for s in dict.fromkeys(scopes or []) if s in ALL_SCOPES]


def canonical_resources(request, resources) -> list[str]:
    """Map requested resource URIs to ours, or raise ``invalid_target``."""
    result = []
    for uri in resources:
        found = canonical(uri)
        if found is None:
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description=f"Unknown resource {uri!r}; this server issues tokens for "
                            f"{' and '.join(allowed_resources())} only.",
                request=request, state=getattr(request, "state", None),
            )
        if found not in result:
            result.append(found)
    if len(result) > 1:
        raise errors.CustomOAuth2Error(
            error="invalid_target", description="A token is bound to one resource; ask for one.",
            request=request, state=getattr(request, "state", None),
        )
    return result


def client_credentials_allowed(client) -> bool:
    """Only admin-created confidential clients bound to an active service user and a tenant."""
    from oauth.models import ClientProfile

    if (
        client.client_type != client.CLIENT_CONFIDENTIAL
        or client.registration_source != client.RegistrationSource.MANUAL
        or client.user_id is None
        or not client.user.is_active
    ):
        return False
    return ClientProfile.objects.filter(application=client, service_tenant__isnull=False).exists()


class InventoryOAuth2Validator(OAuth2Validator):
    # --- scopes -------------------------------------------------------------------------
    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        granted = known_scopes(scopes) or list(DEFAULT_SCOPES)
        scopes[:] = granted  # oauthlib passes request.scopes itself
        request.scopes = granted
        return True

    def is_within_original_scope(self, request_scopes, refresh_token, request, *args, **kwargs):
        """A refresh may name unknown scopes (ignored) but nothing we did not grant before."""
        original = set(_as_list(self.get_original_scopes(refresh_token, request)))
        wanted = [s for s in request_scopes if s in ALL_SCOPES or is_tenant_scope(s)]
        return set(wanted) <= original

    # --- authorization code -------------------------------------------------------------
    def _create_authorization_code(self, request, code, expires=None):
        if request.code_challenge_method != "S256":
            raise errors.InvalidRequestError(
                description='PKCE with code_challenge_method "S256" is required.', request=request)
        request.resource = canonical_resources(request, request.resource or []) or [mcp_resource()]
        request.scopes = known_scopes(request.scopes) + tenant_scopes_from_consent(request)
        grant = super()._create_authorization_code(request, code, expires)
        from oauth.models import ClientProfile

        profile, _ = ClientProfile.objects.get_or_create(application=request.client)
        if profile.first_authorized_at is None:
            ClientProfile.objects.filter(pk=profile.pk).update(first_authorized_at=timezone.now())
        return grant

    # --- tokens -------------------------------------------------------------------------
    def _check_and_set_request_resource(self, request):
        resource = getattr(request, "resource", None)
        if isinstance(resource, str):
            values = [v for k, v in (getattr(request, "decoded_body", None) or []) if k == "resource"]
            resource = values or [resource]
        request.resource = canonical_resources(request, [r for r in (resource or []) if r and r.strip()])
        super()._check_and_set_request_resource(request)
        if not request.resource:
            request.resource = [mcp_resource()]

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        if grant_type == "client_credentials" and not client_credentials_allowed(client):
            return False
        if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type == "refresh_token":
            # keep the tenant restriction the user consented to, whatever the client asks
            original = _as_list(self.get_original_scopes(request.refresh_token, request))
            request.scopes = known_scopes(request.scopes) + [s for s in original if is_tenant_scope(s)]
        elif request.grant_type == "client_credentials":
            profile = request.client.inventory_profile
            request.scopes = known_scopes(request.scopes) + tenant_scopes([profile.service_tenant_id])
        token["scope"] = " ".join(request.scopes)
        return super().save_bearer_token(token, request, *args, **kwargs)

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        if request.grant_type == "client_credentials":
            request.user = request.client.user  # the service account the admin bound
        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        request.issued_access_token = access_token
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh_token = super()._create_refresh_token(request, refresh_token_code, access_token,
                                                      previous_refresh_token)
        request.issued_token_family = refresh_token.token_family
        return refresh_token

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        rt = request.refresh_token_instance
        if rt.created + timedelta(seconds=settings.MCP_OAUTH_REFRESH_TOKEN_TTL) <= timezone.now():
            return False
        return bool(rt.user and rt.user.is_active)

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            _revoke_if_replayed(client, code)
            return False
        return bool(request.user and request.user.is_active)

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        """Called once the tokens are saved: a :class:`RedeemedCode` is recorded, the grant goes.

        Two concurrent exchanges of one code both get here; the record's unique checksum lets
        exactly one through. The other revokes the winner's tokens and its own: the code leaked.
        """
        from oauth.models import RedeemedCode, hash_key

        redeemed = RedeemedCode(code_checksum=hash_key(code), application=request.client,
                                token_family=getattr(request, "issued_token_family", None),
                                access_token=getattr(request, "issued_access_token", None))
        try:
            with transaction.atomic():
                redeemed.save()
        except IntegrityError:
            _revoke_if_replayed(request.client, code)
            redeemed.revoke_tokens()
            with contextlib.suppress(errors.InvalidGrantError):  # the winner may have deleted it
                super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
            raise errors.InvalidGrantError(request=request)
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)


def _revoke_if_replayed(client, code) -> None:
    from oauth.models import RedeemedCode, hash_key

    # whoever presents it: a public client's id is no secret, so any replay means the code leaked
    redeemed = RedeemedCode.objects.filter(code_checksum=hash_key(code or "")).first()
    if redeemed is not None:
        logger.warning("Authorization code replayed (presented by OAuth client %s): revoking the tokens it "
                       "was exchanged for", client.client_id if client is not None else "?")
        redeemed.revoke_tokens()


def _as_list(scopes) -> list[str]:
    """DOT returns original scopes as a string (or an empty list)."""
    return scopes.split() if isinstance(scopes, str) else list(scopes or [])


def tenant_scopes_from_consent(request) -> list[str]:
    """Tenant scopes the consent page put on the request (never from the client)."""
    return [s for s in (getattr(request, "consented_tenant_scopes", None) or []) if is_tenant_scope(s)]
