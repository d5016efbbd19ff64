"""Admin: the MCP audit log (read-only) and tool-group policies, scoped by the tenancy layer."""

from django import forms
from django.contrib import admin


from inventory.admin.base import TenantScopedAdmin, TenantSettingsAdmin
from inventory.tenancy import Action, Principal

from .models import McpCall, ToolGroupPolicy
from .registry import registry


@admin.register(McpCall)
class McpCallAdmin(admin.ModelAdmin):
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

    def has_module_permission(self, request):
        return Principal.of(request).is_authenticated

    def has_view_permission(self, request, obj=None):
        principal = Principal.of(request)
        if obj is None:
            return principal.is_authenticated
        return obj.user_id == request.user.pk or principal.can(Action.MANAGE, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
class ToolGroupPolicyAdmin(TenantSettingsAdmin):
    """Tenant admins (manage) enable/disable tool groups per tenant, and per OAuth client."""

    form = ToolGroupPolicyForm
    list_display = ["tenant", "client_id", "enabled_groups"]
