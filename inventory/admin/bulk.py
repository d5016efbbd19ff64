"""Bulk edit: one form changing several fields of the selected rows of a changelist.

An admin lists the fields in ``bulk_edit_fields`` and adds :func:`bulk_edit` to its actions. The
form offers, per field: a choice ("unchanged" by default), a related object (or "clear"), or tags to
add and to remove. Choices are the objects the caller may change (labelled with their tenant when
the caller sees several). Applying saves each selected object through the model (``save()`` runs
``full_clean()``; tags go through the many-to-many tenant guard), so a datacenter, rack or tag of
another tenant than the object's is refused with the model's message for that object; each object
is audited by django-auditlog. All objects or none: if any object is refused, nothing is changed
and the form shows each refusal.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.template.response import TemplateResponse

from inventory.tenancy import Action, Principal

UNCHANGED = ""


class TenantLabelledChoice(forms.ModelChoiceField):
    with_tenant = False

    def label_from_instance(self, obj):
        return f"{obj} ({obj.tenant})" if self.with_tenant else str(obj)


class TenantLabelledMultiple(forms.ModelMultipleChoiceField):
    with_tenant = False

    def label_from_instance(self, obj):
        return f"{obj} ({obj.tenant})" if self.with_tenant else str(obj)


def build_form(model_admin, request):
    """The form class for ``model_admin.bulk_edit_fields``."""
    principal = Principal.of(request)
    several = len(principal.tenant_ids_for(Action.CHANGE) or ()) != 1
    attrs = {}
    for name in model_admin.bulk_edit_fields:
        field = model_admin.model._meta.get_field(name)
        label = str(field.verbose_name).capitalize()
        if isinstance(field, models.ManyToManyField):
            qs = field.related_model._default_manager.restrict(principal, Action.CHANGE).select_related("tenant")
            for verb in ("add", "remove"):
                f = TenantLabelledMultiple(qs, required=False, label=f"{label}: {verb}",
                                           widget=forms.SelectMultiple(attrs={"size": 6}))
                f.with_tenant = several
                attrs[f"{verb}_{name}"] = f
        elif field.is_relation:
            qs = field.related_model._default_manager.restrict(principal, Action.CHANGE).select_related("tenant")
            f = TenantLabelledChoice(qs, required=False, label=label, empty_label="— unchanged —")
            f.with_tenant = several
            attrs[name] = f
            if field.null:
                attrs[f"clear_{name}"] = forms.BooleanField(required=False, label=f"Clear {field.verbose_name}")
        elif field.choices:
            attrs[name] = forms.ChoiceField(choices=[(UNCHANGED, "— unchanged —"), *field.choices], required=False,
                                            label=label)
        else:  # pragma: no cover - declare only choice, relation or many-to-many fields
            raise TypeError(f"bulk edit does not handle {name}")
    return type("BulkEditForm", (forms.Form,), attrs)


def apply(model_admin, request, objects, data) -> list[str]:
    """Apply ``data`` (the form's cleaned data) to ``objects`` in one transaction; the refusals
    ("name: message"), none when everything was saved."""
    principal = Principal.of(request)
    errors = []
    with transaction.atomic():
        for obj in objects:
            try:
                if not principal.can(Action.CHANGE, obj):
                    raise ValidationError("You may not change it.")
                changed = False
                for name in model_admin.bulk_edit_fields:
                    field = model_admin.model._meta.get_field(name)
                    if isinstance(field, models.ManyToManyField):
                        continue
                    if data.get(f"clear_{name}"):
                        setattr(obj, name, None)
                        changed = True
                    elif data.get(name) not in (None, UNCHANGED):
                        setattr(obj, name, data[name])
                        changed = True
                if changed:
                    obj.save()  # full_clean(): the model's rules and messages
                for name in model_admin.bulk_edit_fields:
                    field = model_admin.model._meta.get_field(name)
                    if isinstance(field, models.ManyToManyField):
                        with transaction.atomic():
                            if data.get(f"add_{name}"):
                                getattr(obj, name).add(*data[f"add_{name}"])  # the m2m tenant guard
                            if data.get(f"remove_{name}"):
                                getattr(obj, name).remove(*data[f"remove_{name}"])
            except ValidationError as exc:
                text = "; ".join(
                    f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v)
                    for k, v in exc.message_dict.items()) if hasattr(exc, "error_dict") else " ".join(exc.messages)
                errors.append(f"{obj}: {text}")
        if errors:
            transaction.set_rollback(True)
    return errors


@admin.action(description="Edit selected %(verbose_name_plural)s", permissions=["change"])
def bulk_edit(model_admin, request, queryset):
    form_class = build_form(model_admin, request)
    objects = list(queryset)
    errors = []
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            errors = apply(model_admin, request, objects, form.cleaned_data)
            if not errors:
                model_admin.message_user(
                    request, f"Changed {len(objects)} {model_admin.opts.verbose_name_plural}.", messages.SUCCESS)
                return None
    else:
        form = form_class()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Edit {len(objects)} {model_admin.opts.verbose_name_plural}",
        "opts": model_admin.opts,
        "form": form,
        "objects": objects,
        "errors": errors,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/inventory/bulk_edit.html", context)
