"""Admin: the MCP audit log (read-only) and tool-group policies, scoped by the tenancy layer."""

from django import forms
from django.contrib import admin


from inventory.admin.base import TenantScopedAdmin
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
    mode = forms.ChoiceField(choices=ToolGroupPolicy.Mode.choices, required=False,
                             initial=ToolGroupPolicy.Mode.OPT_IN, widget=forms.RadioSelect)
    enabled_groups = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                               help_text="Opt-in: groups MCP clients may use in this tenant; "
                                                         "the others are off.")
    disabled_groups = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                                help_text="Opt-out: groups that are off; the others are on.")

    class Meta:
        model = ToolGroupPolicy
        fields = ["tenant", "client_id", "mode", "enabled_groups", "disabled_groups"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(g, f"{g}: {label}") for g, label in registry.groups().items()]
        self.fields["enabled_groups"].choices = choices
        self.fields["disabled_groups"].choices = choices

    def clean_mode(self):
        return self.cleaned_data.get("mode") or ToolGroupPolicy.Mode.OPT_IN


@admin.register(ToolGroupPolicy)
class ToolGroupPolicyAdmin(TenantScopedAdmin):
    """Tenant admins (manage) enable/disable tool groups per tenant, and per OAuth client."""

    form = ToolGroupPolicyForm
    list_display = ["tenant", "client_id", "mode", "enabled_groups", "disabled_groups"]

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



