"""Admin: the MCP audit log (read-only) and tool-group policies, scoped by the tenancy layer."""

from django import forms
from django.contrib import admin


from inventory.admin.base import TenantScopedAdmin, TenantSettingsAdmin
from inventory.tenancy import Action, Principal

from .models import McpCall, ToolGroupPolicy
from .registry import registry


@admin.register(McpCall)
class McpCallAdmin(TenantScopedAdmin):
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
class ToolGroupPolicyAdmin(TenantSettingsAdmin):
    """Tenant admins (manage) enable/disable tool groups per tenant, and per OAuth client."""

    form = ToolGroupPolicyForm
    list_display = ["tenant", "client_id", "mode", "enabled_groups", "disabled_groups"]


# --- custom tools ------------------------------------------------------------------------------
from .custom.models import CustomTool  # noqa: E402


class CustomToolForm(forms.ModelForm):
    class Meta:
        model = CustomTool
        fields = ["tenant", "name", "title", "description", "kind", "parameters", "definition", "roles", "groups",
                  "enabled"]
        widgets = {
            "parameters": forms.Textarea(attrs={"rows": 8, "cols": 90, "style": "font-family: monospace"}),
            "definition": forms.Textarea(attrs={"rows": 10, "cols": 90, "style": "font-family: monospace"}),
        }


@admin.register(CustomTool)
class CustomToolAdmin(TenantScopedAdmin):
    """Declared MCP tools: a tenant's operators write its tools, superusers the global ones."""

    form = CustomToolForm
    list_display = ["name", "kind", "tenant_label", "enabled", "version", "updated"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "title", "description"]
    readonly_fields = ["version", "created_by", "created", "updated"]
    change_form_template = "admin/mcp_gateway/customtool/change_form.html"

    @admin.display(description="tenant", ordering="tenant__name")
    def tenant_label(self, obj):
        return obj.tenant or "global"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant")

    def _can(self, request, action, obj=None):
        principal = Principal.of(request)
        if obj is not None and obj.tenant_id is None and action != Action.VIEW:
            return principal.is_superuser and principal.tenant_ids is None
        return principal.can(action, obj)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "tenant"] if obj is not None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "tenant" and field is not None:
            from inventory.models import Tenant

            principal = Principal.of(request)
            field.queryset = Tenant.objects.restrict(principal, Action.ADD)
            field.required = not principal.is_superuser  # only superusers make global tools
        return field

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        from django.urls import path

        return [path("<path:object_id>/test/", self.admin_site.admin_view(self.test_view),
                     name="mcp_gateway_customtool_test"), *super().get_urls()]

    def test_view(self, request, object_id):
        """Try the tool: a query runs read-only, a command is only rendered for the devices it selects."""
        import json

        from django.template.response import TemplateResponse

        from .custom.api import run_test
        from .registry import ToolError

        obj = self.get_object(request, object_id)
        params_text, result, error = request.POST.get("params", "{}"), None, None
        if request.method == "POST":
            try:
                params = json.loads(params_text or "{}")
                result = json.dumps(run_test(Principal.of(request), obj, params), indent=2, default=str)
            except json.JSONDecodeError as exc:
                error = f"The parameters are not JSON: {exc}"
            except ToolError as exc:
                error = json.dumps(exc.as_dict()["error"], indent=2, default=str)
        context = {**self.admin_site.each_context(request), "title": f"Test {obj.name}", "opts": self.opts,
                   "original": obj, "params": params_text, "result": result, "error": error,
                   "schema": json.dumps(obj.parameters, indent=2)}
        return TemplateResponse(request, "admin/mcp_gateway/customtool/test.html", context)
