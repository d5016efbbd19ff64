"""Admin: the MCP audit log (read-only) and tool-group policies, scoped by the tenancy layer."""

from django import forms
from django.contrib import admin


from inventory.admin.base import TenantScopedAdmin
from inventory.tenancy import Action, Principal

from .models import Confirmation, ConfirmationPolicy, McpCall, ToolGroupPolicy
from .registry import registry


class ReadOnlyAuditAdmin(admin.ModelAdmin):
    """Audit rows: listed for every signed-in member (the queryset decides which), never edited."""

    def has_module_permission(self, request):
        return Principal.of(request).is_authenticated

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(McpCall)
class McpCallAdmin(ReadOnlyAuditAdmin):
    list_display = ["created", "tool", "outcome", "error_code", "username", "tenant", "auth_kind", "client_name",
                    "duration_ms", "ip"]
    list_filter = ["outcome", "auth_kind", "transport", "tool"]
    search_fields = ["tool", "username", "client_id", "client_name", "error_code"]
    date_hierarchy = "created"
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = [f.name for f in McpCall._meta.fields]

    def get_queryset(self, request):
        from .views import audit_queryset

        return audit_queryset(Principal.of(request)).select_related("tenant")

    def has_view_permission(self, request, obj=None):
        principal = Principal.of(request)
        if obj is None:
            return principal.is_authenticated
        return obj.user_id == request.user.pk or principal.can(Action.MANAGE, obj)


class ToolGroupPolicyForm(forms.ModelForm):
    enabled_groups = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                               help_text="Groups MCP clients may use in this tenant; the others are off.")

    class Meta:
        model = ToolGroupPolicy
        fields = ["tenant", "client_id", "enabled_groups"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["enabled_groups"].choices = [(g, f"{g}: {label}") for g, label in registry.groups().items()]


@admin.register(ToolGroupPolicy)
class ToolGroupPolicyAdmin(TenantScopedAdmin):
    """Tenant admins (manage) enable/disable tool groups per tenant, and per OAuth client."""

    form = ToolGroupPolicyForm
    list_display = ["tenant", "client_id", "enabled_groups"]

    def has_add_permission(self, request, obj=None):
        return self._can(request, Action.MANAGE)

    def has_change_permission(self, request, obj=None):
        return self._can(request, Action.MANAGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._can(request, Action.MANAGE, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "tenant" and field is not None:
            from inventory.models import Tenant

            field.queryset = Tenant.objects.restrict(Principal.of(request), Action.MANAGE)
        return field





class ConfirmationPolicyForm(forms.ModelForm):
    extra_tools = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                            help_text="Other write tools that ask for confirmation first.")
    exempt_tools = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                             help_text="Destructive tools that do not ask.")

    class Meta:
        model = ConfirmationPolicy
        fields = ["tenant", "confirm_destructive", "extra_tools", "exempt_tools", "impact_threshold"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        writes = [t for t in registry.all() if not t.read_only]
        self.fields["extra_tools"].choices = [(t.name, f"{t.name}: {t.title}") for t in writes if not t.destructive]
        self.fields["exempt_tools"].choices = [(t.name, f"{t.name}: {t.title}") for t in writes if t.destructive]


@admin.register(ConfirmationPolicy)
class ConfirmationPolicyAdmin(ToolGroupPolicyAdmin):
    """Tenant admins choose which MCP tool calls ask for confirmation (default: destructive ones)."""

    form = ConfirmationPolicyForm
    list_display = ["tenant", "confirm_destructive", "extra_tools", "exempt_tools", "impact_threshold"]


@admin.register(Confirmation)
class ConfirmationAdmin(ReadOnlyAuditAdmin):
    """The confirmations asked before MCP calls and their answers (read-only audit)."""

    list_display = ["created", "tool", "status", "path", "username", "tenant", "impact_text", "answered"]
    list_filter = ["status", "path", "tool"]
    search_fields = ["tool", "username", "impact_text"]
    date_hierarchy = "created"
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = [f.name for f in Confirmation._meta.fields if f.name not in ("token_hash", "caller",
                                                                                  "arguments_digest")]
    exclude = ["token_hash", "caller", "arguments_digest"]

    def get_queryset(self, request):
        from .views import audit_queryset

        principal = Principal.of(request)
        calls = audit_queryset(principal)
        return Confirmation.objects.filter(request_call_id__in=calls.values("call_id")).select_related("tenant")

    def has_view_permission(self, request, obj=None):
        return Principal.of(request).is_authenticated
