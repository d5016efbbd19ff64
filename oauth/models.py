"""Credentials that are not sessions: API keys, and what we keep beside DOT's OAuth clients.

API keys
    ``inv_<8 chars>_<43 chars>``; only the SHA-256 of the whole key is stored (the key has
    256 bits of entropy, so a plain hash is enough, no slow KDF needed). The first 12
    characters (``inv_XXXXXXXX``) are kept in clear as a visible prefix to recognise a key in
    lists and logs. A key acts as its user, narrowed by:

    - ``scopes``: a subset of ``inventory.tenancy.ALL_SCOPES``; **empty means all four
      scopes** (no scope narrowing; the user's roles still apply);
    - ``tenant``: when set, only that tenant (and only while the user is a member of it).

OAuth clients
    DOT's ``oauth2_provider.Application`` is not swapped; :class:`ClientProfile` adds what
    we need per client: the tenant a ``client_credentials`` service client is bound to, when
    the client was first authorized and last used.
"""

from __future__ import annotations

import hashlib
import secrets
import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from inventory.tenancy import ALL_SCOPES, Principal

API_KEY_PREFIX = "inv_"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits


def hash_key(raw: str) -> str:
    """SHA-256 hex digest of a secret: all the database keeps of an API key, an OAuth token
    (DOT's ``token_checksum``) or a redeemed authorization code."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def validate_scopes(value):
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError("Scopes must be a list of scope names.")
    unknown = sorted(set(value) - ALL_SCOPES)
    if unknown:
        raise ValidationError(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(sorted(ALL_SCOPES))}."
        )


TOOL_MODES = [("", "Server default (MCP_TOOL_LIST_MODE)"), ("full", "Full: every tool in tools/list"),
              ("progressive", "Progressive: a core set, the rest through tool_search")]


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    def revoke(self, at=None) -> int:
        """Revoke the keys not yet revoked; they stop working at once, in every process."""
        from oauth.credentials import forget_credentials

        count = self.filter(revoked_at__isnull=True).update(revoked_at=at or timezone.now())
        forget_credentials()
        return count


class ApiKey(models.Model):
    """A bearer key for scripts: ``Authorization: Bearer inv_XXXXXXXX_...``.

    Create with :meth:`ApiKey.create` (returns the raw key once; it is never stored).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'backup script'.")
    prefix = models.CharField(max_length=12, unique=True, editable=False,
                              help_text="Visible start of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True, validators=[validate_scopes],
                              help_text="Scopes the key is limited to; empty means all scopes.")
    tenant = models.ForeignKey("inventory.Tenant", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="api_keys", help_text="Limit the key to this tenant.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    tool_mode = models.CharField(max_length=12, blank=True, default="", choices=TOOL_MODES,
                                 help_text="How MCP's tools/list presents tools to this key.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    # --- creation -----------------------------------------------------------------------
    @staticmethod
    def new_raw_key() -> str:
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
        return f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"

    def set_raw_key(self, raw: str) -> None:
        self.prefix = raw[:12]
        self.key_hash = hash_key(raw)

    @classmethod
    def create(cls, user, name: str, *, scopes=(), tenant=None, expires_at=None,
               tool_mode: str = "") -> tuple["ApiKey", str]:
        """Validate and save a new key; return ``(key, raw)``. Show ``raw`` once."""
        raw = cls.new_raw_key()
        key = cls(user=user, name=name, scopes=sorted(set(scopes)), tenant=tenant, expires_at=expires_at,
                  tool_mode=tool_mode)
        key.set_raw_key(raw)
        key.full_clean()
        key.save()
        return key, raw

    def clean(self):
        errors = {}
        if self.tenant_id and self.user_id and not self.user.is_superuser:
            if not self.user.memberships.filter(tenant_id=self.tenant_id).exists():
                errors["tenant"] = "The user is not a member of this tenant."
        if self.expires_at and self._state.adding and self.expires_at <= timezone.now():
            errors["expires_at"] = "The expiry must be in the future."
        if errors:
            raise ValidationError(errors)

    # --- state --------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiKey.objects.filter(pk=self.pk).revoke(at=self.revoked_at)

    def principal(self) -> Principal:
        """The user, narrowed to the key's scopes (all when empty) and tenant."""
        return Principal(
            self.user,
            scopes=self.scopes or ALL_SCOPES,
            tenant_ids=[self.tenant_id] if self.tenant_id else None,
            via="api_key",
            credential=self,
        )


class ClientProfile(models.Model):
    """Our data about one OAuth client (DOT ``Application``), created on demand."""

    application = models.OneToOneField(oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE,
                                       primary_key=True, related_name="inventory_profile")
    service_tenant = models.ForeignKey(
        "inventory.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="service_clients",
        help_text="client_credentials clients only: the one tenant the service user acts in.",
    )
    first_authorized_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    tool_mode = models.CharField(max_length=12, blank=True, default="", choices=TOOL_MODES,
                                 help_text="How MCP's tools/list presents tools to this client.")

    class Meta:
        verbose_name = "OAuth client profile"

    def __str__(self):
        return f"profile of {self.application}"


class RedeemedCode(models.Model):
    """An authorization code that was exchanged, remembered (as a SHA-256) to catch a replay.

    DOT deletes a grant when its code is exchanged, so a second exchange only sees an unknown
    code. OAuth 2.1 (section 4.1.3) asks more: refuse it *and* revoke the tokens the first
    exchange issued, since the code has leaked. This row names them: the refresh-token family
    (every rotation stays in it) and the first access token. Its unique checksum also decides
    a race between two concurrent exchanges of one code. Kept ``MCP_OAUTH_REFRESH_TOKEN_TTL``
    (``oauth_cleanup``), the longest those tokens can live.
    """

    code_checksum = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    token_family = models.UUIDField(null=True, blank=True)
    access_token = models.ForeignKey(oauth2_settings.ACCESS_TOKEN_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "redeemed authorization code"

    def __str__(self):
        return f"code redeemed by {self.application_id} at {self.created:%Y-%m-%d %H:%M:%S}"

    def revoke_tokens(self) -> None:
        """Revoke everything the exchange issued, rotations included."""
        from oauth2_provider.models import get_access_token_model, get_refresh_token_model

        if self.token_family:
            get_refresh_token_model().revoke_family(self.token_family)
        if self.access_token_id:
            get_access_token_model().objects.filter(pk=self.access_token_id).delete()
