"""Admin classes that route every question through the tenancy layer."""

from django.contrib import admin
from django.db import models
from django.http import Http404

from inventory.fields import BoundedJSONDecoder
from inventory.tenancy import Action, Principal, RestrictedQuerySet


def _restricted(queryset, request, action):
    if isinstance(queryset, RestrictedQuerySet):
        return queryset.restrict(Principal.of(request), action)
    return queryset


class TenantScopedMixin:
    """Querysets, FK choices and permissions from :mod:`inventory.tenancy`."""

    def get_queryset(self, request):
        qs = _restricted(super().get_queryset(request), request, Action.VIEW)
        if not qs.query.order_by:  # explicit, as annotated counts (GROUP BY) would drop Meta.ordering
            qs = qs.order_by(*(self.ordering or self.model._meta.ordering or ()), "pk")
        return qs

    def _can(self, request, action, obj=None):
        return Principal.of(request).can(action, obj)

    def has_module_permission(self, request):
        return self._can(request, Action.VIEW)

    def has_view_permission(self, request, obj=None):
        return self._can(request, Action.VIEW, obj)

    def has_add_permission(self, request, obj=None):
        return self._can(request, Action.ADD)

    def has_change_permission(self, request, obj=None):
        return self._can(request, Action.CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._can(request, Action.DELETE, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.JSONField) and db_field.decoder is None:
            kwargs.setdefault("decoder", BoundedJSONDecoder)  # deep nesting: a form error, not a 500
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _restricted(field.queryset, request, Action.CHANGE)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _restricted(field.queryset, request, Action.CHANGE)
        return field


class HistoryMixin:
    """The admin's History button shows the django-auditlog trail of the object."""

    auditlog_history_per_page = 20

    def history_view(self, request, object_id, extra_context=None):
        from auditlog.models import LogEntry
        from django.contrib.admin.utils import unquote
        from django.template.response import TemplateResponse

        obj = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, obj):
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")
        entries = LogEntry.objects.get_for_object(obj).select_related("actor").order_by("-timestamp")
        paginator = self.get_paginator(request, entries, self.auditlog_history_per_page)
        page_obj = paginator.get_page(request.GET.get("p", 1))
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "module_name": str(self.opts.verbose_name_plural).capitalize(),
            "page_range": paginator.get_elided_page_range(page_obj.number),
            "page_var": "p",
            "pagination_required": paginator.count > self.auditlog_history_per_page,
            "object": obj,
            "opts": self.opts,
            "log_entries": page_obj,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "auditlog/object_history.html", context)


class TenantScopedAdmin(HistoryMixin, TenantScopedMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # no second COUNT(*) over the whole table

    def get_object(self, request, object_id, from_field=None):
        # Another tenant's object, or none at all: the same 404 before any permission
        # check, so a guessed id never tells whether it exists.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")
        return obj

    def get_search_results(self, request, queryset, search_term):
        # autocomplete (AutocompleteJsonView) calls this with get_queryset's result;
        # restrict again in case a caller passes an unrestricted queryset.
        queryset = _restricted(queryset, request, Action.VIEW)
        return super().get_search_results(request, queryset, search_term)


class TenantScopedInline(TenantScopedMixin, admin.TabularInline):
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return self._can(request, Action.CHANGE, obj)

    def has_change_permission(self, request, obj=None):
        return self._can(request, Action.CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._can(request, Action.CHANGE, obj)



class TenantSettingsAdmin(TenantScopedAdmin):
    """A tenant's settings (tool groups, scan policy...): only its admins ("manage") add, change or
    delete them, and only for the tenants they manage."""

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
