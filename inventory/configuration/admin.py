"""Admin: roles (templates in a monospace editor, steps, dependencies, "Test against device…"
with rendered output and diffs, YAML export), variables (with a device's effective view),
secrets (set/generate form that never shows the value) and the ordered role assignment inline
on the device page. Everything goes through inventory.admin.base and the tenancy rules of
configuration.models.base (global rows: read-only except for superusers)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework.exceptions import APIException

from inventory.admin.base import TenantScopedAdmin, TenantScopedInline, with_principal
from inventory.models import Device
from inventory.tenancy import Action, Principal

from . import services
from .models import Role, RoleAssignment, RoleDependency, RoleStep, RoleTemplate, Secret, Variable
from .models.base import can

CODE = forms.Textarea(attrs={"rows": 14, "cols": 100, "spellcheck": "false", "class": "vLargeTextField",
                             "style": "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; "
                                      "white-space: pre; tab-size: 4;"})
CODE_SHORT = forms.Textarea(attrs={"rows": 2, "cols": 60, "spellcheck": "false",
                                   "style": "font-family: ui-monospace, monospace;"})


def _error_text(exc: APIException) -> str:
    from inventory.jobs.admin import _error_text as text

    return text(exc)


class GlobalAware:
    """Permissions that know global rows are read-only for tenant users."""

    def _can(self, request, action, obj=None):
        if obj is None:
            return Principal.of(request).can(action)
        return can(Principal.of(request), action, obj)


class RoleChildInline(GlobalAware, TenantScopedInline):
    """A part of a role: editable when the role is (global roles: superusers only)."""

    template = "admin/edit_inline/stacked.html"
    show_change_link = False


class RoleTemplateInline(RoleChildInline):
    model = RoleTemplate
    fields = ["position", "path", "mode", "owner", "group", "content"]
    formfield_overrides = {}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "content":
            kwargs["widget"] = CODE
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class RoleStepInline(RoleChildInline):
    model = RoleStep
    fields = ["position", "name", "type", "args", "timeout", "only_if", "unless"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in ("only_if", "unless"):
            kwargs["widget"] = CODE_SHORT
        if db_field.name == "args":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 3, "cols": 80,
                                                     "style": "font-family: ui-monospace, monospace;"})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class RoleDependencyInline(RoleChildInline):
    model = RoleDependency
    fk_name = "role"
    fields = ["position", "depends_on"]
    template = "admin/edit_inline/tabular.html"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "depends_on":
            field.queryset = Role.objects.restrict(Principal.of(request), Action.VIEW)
        return field


class RoleForm(forms.ModelForm):
    class Meta:
        model = Role
        fields = ["tenant", "name", "description", "defaults", "parameters_schema"]

    def __init__(self, *args, principal=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.principal = principal
        if "tenant" in self.fields and principal is not None and not (principal.is_superuser
                                                                       and principal.tenant_ids is None):
            self.fields["tenant"].required = True
            self.fields["tenant"].empty_label = None


@admin.register(Role)
class RoleAdmin(GlobalAware, TenantScopedAdmin):
    form = RoleForm
    list_display = ["name", "tenant", "is_global", "description", "updated"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description"]
    inlines = [RoleTemplateInline, RoleStepInline, RoleDependencyInline]
    readonly_fields = ["created", "updated", "actions_links"]
    fields = ["tenant", "name", "description", "defaults", "parameters_schema", "actions_links", "created", "updated"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        return with_principal(super().get_form(request, obj, change, **kwargs), request)

    @admin.display(boolean=True, description="global")
    def is_global(self, obj):
        return obj.tenant_id is None

    @admin.display(description="Actions")
    def actions_links(self, obj):
        if obj is None or obj.pk is None:
            return "Save the role first."
        return format_html('<a class="button" href="{}">Test against device…</a> '
                           '<a class="button" href="{}">Export YAML</a>',
                           reverse("admin:configuration_role_test", args=[obj.pk]),
                           reverse("admin:configuration_role_export", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:pk>/test/", self.admin_site.admin_view(self.test_view), name="configuration_role_test"),
            path("<int:pk>/export/", self.admin_site.admin_view(self.export_view), name="configuration_role_export"),
            *super().get_urls(),
        ]

    def _role(self, request, pk) -> Role:
        role = Role.objects.restrict(Principal.of(request), Action.VIEW).filter(pk=pk).first()
        if role is None:
            raise Http404(f"No role with id {pk!r}.")
        return role

    def export_view(self, request, pk):
        from .documents import export_yaml

        role = self._role(request, pk)
        response = HttpResponse(export_yaml(role), content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{role.name}.yaml"'
        return response

    def test_view(self, request, pk):
        role = self._role(request, pk)
        principal = Principal.of(request)
        devices = Device.objects.restrict(principal, Action.VIEW).order_by("name")
        if role.tenant_id is not None:
            devices = devices.filter(tenant_id=role.tenant_id)
        form = RoleTestForm(request.POST or request.GET or None, devices=devices)
        result, job = None, None
        if form.is_bound and form.is_valid():
            data = {"device": form.cleaned_data["device"].pk, "compare": form.cleaned_data["compare"]}
            try:
                result = services.role_test(principal, role.pk, data)
            except APIException as exc:
                self.message_user(request, _error_text(exc), messages.ERROR)
            if result and result.get("compare_job_id"):
                job = reverse("admin:jobs_job_change", args=[result["compare_job_id"]])
        return TemplateResponse(request, "configuration/role_test.html", {
            **self.admin_site.each_context(request), "title": f"Test role {role.name} against a device",
            "role": role, "form": form, "result": result, "job_url": job, "opts": self.model._meta,
        })


class RoleTestForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none())
    compare = forms.BooleanField(required=False, help_text="Also read each file on the machine over SSH and diff "
                                                           "it (a short job).")

    def __init__(self, *args, devices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = devices


class ScopedAdmin(GlobalAware, TenantScopedAdmin):
    list_filter = ["scope", ("tenant", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant", "datacenter", "device"]
    autocomplete_fields = ["tenant", "datacenter", "device"]

    @admin.display(description="scope")
    def where(self, obj):
        return obj.scope_display()

    def save_model(self, request, obj, form, change):
        principal = Principal.of(request)
        action = Action.CHANGE if change else Action.ADD
        obj.clean()
        if not can(principal, action, obj):
            raise Http404("Not allowed.")
        super().save_model(request, obj, form, change)


@admin.register(Variable)
class VariableAdmin(ScopedAdmin):
    list_display = ["key", "where", "value", "updated"]
    search_fields = ["key"]
    fields = ["scope", "tenant", "datacenter", "device", "key", "value"]

    def get_urls(self):
        return [path("effective/<int:device_id>/", self.admin_site.admin_view(self.effective_view),
                     name="configuration_device_variables"), *super().get_urls()]

    def effective_view(self, request, device_id):
        from .views import effective_view

        device = Device.objects.restrict(Principal.of(request), Action.VIEW).filter(pk=device_id).first()
        if device is None:
            raise Http404(f"No device with id {device_id!r}.")
        return TemplateResponse(request, "configuration/effective_variables.html", {
            **self.admin_site.each_context(request), "title": f"Effective variables of {device}",
            "device": device, "data": effective_view(device), "opts": self.model._meta})


class SecretForm(forms.ModelForm):
    new_value = forms.CharField(required=False, strip=False, label="Value",
                                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                                help_text="Write-only: never shown again. Leave empty to keep the current value.")
    generate = forms.BooleanField(required=False, help_text="Generate a random value server-side instead.")
    length = forms.IntegerField(required=False, min_value=8, max_value=256, initial=32)
    alphabet = forms.CharField(required=False, max_length=256,
                               help_text="Characters to generate from (default letters and digits).")

    class Meta:
        model = Secret
        fields = ["scope", "tenant", "datacenter", "device", "name"]

    def clean(self):
        data = super().clean()
        if data.get("generate") and data.get("new_value"):
            raise forms.ValidationError("Give a value or generate one, not both.")
        if not data.get("generate") and not data.get("new_value") and not self.instance.pk:
            raise forms.ValidationError("Give a value or tick generate.")
        if data.get("generate"):
            import secrets as pysecrets

            alphabet = data.get("alphabet") or services.DEFAULT_ALPHABET
            self.instance.value = "".join(pysecrets.choice(alphabet) for _ in range(data.get("length") or 32))
        elif data.get("new_value"):
            self.instance.value = data["new_value"]
        return data


@admin.register(Secret)
class SecretAdmin(ScopedAdmin):
    form = SecretForm
    list_display = ["name", "where", "changed_by", "updated"]
    search_fields = ["name"]
    readonly_fields = ["changed_by", "created", "updated"]
    fields = ["scope", "tenant", "datacenter", "device", "name", "new_value", "generate", "length", "alphabet",
              "changed_by", "created", "updated"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("value")

    def save_model(self, request, obj, form, change):
        obj.changed_by = request.user
        super().save_model(request, obj, form, change)


class OptionalInlineFormSet(BaseInlineFormSet):
    """A POST without this inline's fields (a script, an older form) leaves the assignments as
    they are, instead of failing on the missing management form."""

    def __init__(self, data=None, files=None, *args, **kwargs):
        prefix = kwargs.get("prefix") or self.get_default_prefix()
        self.absent = data is not None and f"{prefix}-TOTAL_FORMS" not in data
        if self.absent:
            data = files = None
        super().__init__(data, files, *args, **kwargs)

    def is_valid(self):
        return True if self.absent else super().is_valid()

    def save(self, commit=True):
        if self.absent:
            self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
            return []
        return super().save(commit)


class RoleAssignmentInline(TenantScopedInline):
    model = RoleAssignment
    formset = OptionalInlineFormSet
    fk_name = "device"
    fields = ["position", "role", "variables", "effective"]
    readonly_fields = ["effective"]
    ordering = ["position", "id"]
    verbose_name_plural = "Roles (in order)"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "role":
            field.queryset = Role.objects.restrict(Principal.of(request), Action.VIEW)
        return field

    @admin.display(description="variables in effect")
    def effective(self, obj):
        if obj is None or not obj.device_id:
            return ""
        return format_html('<a href="{}">effective variables of the device</a>',
                           reverse("admin:configuration_device_variables", args=[obj.device_id]))


def _add_inline(model, inline):
    model_admin = admin.site._registry.get(model)
    if model_admin is None:  # pragma: no cover - inventory.admin not loaded
        return
    if inline not in model_admin.inlines:
        model_admin.inlines = [*model_admin.inlines, inline]


import inventory.admin  # noqa: E402,F401  (the Device admin is registered)
import inventory.jobs.admin  # noqa: E402,F401

_add_inline(Device, RoleAssignmentInline)

__all__ = ["RoleAdmin", "VariableAdmin", "SecretAdmin", "redirect"]
