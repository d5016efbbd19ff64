"""Audit rows of MCP calls and per-tenant tool-group policies."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from inventory.models.base import TenantOwned
from inventory.tenancy import RestrictedQuerySet


class AuthKind(models.TextChoices):
    OAUTH = "oauth", "OAuth token"
    API_KEY = "api_key", "API key"
    STDIO = "stdio", "stdio (API key)"
    SESSION = "session", "Session"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    DENIED = "denied", "Denied (insufficient scope)"
    PENDING = "pending", "Asked for confirmation"
    DECLINED = "declined", "Confirmation declined"


class McpCall(models.Model):
    """One MCP tool call: who, through what, which tool, with what (redacted), and how it ended."""

    call_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False,
                               help_text="Also the django-auditlog correlation id (cid) of changes made by the call.")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, blank=True, default="")
    tenant = models.ForeignKey("inventory.Tenant", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", help_text="The tenant the call acted in, when there is one.")
    auth_kind = models.CharField(max_length=16, choices=AuthKind.choices)
    client_id = models.CharField(max_length=255, blank=True, default="", help_text="OAuth client id.")
    client_name = models.CharField(max_length=255, blank=True, default="")
    transport = models.CharField(max_length=16, default="http")
    tool = models.CharField(max_length=100, db_index=True)
    arguments = models.JSONField(default=dict, blank=True, help_text="Arguments, secrets redacted.")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    error_code = models.CharField(max_length=32, blank=True, default="")
    error_message = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.FloatField(default=0)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    served_by = models.CharField(max_length=100, blank=True, default="",
                                 help_text="host:pid of the server process that ran the call (match with its logs).")
    custom_tool_id = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="The custom tool called (its id; kept after it is deleted).")
    tool_version = models.PositiveIntegerField(null=True, blank=True, help_text="The custom tool's version then.")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = "MCP call"
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["tenant", "-created"], name="mcpcall_tenant_created_idx")]

    def __str__(self):
        return f"{self.tool} by {self.username or '?'} ({self.outcome})"


class ToolGroupPolicy(TenantOwned):
    """Which MCP tool groups may be used in a tenant (``client_id`` blank: by every client), or
    by one OAuth client in that tenant. No row: every group is enabled."""

    client_id = models.CharField(
        max_length=255, blank=True, default="",
        help_text="OAuth client id this row restricts; blank for the tenant's default for every client.",
    )
    class Mode(models.TextChoices):
        OPT_IN = "opt_in", "Opt-in: only the groups listed as enabled (new groups start disabled)"
        OPT_OUT = "opt_out", "Opt-out: every group but those listed as disabled (new groups start enabled)"

    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.OPT_IN)
    enabled_groups = models.JSONField(default=list, blank=True, help_text="Opt-in: tool groups enabled; others are off.")
    disabled_groups = models.JSONField(default=list, blank=True, help_text="Opt-out: tool groups disabled; others are on.")

    class Meta:
        verbose_name = "MCP tool group policy"
        verbose_name_plural = "MCP tool group policies"
        ordering = ["tenant__name", "client_id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "client_id"], name="toolgrouppolicy_unique")]

    def __str__(self):
        who = f"client {self.client_id}" if self.client_id else "all clients"
        if self.mode == self.Mode.OPT_OUT:
            return f"{self.tenant}: {who}: all but {', '.join(self.disabled_groups) or 'none'}"
        return f"{self.tenant}: {who}: {', '.join(self.enabled_groups) or 'no groups'}"

    def enables(self, group: str) -> bool:
        if self.mode == self.Mode.OPT_OUT:
            return group not in self.disabled_groups
        return group in self.enabled_groups

    def clean(self):
        super().clean()
        from mcp_gateway.registry import registry

        known = registry.groups()
        errors = {}
        for name in ("enabled_groups", "disabled_groups"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
                errors[name] = "A list of tool group names."
                continue
            unknown = sorted(set(value) - set(known))
            if unknown:
                errors[name] = f"Unknown tool groups: {', '.join(unknown)} (known: {', '.join(known)})."
            setattr(self, name, sorted(set(value)))
        if errors:
            raise ValidationError(errors)


class ConfirmationPolicy(TenantOwned):
    """Which MCP tool calls ask the person for confirmation in a tenant.

    No row: every destructive tool asks (``confirm_destructive``), nothing else. Tenant admins
    add write tools (``extra_tools``), exempt destructive ones (``exempt_tools``) or make any
    write whose impact counts more than ``impact_threshold`` objects ask (0: off).
    """

    confirm_destructive = models.BooleanField(
        default=True, help_text="Every tool annotated destructive (deletes, remote commands) asks first.")
    extra_tools = models.JSONField(default=list, blank=True,
                                   help_text="Other write tools that ask first (tool names).")
    exempt_tools = models.JSONField(default=list, blank=True,
                                    help_text="Destructive tools that do not ask (tool names).")
    impact_threshold = models.PositiveIntegerField(
        default=0, help_text="A write whose impact counts more objects than this asks first (0: off).")

    class Meta:
        verbose_name = "MCP confirmation policy"
        verbose_name_plural = "MCP confirmation policies"
        ordering = ["tenant__name"]
        constraints = [models.UniqueConstraint(fields=["tenant"], name="confirmationpolicy_unique_tenant")]

    def __str__(self):
        return f"{self.tenant}: confirmation policy"

    def clean(self):
        super().clean()
        from mcp_gateway.registry import registry

        errors = {}
        for name in ("extra_tools", "exempt_tools"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                errors[name] = "A list of tool names."
                continue
            writes = {t.name for t in registry.all() if not t.read_only}
            unknown = sorted(set(value) - writes)
            if unknown:
                errors[name] = f"Not write tools: {', '.join(unknown)}."
            setattr(self, name, sorted(set(value)))
        if errors:
            raise ValidationError(errors)

    def requires(self, tool, destructive: bool | None = None) -> bool:
        """``destructive``: this call's own answer (``Impact.destructive``), else the tool's flag."""
        if tool.read_only:
            return False
        if tool.name in self.extra_tools:
            return True
        destructive = tool.destructive if destructive is None else destructive
        return bool(self.confirm_destructive and destructive and tool.name not in self.exempt_tools)


class ConfirmationStatus(models.TextChoices):
    PENDING = "pending", "Awaiting the answer"
    ACCEPTED = "accepted", "Confirmed (the call ran)"
    DECLINED = "declined", "Declined (nothing written)"


class ConfirmationPath(models.TextChoices):
    INPUT_REQUIRED = "input_required", "2026-07-28 input_required result"
    ELICITATION = "elicitation", "elicitation/create"
    TOKEN = "token", "CONFIRMATION_REQUIRED + confirm_token"


class Confirmation(models.Model):
    """One confirmation asked before a tool call: the request (who, tool, arguments, impact) and
    the answer. The token is single-use, bound to the caller, the tool and the exact arguments,
    and valid until ``expires``; only its SHA-256 is stored."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    expires = models.DateTimeField()
    answered = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, blank=True, default="")
    caller = models.CharField(max_length=64, editable=False, help_text="Digest of the caller's credential.")
    tenant = models.ForeignKey("inventory.Tenant", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    tool = models.CharField(max_length=100)
    arguments = models.JSONField(default=dict, blank=True, help_text="Arguments, secrets redacted.")
    arguments_digest = models.CharField(max_length=64, editable=False)
    impact = models.JSONField(default=dict, blank=True)
    impact_text = models.CharField(max_length=1000, blank=True, default="")
    path = models.CharField(max_length=16, choices=ConfirmationPath.choices)
    status = models.CharField(max_length=10, choices=ConfirmationStatus.choices, default=ConfirmationStatus.PENDING)
    request_call_id = models.UUIDField(null=True, blank=True, help_text="The McpCall that asked.")
    answer_call_id = models.UUIDField(null=True, blank=True, help_text="The McpCall that answered.")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = "MCP confirmation"
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.tool} by {self.username or '?'} ({self.status})"


from .custom.models import CustomTool  # noqa: E402,F401  (the app's models module lists every model)
