"""Admin: the blueprint catalog (source filter; official and community rows read-only except for
superusers), a blueprint's page with its document as YAML, a "Use…" page with the parameters as
a form generated from the JSON Schema and Plan / Run buttons, and the runs with per-step
progress. Everything goes through inventory.admin.base and services.py."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from rest_framework.exceptions import APIException

from inventory.admin.base import TenantScopedAdmin, with_principal
from inventory.configuration.admin import CODE, GlobalAware
from inventory.models import Tenant
from inventory.tenancy import Action, Principal

from . import documents, services
from .models import Blueprint, BlueprintRun, Source


def _error_text(exc: APIException) -> str:
    from inventory.jobs.admin import _error_text as text

    return text(exc)


class BlueprintForm(forms.ModelForm):
    document_text = forms.CharField(label="Document (YAML)", widget=CODE, strip=False,
                                    help_text="name, version (semver), title, description, parameters (JSON Schema), "
                                              "steps [{id, action, args}].")

    class Meta:
        model = Blueprint
        fields = ["tenant"]

    def __init__(self, *args, principal=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["document_text"].initial = documents.as_yaml(self.instance.document)
        if "tenant" in self.fields:
            self.fields["tenant"].required = True
            self.fields["tenant"].empty_label = None
            if principal is not None:
                self.fields["tenant"].queryset = Tenant.objects.restrict(principal, Action.ADD)

    def add_error(self, field, error):
        """The model's errors on its document belong to the YAML field."""
        if isinstance(error, ValidationError) and hasattr(error, "error_dict") and "document" in error.error_dict:
            error.error_dict["document_text"] = error.error_dict.pop("document")
        super().add_error("document_text" if field == "document" else field, error)

    def clean_document_text(self):
        doc = documents.parse(self.cleaned_data["document_text"].replace("\r\n", "\n"))
        self.instance.document = doc
        return doc


@admin.register(Blueprint)
class BlueprintAdmin(GlobalAware, TenantScopedAdmin):
    form = BlueprintForm
    list_display = ["name", "version", "source", "title", "author", "listed", "updated"]
    list_filter = ["source"]
    search_fields = ["name", "title", "description"]
    readonly_fields = ["source", "name", "version", "title", "author", "changelog", "origin", "parameters_table",
                       "use_link", "created", "updated"]

    def get_queryset(self, request):
        return services.visible(Principal.of(request)).select_related("tenant")

    def get_fields(self, request, obj=None):
        if obj is not None and obj.source != Source.PRIVATE:
            return ["source", "name", "version", "title", "author", "changelog", "listed", "origin",
                    "parameters_table", "document_view", "use_link"]
        head = ["tenant"] if obj is None else ["source", "name", "version", "title", "parameters_table", "use_link"]
        return head + ["document_text"] + (["origin", "created", "updated"] if obj is not None else [])

    def get_readonly_fields(self, request, obj=None):
        out = list(self.readonly_fields) + ["document_view"]
        if obj is not None:
            out.append("tenant")
            if obj.source != Source.PRIVATE and not request.user.is_superuser:
                out.append("listed")
        return out

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.source == Source.OFFICIAL:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.source != Source.PRIVATE:
            return False
        return super().has_delete_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and obj.source != Source.PRIVATE:
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = ["listed"] if request.user.is_superuser else []
            return super().get_form(request, obj, change, **kwargs)
        return with_principal(super().get_form(request, obj, change, **kwargs), request)

    @admin.display(description="author")
    def author(self, obj):
        return services.blueprint_view(obj)["author"]

    @admin.display(description="Document")
    def document_view(self, obj):
        return format_html('<pre style="font-family: ui-monospace, monospace; white-space: pre; max-height: 40em; '
                           'overflow: auto;">{}</pre>', documents.as_yaml(obj.document)) if obj and obj.pk else "-"

    @admin.display(description="Parameters")
    def parameters_table(self, obj):
        if obj is None or not obj.pk:
            return "-"
        props = documents.parameter_schema(obj.document).get("properties") or {}
        required = set(documents.parameter_schema(obj.document).get("required") or [])
        if not props:
            return "None."
        rows = format_html_join("", "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (name, " *" if name in required else "", p.get("type", ""),
             json.dumps(p["default"]) if "default" in p and not p.get("writeOnly") else "",
             p.get("description", "")) for name, p in props.items()))
        return format_html("<table><tr><th>name</th><th>type</th><th>default</th><th>description</th></tr>{}"
                           "</table>", rows)

    @admin.display(description="Use")
    def use_link(self, obj):
        if obj is None or not obj.pk:
            return "Save the blueprint first."
        return format_html('<a class="button" href="{}">Plan / run…</a>', reverse("admin:blueprints_blueprint_use",
                                                                                  args=[obj.pk]))

    def get_urls(self):
        return [path("<int:pk>/use/", self.admin_site.admin_view(self.use_view), name="blueprints_blueprint_use"),
                *super().get_urls()]

    def use_view(self, request, pk):
        principal = Principal.of(request)
        bp = services.visible(principal).filter(pk=pk).first()
        if bp is None:
            raise Http404(f"No blueprint with id {pk!r}.")
        tenants = Tenant.objects.restrict(principal, Action.EXECUTE).order_by("name")
        if bp.source == Source.PRIVATE:
            tenants = tenants.filter(pk=bp.tenant_id)
        form = ParametersForm(request.POST or None, doc=bp.document, tenants=tenants)
        result, error = None, ""
        if request.method == "POST" and form.is_valid():
            dry_run = "run" not in request.POST
            try:
                result = services.use(principal, bp.name, form.params(), source=bp.source, version=bp.version,
                                      tenant=form.cleaned_data["tenant"].pk, dry_run=dry_run,
                                      confirm=request.POST.get("confirm", ""))
            except APIException as exc:
                detail = getattr(exc, "detail", None)
                if isinstance(detail, dict) and isinstance(detail.get("params"), dict):
                    for name, errs in detail["params"].items():
                        form.add_error(name if name in form.fields else None, [str(e) for e in errs])
                else:
                    error = _error_text(exc)
            if result is not None and not dry_run:
                messages.success(request, result["message"])
                return redirect(reverse("admin:blueprints_blueprintrun_change", args=[result["run_id"]]))
        return TemplateResponse(request, "blueprints/use.html", {
            **self.admin_site.each_context(request), "title": f"Use blueprint {bp.name} {bp.version}",
            "blueprint": bp, "form": form, "result": result, "error": error, "opts": self.model._meta})


class ParametersForm(forms.Form):
    """A form generated from the blueprint's parameter schema (the admin's "Use…" page)."""

    def __init__(self, data=None, *, doc: dict, tenants):
        super().__init__(data)
        self.doc = doc
        self.fields["tenant"] = forms.ModelChoiceField(queryset=tenants, empty_label=None,
                                                       help_text="Where the blueprint runs.")
        schema = documents.parameter_schema(doc)
        required = set(schema.get("required") or [])
        for name, prop in (schema.get("properties") or {}).items():
            self.fields[f"p_{name}"] = _field(prop, name in required)
            self.fields[f"p_{name}"].label = name

    def params(self) -> dict:
        out = {}
        for name, value in self.cleaned_data.items():
            if name.startswith("p_") and value not in (None, ""):
                out[name[2:]] = value
        return out

    def add_error(self, field, error):
        if field and not field.startswith("p_") and f"p_{field}" in self.fields:
            field = f"p_{field}"
        super().add_error(field, error)


class JSONValueField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return None
        try:
            return json.loads(value)
        except ValueError:
            if "," in value or self.comma_list:
                return [v.strip() for v in value.split(",") if v.strip()]
            raise ValidationError("Enter JSON (or a comma-separated list).") from None

    comma_list = False


def _field(prop: dict, required: bool) -> forms.Field:
    help_text = prop.get("description", "")
    default = prop.get("default")
    kind = prop.get("type")
    common = {"required": required and default is None, "help_text": help_text}
    if "enum" in prop:
        return forms.TypedChoiceField(choices=[(v, v) for v in prop["enum"]], initial=default, **common)
    if kind == "integer":
        return forms.IntegerField(min_value=prop.get("minimum"), max_value=prop.get("maximum"), initial=default,
                                  **common)
    if kind == "number":
        return forms.FloatField(min_value=prop.get("minimum"), max_value=prop.get("maximum"), initial=default, **common)
    if kind == "boolean":
        return forms.NullBooleanField(initial=default, help_text=help_text, required=False)
    if kind in ("array", "object"):
        field = JSONValueField(initial=json.dumps(default) if default is not None else "", **common)
        field.comma_list = kind == "array"
        field.help_text = (help_text + " " if help_text else "") + ("JSON or a comma-separated list." if kind == "array"
                                                                   else "JSON.")
        return field
    if prop.get("writeOnly") or prop.get("format") == "password":
        return forms.CharField(widget=forms.PasswordInput(render_value=False), strip=False, **common)
    return forms.CharField(initial=default, strip=False, max_length=prop.get("maxLength"), **common)


@admin.register(BlueprintRun)
class BlueprintRunAdmin(TenantScopedAdmin):
    list_display = ["id", "blueprint_name", "version", "source", "tenant", "status", "created_by", "created"]
    list_filter = ["status", "source"]
    search_fields = ["blueprint_name"]
    fields = ["blueprint_name", "version", "source", "tenant", "status", "job_link", "created_by", "params_view",
              "steps_view", "outputs_view", "error", "resume_link", "created", "updated"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant", "created_by", "job")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Job")
    def job_link(self, obj):
        if not obj.job_id:
            return "-"
        return format_html('<a href="{}">job #{}</a> ({}, {}%{})', reverse("admin:jobs_job_change", args=[obj.job_id]),
                           obj.job_id, obj.job.status, obj.job.progress, f": {obj.job.step}" if obj.job.step else "")

    @admin.display(description="Parameters (secrets masked)")
    def params_view(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.params, indent=2))

    @admin.display(description="Steps")
    def steps_view(self, obj):
        planned = {s["id"]: s for s in (obj.plan or {}).get("steps", [])}
        rows = []
        for i, r in enumerate(obj.results or []):
            changes = r.get("changes") if r.get("status") == "succeeded" else planned.get(r["id"], {}).get("changes")
            text = "; ".join(f"{c['op']} {c['target']}" for c in (changes or [])) or "no change"
            rows.append((i + 1, r["id"], r["action"], r.get("status", ""), r.get("status", ""),
                         ("planned: " if r.get("status") != "succeeded" else "") + text, r.get("error", "")))
        body = format_html_join("", '<tr><td>{}</td><td>{}</td><td>{}</td><td data-status="{}">{}</td><td>{}</td>'
                                    '<td style="color:#c62828">{}</td></tr>', rows)
        return format_html("<table><tr><th>#</th><th>step</th><th>action</th><th>status</th><th>changes</th>"
                           "<th>error</th></tr>{}</table>", body)

    @admin.display(description="Outputs")
    def outputs_view(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.outputs, indent=2)) if obj.outputs else "-"

    @admin.display(description="Resume")
    def resume_link(self, obj):
        if obj.status not in ("failed", "cancelled"):
            return "-"
        return format_html('<form method="post" action="{}"><input type="hidden" name="csrfmiddlewaretoken" '
                           'value="{}"><input type="submit" value="Resume from the failed step"></form>',
                           reverse("admin:blueprints_blueprintrun_resume", args=[obj.pk]), self._csrf)

    _csrf = ""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from django.middleware.csrf import get_token

        self._csrf = get_token(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [path("<int:pk>/resume/", self.admin_site.admin_view(self.resume_view),
                     name="blueprints_blueprintrun_resume"), *super().get_urls()]

    def resume_view(self, request, pk):
        if request.method != "POST":
            return redirect(reverse("admin:blueprints_blueprintrun_change", args=[pk]))
        try:
            services.resume(Principal.of(request), pk)
            messages.success(request, f"Run {pk} resumed.")
        except APIException as exc:
            if exc.status_code == 404:
                raise Http404(str(exc.detail)) from None
            messages.error(request, _error_text(exc))
        return redirect(reverse("admin:blueprints_blueprintrun_change", args=[pk]))
