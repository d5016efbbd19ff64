"""A custom MCP tool: a declaration (kind + parameters + definition), never code.

Tenant-owned rows are visible to that tenant's members; global rows (no tenant) are made by
superusers and visible to everybody whose role allows them. Every rule is checked by the model
(``clean()`` runs on every save), so the admin, REST and any other writer refuse the same input.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from inventory.tenancy import Action, Principal, RestrictedQuerySet, Role

NAME_RE = r"^[a-z][a-z0-9_]{2,63}$"


class ToolKind(models.TextChoices):
    QUERY = "query", "Query (read-only list over one kind)"
    COMMAND = "command", "Command (run on selected devices as jobs)"
    BLUEPRINT = "blueprint", "Blueprint (a preset use_blueprint)"


#: what a kind needs: the tenancy action (and with it the credential scope)
ACTION_FOR_KIND = {ToolKind.QUERY: Action.VIEW, ToolKind.COMMAND: Action.EXECUTE, ToolKind.BLUEPRINT: Action.EXECUTE}

ALL_ROLES = [Role.VIEWER.value, Role.OPERATOR.value, Role.ADMIN.value]


class CustomToolQuerySet(RestrictedQuerySet):
    def restrict(self, who, action: str = Action.VIEW):
        """Tenant rows as any tenant-owned kind; global rows are readable by everybody signed in
        and writable only by superusers (unnarrowed)."""
        principal = Principal.of(who)
        tenant_ids = principal.tenant_ids_for(action)
        if tenant_ids is None:
            return self
        own = Q(tenant_id__in=tenant_ids) if tenant_ids else Q(pk__in=[])
        if action == Action.VIEW and principal.allows_action(Action.VIEW):
            return self.filter(own | Q(tenant__isnull=True))
        return self.filter(own)


class CustomTool(models.Model):
    tenant = models.ForeignKey("inventory.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                               help_text="Owner tenant; empty for a global tool (superusers only).")
    name = models.CharField(max_length=64, unique=True, validators=[RegexValidator(
        NAME_RE, "Lower-case letters, digits and underscores, starting with a letter, 3 to 64 characters.")],
        help_text="The MCP tool name, e.g. prod_web_servers.")
    title = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(help_text="What the assistant reads to decide when to call it.")
    kind = models.CharField(max_length=16, choices=ToolKind.choices)
    parameters = models.JSONField(default=dict, blank=True,
                                  help_text='The tool\'s input: a JSON Schema object, e.g. {"type": "object", '
                                            '"properties": {"datacenter": {"type": "integer"}}}.')
    definition = models.JSONField(default=dict, blank=True, help_text="What the kind does (see the kind's docs).")
    roles = models.JSONField(default=list, blank=True,
                             help_text="Tenancy roles that may see and call it (viewer, operator, admin); "
                                       "empty: every role the kind allows.")
    groups = models.ManyToManyField("auth.Group", blank=True, related_name="+",
                                    help_text="If set, only members of these Django groups may see and call it.")
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Bumped on every change.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = CustomToolQuerySet.as_manager()

    class Meta:
        app_label = "mcp_gateway"
        verbose_name = "custom MCP tool"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def action(self) -> str:
        return ACTION_FOR_KIND[ToolKind(self.kind)]

    @property
    def allowed_roles(self) -> list[str]:
        return list(self.roles) or ALL_ROLES

    # --- validation (every writer) ---------------------------------------------------------
    def clean(self):
        from .kinds import validate_definition, validate_parameters

        errors: dict[str, list[str]] = {}
        if self.pk is not None:
            old = type(self).objects.filter(pk=self.pk).values_list("tenant_id", flat=True).first()
            if old != self.tenant_id:
                errors["tenant"] = ["A custom tool cannot move to another tenant (or between tenant and global)."]
        if self.name and not errors.get("name"):
            from mcp_gateway.registry import registry

            if registry.get(self.name) is not None:
                errors["name"] = [f"{self.name!r} is the name of a built-in tool."]
        if not isinstance(self.roles, list) or any(r not in ALL_ROLES for r in self.roles):
            errors["roles"] = [f"A list of roles among: {', '.join(ALL_ROLES)}."]
        else:
            self.roles = [r for r in ALL_ROLES if r in self.roles]
            if self.kind in ToolKind.values and self.roles and self.action != Action.VIEW and self.roles == [Role.VIEWER]:
                errors["roles"] = ["Viewers may not run jobs: a command tool needs operator or admin."]
        try:
            self.parameters = validate_parameters(self.parameters)
        except ValidationError as exc:
            errors.setdefault("parameters", []).extend(exc.messages)
        if self.kind in ToolKind.values and "parameters" not in errors:
            try:
                self.definition = validate_definition(self.kind, self.definition, self.parameters)
            except ValidationError as exc:
                errors.setdefault("definition", []).extend(exc.messages)
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        self.full_clean()
        if self.pk is not None:
            self.version = (type(self).objects.filter(pk=self.pk).values_list("version", flat=True).first() or 0) + 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "version", "updated"}
        super().save(*args, **kwargs)
