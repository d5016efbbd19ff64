"""Admin for API keys (shown once at creation, revocable) and OAuth clients.

Every member who can sign in to the admin manages their own API keys; superusers see all.
The OAuth application admin (django-oauth-toolkit's) gains the service-client binding
(``ClientProfile.service_tenant``) used by ``client_credentials`` clients.
"""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from inventory.models import Tenant
from inventory.tenancy import Action, Principal, Scope
from oauth.models import ApiKey, ClientProfile


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked for every scope (the user's roles still apply).",
    )

    class Meta:
        model = ApiKey
        fields = ["user", "name", "scopes", "tenant", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "user", "scope_list", "tenant", "status", "expires_at", "last_used_at", "created"]
    list_filter = ["revoked_at", "created"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke_keys"]
    readonly_fields = ["prefix", "user", "scopes", "tenant", "expires_at", "revoked_at", "last_used_at", "created"]

    # --- who sees what ------------------------------------------------------------------
    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user", "tenant")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_authenticated

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (
            obj is None or request.user.is_superuser or obj.user_id == request.user.pk)

    has_change_permission = has_view_permission
    has_add_permission = lambda self, request: self.has_module_permission(request)  # noqa: E731

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser  # others revoke; revocation keeps the audit trail

    # --- forms --------------------------------------------------------------------------
    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ["prefix"]

    def get_fields(self, request, obj=None):
        if obj:
            return ["name", "prefix", "user", "scopes", "tenant", "expires_at", "revoked_at", "last_used_at", "created"]
        fields = ["user", "name", "scopes", "tenant", "expires_at", "tool_mode"]
        return fields if request.user.is_superuser else fields[1:]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and not request.user.is_superuser:
            # the key is the caller's own; tenants offered: those they belong to
            form.base_fields["tenant"].queryset = Tenant.objects.restrict(Principal.of(request), Action.VIEW)
        return form

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "tool_mode"])
            return
        if not request.user.is_superuser:
            obj.user = request.user
        raw = ApiKey.new_raw_key()
        obj.set_raw_key(raw)
        obj.scopes = sorted(set(obj.scopes or []))
        obj.full_clean()
        obj.save()
        request._new_api_key = raw

    def response_add(self, request, obj, post_url_continue=None):
        """Show the key once, on this response only (never in a message or the session)."""
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": self.opts,
            "key": obj,
            "raw_key": request._new_api_key,
        }
        return TemplateResponse(request, "oauth/apikey_created.html", context)

    # --- display and actions ------------------------------------------------------------
    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes) if obj.scopes else "all"

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request, queryset):
        count = queryset.revoke()
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)


# --- OAuth applications: add the service-client binding -----------------------------------
class ClientProfileInline(admin.StackedInline):
    model = ClientProfile
    can_delete = False
    fields = ["service_tenant", "tool_mode", "first_authorized_at", "last_used_at"]
    readonly_fields = ["first_authorized_at", "last_used_at"]
    verbose_name = "inventory binding"
    verbose_name_plural = "inventory binding (client_credentials: the tenant the application's user acts in)"


Application = get_application_model()
_BaseApplicationAdmin = oauth2_settings.APPLICATION_ADMIN_CLASS
if admin.site.is_registered(Application):
    admin.site.unregister(Application)


@admin.register(Application)
class ApplicationAdmin(_BaseApplicationAdmin):
    inlines = [*getattr(_BaseApplicationAdmin, "inlines", []), ClientProfileInline]
