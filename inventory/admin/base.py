"""The one admin base: every app's admin (inventory, jobs, oauth, mcp_gateway, and new apps)
subclasses :class:`TenantScopedAdmin` / :class:`TenantScopedInline`, or at least mixes in
:class:`RestrictedLookupsMixin`, so nothing it shows can come from a tenant the caller may not see.

What goes through :mod:`inventory.tenancy` here, once, for every admin:
- the changelist, change, delete and history querysets (``get_queryset``);
- list filters: every filter on a relation (``"tenant"``, ``"network"``, ``("tags", ...)``) is
  replaced by :class:`RestrictedRelatedFilter`, whose choices are the related model's
  ``restrict(principal, "view")``; a new admin cannot leak by forgetting a filter class;
- FK / M2M form choices, autocompletes (the remote admin's restricted queryset) and the labels of
  raw-id widgets;
- delete confirmation pages (a cascade into objects the caller may not see is refused without
  naming them);
- history (the object is fetched through the restricted queryset first).
"""

from __future__ import annotations

import inspect

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import NestedObjects, get_fields_from_path, lookup_spawns_duplicates
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple, ForeignKeyRawIdWidget
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, router
from django.http import Http404
from django.forms.utils import ErrorList
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from inventory import runtime
from inventory.fields import BoundedJSONDecoder
from inventory.models.base import TenantOwned, check_same_tenant
from inventory.tenancy import Action, Principal, RestrictedQuerySet, tenant_id_of


def _restricted(queryset, request, action):
    if isinstance(queryset, RestrictedQuerySet):
        return queryset.restrict(Principal.of(request), action)
    return queryset


def restricted_choices(model, request, action=Action.VIEW):
    """The objects of ``model`` the caller may see, or ``None`` when the model is not tenant-owned."""
    qs = model._default_manager.all()
    if isinstance(qs, RestrictedQuerySet):
        return qs.restrict(Principal.of(request), action)
    return None


def _to_many(model, name: str):
    """The many-valued relation ``name`` of ``model`` (a many-to-many field, or the reverse side of
    a foreign key or many-to-many), with the name its related model uses to point back; or None."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if field.many_to_many and not field.auto_created:  # Device.tags
        return field.related_model, field.related_query_name()
    if field.auto_created and (field.one_to_many or field.many_to_many):  # Network.addresses, Tag.devices
        return field.related_model, field.field.name
    return None


def exists_condition(model, lookups: dict):
    """``lookups`` (``{"tags__name": ["prod"], ...}``, a query string's lookup parameters, values
    prepared as the admin does) on the many-valued relations of ``model`` as ``EXISTS (...)``
    conditions: the rows a join through the relation would give, each once, without a join and
    ``DISTINCT`` over the result. One subquery per relation with all its conditions (the join
    Django makes for one ``filter()`` call), values of one parameter OR-ed, parameters AND-ed;
    ``relation__isnull`` as (NOT) EXISTS of any related row. Raises IncorrectLookupParameters for
    values the fields refuse, as the admin does."""
    from functools import reduce
    from operator import or_

    from django.contrib.admin.options import IncorrectLookupParameters
    from django.db.models import Exists, OuterRef, Q

    by_relation: dict[str, dict] = {}
    for key, values in lookups.items():
        name, _, rest = key.partition("__")
        by_relation.setdefault(name, {})[rest] = values if isinstance(values, list) else [values]
    condition = Q()
    try:
        for name, params in by_relation.items():
            related, back = _to_many(model, name)
            rows = related._base_manager.filter(**{back: OuterRef("pk")})
            wanted = Q()
            for rest, values in params.items():
                if rest == "isnull":
                    for value in values:
                        condition &= ~Exists(rows) if value else Exists(rows)
                else:
                    wanted &= reduce(or_, (Q((rest, value)) for value in values))
            if wanted:
                condition &= Exists(rows.filter(wanted))
    except (ValueError, ValidationError, FieldDoesNotExist) as exc:
        raise IncorrectLookupParameters(exc)
    return condition


def narrows_through_many(model, key: str) -> bool:
    """Is ``key`` (``tags__name``) a lookup through a many-valued relation of ``model`` itself?"""
    name, _, rest = key.partition("__")
    return bool(rest) and _to_many(model, name) is not None


class RestrictedRelatedFilter(admin.RelatedFieldListFilter):
    """A relation filter whose choices are what the caller may see.

    Tenant-owned related models: ``restrict(principal, "view")`` (no DISTINCT over the listed
    table, so it stays cheap at a million rows). Other related models (users): only the values
    present in the admin's own, restricted, queryset. Names that repeat are labelled with their
    tenant ("web (Tenant A)").
    """

    def field_choices(self, field, request, model_admin):
        related = field.related_model
        ordering = self.field_admin_ordering(field, request, model_admin) or related._meta.ordering or ["pk"]
        qs = restricted_choices(related, request)
        if qs is None:
            present = model_admin.get_queryset(request).order_by().values_list(f"{self.field_path}__pk", flat=True)
            qs = related._default_manager.filter(pk__in=present)
        qs = qs.order_by(*ordering)
        has_tenant = any(f.name == "tenant" for f in related._meta.concrete_fields)
        if has_tenant:
            qs = qs.select_related("tenant")
        objs = list(qs)
        labels = [str(o) for o in objs]
        repeated = {label for label in labels if labels.count(label) > 1}
        to_field = field.target_field.attname if hasattr(field, "target_field") else "pk"
        return [
            (getattr(o, to_field, o.pk), f"{label} ({o.tenant})" if has_tenant and label in repeated else label)
            for o, label in zip(objs, labels)
        ]

    @property
    def narrows_with_exists(self) -> bool:
        """A filter on a many-valued relation of the listed model itself ("By tag") narrows with
        EXISTS (:func:`exists_condition`); :class:`ExistsChangeList` then adds no DISTINCT for it."""
        return "__" not in self.field_path and _to_many(self.model, self.field_path) is not None

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.model = model
        super().__init__(field, request, params, model, model_admin, field_path)

    def queryset(self, request, queryset):
        if self.used_parameters and self.narrows_with_exists:
            return queryset.filter(exists_condition(self.model, self.used_parameters))
        return super().queryset(request, queryset)


class RestrictedRawIdWidget(ForeignKeyRawIdWidget):
    """The label next to a raw-id input names the object only if the caller may see it."""

    queryset = None

    def label_and_url_for_value(self, value):
        if self.queryset is not None:
            key = self.rel.get_related_field().name
            try:
                if not self.queryset.filter(**{key: value}).exists():
                    return "", ""
            except (ValueError, TypeError):
                return "", ""
        return super().label_and_url_for_value(value)


class _NothingSelectedNoQuery:
    """Django's autocomplete widgets read the selected objects to label them. With nothing selected
    (an inline's new row, an add page) that read matches nothing, yet its SQL (the remote admin's
    restricted queryset, ``pk IN ()``) is compiled on every render: the same options without it."""

    def optgroups(self, name, value, attr=None):
        if any(str(v) not in self.choices.field.empty_values for v in value):
            return super().optgroups(name, value, attr)
        default = (None, [], 0)
        if not self.is_required and not self.allow_multiple_selected:
            default[1].append(self.create_option(name, "", "", False, 0))
        return [default]


class LeanAutocompleteSelect(_NothingSelectedNoQuery, AutocompleteSelect):
    pass


class LeanAutocompleteSelectMultiple(_NothingSelectedNoQuery, AutocompleteSelectMultiple):
    pass


_LIGHTER = {AutocompleteSelect: LeanAutocompleteSelect,
            AutocompleteSelectMultiple: LeanAutocompleteSelectMultiple}


def _lighter_widget(field):
    if not runtime.enabled("lean_admin_forms"):  # FAST_PATHS off: Django's widgets
        return
    widget = getattr(field.widget, "widget", field.widget)  # inside RelatedFieldWidgetWrapper
    if type(widget) in _LIGHTER:
        widget.__class__ = _LIGHTER[type(widget)]


def _is_relation(model, path: str) -> bool:
    try:
        fields = get_fields_from_path(model, path)
    except (FieldDoesNotExist, Exception):  # noqa: BLE001 - invalid paths are Django's checks' business
        return False
    return bool(fields) and fields[-1].is_relation


class RestrictedLookupsMixin:
    """Filters, FK choices, raw-id labels, search and delete confirmations through the tenancy
    layer. Mixed into every admin of the project (also those that keep their own permissions)."""

    def get_list_filter(self, request):
        out = []
        for spec in super().get_list_filter(request):
            if isinstance(spec, str) and _is_relation(self.model, spec):
                spec = (spec, RestrictedRelatedFilter)
            elif (isinstance(spec, (tuple, list)) and isinstance(spec[0], str) and _is_relation(self.model, spec[0])
                  and not issubclass(spec[1], RestrictedRelatedFilter)):
                spec = (spec[0], RestrictedRelatedFilter)
            out.append(spec)
        return out

    def lookup_allowed(self, lookup, value, request=None):
        # ?tags__name=prod, ?datacenter__name=dc1: lookups through a relation that is itself a
        # filter are allowed (the changelist queryset is restricted anyway)
        parts = lookup.split("__")
        relations = {s if isinstance(s, str) else s[0] for s in self.list_filter
                     if isinstance(s, (str, tuple, list))}
        if len(parts) >= 2 and parts[0] in relations and _is_relation(self.model, parts[0]):
            return True
        return super().lookup_allowed(lookup, value, request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _restricted(field.queryset, request, Action.CHANGE)
            widget = getattr(field.widget, "widget", field.widget)
            if type(widget) is ForeignKeyRawIdWidget:
                widget.__class__ = RestrictedRawIdWidget
                widget.queryset = _restricted(db_field.related_model._default_manager.all(), request, Action.VIEW)
            _lighter_widget(field)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _restricted(field.queryset, request, Action.CHANGE)
            _lighter_widget(field)
        return field

    #: ``function(queryset, term) -> queryset`` from :mod:`inventory.services.search`: the
    #: changelist search (and autocompletes) then match as /api/search/ does; None: search_fields
    search_filter = None

    def get_search_results(self, request, queryset, search_term):
        # autocomplete (AutocompleteJsonView) calls this with get_queryset's result;
        # restrict again in case a caller passes an unrestricted queryset.
        queryset = _restricted(queryset, request, Action.VIEW)
        if self.search_filter is None:
            return super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return queryset, False
        return type(self).search_filter(queryset, search_term), False

    def get_deleted_objects(self, objs, request):
        """The confirmation page lists what a delete takes with it. If that reaches objects the
        caller may not see (another tenant's), the delete is refused and none of them is named."""
        principal = Principal.of(request)
        objs = list(objs)
        if objs:
            collector = NestedObjects(using=router.db_for_write(self.model))
            collector.collect(objs)
            for instances in collector.data.values():
                for obj in instances:
                    if tenant_id_of(obj) is not None and not principal.can(Action.VIEW, obj):
                        return ([str(o) for o in objs], {}, {"objects of a tenant you cannot see"}, [])
        return super().get_deleted_objects(objs, request)


#: Django's templates of an error list: each renders nothing for an empty list
_ERROR_LIST_TEMPLATES = frozenset({ErrorList.template_name, ErrorList.template_name_ul})


class _LeanErrorList(ErrorList):
    """An error list that, empty, renders as Django's templates render it, nothing, without
    rendering them: the admin renders every field's errors, some fifty templates per change page."""

    def render(self, template_name=None, context=None, renderer=None):
        if not self.data and context is None and (template_name or self.template_name) in _ERROR_LIST_TEMPLATES:
            return mark_safe("")
        return super().render(template_name, context, renderer)

    __str__ = render
    __html__ = render


class TenantOwnedForm(forms.ModelForm):
    """The admin form of every kind: the model validates the object (ModelForm runs its
    ``full_clean()``); this adds the model's many-to-many rule (links stay in the object's
    tenant), which ``full_clean()`` cannot see as the links are saved after the object."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.error_class is ErrorList and runtime.enabled("lean_admin_forms"):
            self.error_class = _LeanErrorList

    def clean(self):
        cleaned = super().clean()
        tenant = cleaned.get("tenant") if "tenant" in self.fields else None
        tenant_id = tenant.pk if tenant is not None else getattr(self.instance, "tenant_id", None)
        if tenant_id is None:
            return cleaned
        for field in self._meta.model._meta.many_to_many:
            if field.name in cleaned and cleaned[field.name] is not None and issubclass(field.related_model, TenantOwned):
                try:
                    check_same_tenant(field.name, tenant_id, cleaned[field.name])
                except ValidationError as exc:
                    self.add_error(None, exc)
        return cleaned

    def render(self, template_name=None, context=None, renderer=None):
        # a field's label (BoundField.label_tag), in Python: a template render per field otherwise
        if template_name == _LABEL_TEMPLATE and renderer is None and context is not None \
                and runtime.enabled("lean_admin_forms"):
            return label_html(context)
        return super().render(template_name, context, renderer)


def with_principal(form, request):
    """``form`` (a ModelForm class) built with ``principal=`` the caller: for admin forms whose
    choices or checks depend on who asks (``get_form`` returns this)."""
    principal = Principal.of(request)

    class Bound(form):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, principal=principal, **kwargs)

    return Bound


class TenantScopedMixin(RestrictedLookupsMixin):
    """Querysets, FK choices and permissions from :mod:`inventory.tenancy`; the fields a model
    fixes once an object exists (``fixed_fields``: its tenant, a pool's network) are read-only."""

    form = TenantOwnedForm

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk is not None and isinstance(self, admin.ModelAdmin):
            excluded = set(self.exclude or ())
            readonly += [name for name in getattr(self.model, "fixed_fields", {})
                         if name not in readonly and name not in excluded]
        return readonly

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
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and runtime.enabled("lean_admin_forms"):
            lean_input(getattr(field.widget, "widget", field.widget))  # inside RelatedFieldWidgetWrapper
        return field


class HistoryMixin:
    """The admin's History button shows the django-auditlog trail of the object."""

    auditlog_history_per_page = 20

    def history_view(self, request, object_id, extra_context=None):
        from auditlog.models import LogEntry
        from django.contrib.admin.utils import unquote
        from django.template.response import TemplateResponse

        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")
        entries = LogEntry.objects.get_for_object(obj).select_related("actor").order_by("-timestamp")
        paginator = self.get_paginator(request, entries, self.auditlog_history_per_page)
        page_obj = paginator.get_page(request.GET.get("p", 1))
        real = {f.name for f in self.model._meta.concrete_fields} | {f.name for f in self.model._meta.many_to_many}
        for entry in page_obj:
            # creation entries also list reverse relations ("Addresses: None → ...IPAddress.None"):
            # show the model's own fields only (display only; the stored entry is unchanged)
            if isinstance(entry.changes, dict):
                entry.changes = {k: v for k, v in entry.changes.items() if k in real}
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


class ExistsChangeList(ChangeList):
    """A changelist whose lookups through the listed model's many-valued relations
    (``?tags__name=prod``, the "By tag" filter's ``?tags__id__exact=3``) narrow with ``EXISTS``
    subqueries (:func:`exists_condition`) where Django joins the relation and removes the
    duplicates with ``DISTINCT``: over the page's wide rows, and as a ``COUNT(DISTINCT ...)`` of
    every match for the paginator, which at 100k devices was most of the page. The same rows.
    Lookups through deeper paths keep Django's join and DISTINCT."""

    def get_filters(self, request):
        specs, has_filters, remaining, may_have_duplicates, active = super().get_filters(request)
        self.exists_lookups = {k: remaining.pop(k) for k in list(remaining) if narrows_through_many(self.model, k)}
        self.other_lookups = remaining
        if may_have_duplicates:  # Django's test, less what now narrows with EXISTS
            may_have_duplicates = any(lookup_spawns_duplicates(self.lookup_opts, k) for k in remaining) or any(
                getattr(spec, "used_parameters", None) and not getattr(spec, "narrows_with_exists", False)
                and lookup_spawns_duplicates(self.lookup_opts, spec.field_path or "")
                for spec in specs if hasattr(spec, "field_path"))
        return specs, has_filters, remaining, may_have_duplicates, active

    def get_queryset(self, request, exclude_parameters=None):
        qs = super().get_queryset(request, exclude_parameters)
        if self.exists_lookups:
            qs = qs.filter(exists_condition(self.model, self.exists_lookups))
            # "clear all filters" keeps these lookups, as it keeps the others that are no filter's
            self.clear_all_filters_qs = self.get_query_string(
                new_params={**self.other_lookups, **{k: self.filter_params[k] for k in self.exists_lookups}},
                remove=self.get_filters_params())
        return qs


#: changelist query parameters that do not narrow the rows (ordering, page, popup plumbing)
NON_FILTERING = frozenset({"o", "p", "_popup", "_to_field", "_changelist_filters", "_facets"})


#: a filtered changelist counts its rows up to this many (pages up to it; "more than ..." beyond).
#: At 1M devices, ``?tags__name=prod`` (250k matches) counts to 10,001 in 166 ms (PostgreSQL hashes
#: every match first) and to 1,001 in 20 ms (it walks the two indexes side by side and stops).
FILTERED_COUNT_CAP = 1_000


class CountingPaginator(Paginator):
    """The changelist's count: for an unfiltered list, the shared cached count of
    :mod:`inventory.runtime.counting` (the one the REST lists use), so no request scans the table;
    for a filtered one, a count that stops at ``FILTERED_COUNT_CAP`` rows (a filter matching a
    quarter of a million devices costs what one matching a thousand does; ``capped`` tells the
    page to say "more than")."""

    unfiltered = False
    capped = False

    @property
    def count(self):
        if "count" not in self.__dict__:
            from inventory.runtime import counting

            if self.unfiltered:
                self.__dict__["count"] = counting.count(self.object_list, unfiltered=True)
            else:
                found = self.object_list.order_by().values("pk")[:FILTERED_COUNT_CAP + 1].count()
                self.capped = found > FILTERED_COUNT_CAP
                self.__dict__["count"] = min(found, FILTERED_COUNT_CAP)
        return self.__dict__["count"]


class TenantScopedAdmin(HistoryMixin, TenantScopedMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # no second COUNT(*) over the whole table

    def action_checkbox(self, obj):
        """Django's row checkbox, the same HTML, made with ``format_html`` instead of rendering a
        ``CheckboxInput`` template per row (a third of a 50-row list's rendering)."""
        from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
        from django.utils.html import format_html
        from django.utils.translation import gettext

        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           ACTION_CHECKBOX_NAME, str(obj.pk),
                           format_html(gettext("Select this object for an action - {}"), str(obj)))

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = CountingPaginator(queryset, per_page, orphans, allow_empty_first_page)
        paginator.unfiltered = not (set(request.GET) - NON_FILTERING)
        return paginator

    def get_object(self, request, object_id, from_field=None):
        # Another tenant's object, or none at all: the same 404 before any permission
        # check, so a guessed id never tells whether it exists.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")
        return obj


class ReadOnceMixin:
    """A GET change page whose ``change_view`` reads the object first (for a picture) hands it to
    the form too: ``get_object`` answers from the request, so the object is read once."""

    def get_object(self, request, object_id, from_field=None):
        if request.method == "GET" and from_field is None:
            cache = request.__dict__.setdefault("_read_once", {})
            key = (self.model, str(object_id))
            if key not in cache:
                cache[key] = super().get_object(request, object_id, from_field)
            return cache[key]
        return super().get_object(request, object_id, from_field)


def _attrs_html(attrs: dict) -> str:
    """``django/forms/widgets/attrs.html``, with ``format_html``."""
    return "".join(format_html(" {}", key) if val is True else format_html(' {}="{}"', key, val)
                   for key, val in attrs.items() if val is not False)


def _input_html(widget, name, value, attrs=None):
    """What Django's ``django/forms/widgets/input.html`` (with ``attrs.html``) makes of ``widget``,
    made with ``format_html``: the same HTML (``{{ }}`` escapes what is not marked safe, as
    ``conditional_escape`` does; ``stringformat:'s'`` is ``str``) without rendering two templates."""
    context = widget.get_context(name, value, attrs)["widget"]
    html = [format_html('<input type="{}" name="{}"', context["type"], context["name"])]
    if context["value"] is not None:
        html.append(format_html(' value="{}"', context["value"]))
    html.append(_attrs_html(context["attrs"]))
    html.append(">")
    return mark_safe("".join(html))


def _textarea_html(widget, name, value, attrs=None):
    """``django/forms/widgets/textarea.html``, with ``format_html``: the same HTML."""
    context = widget.get_context(name, value, attrs)["widget"]
    return format_html('<textarea name="{}"{}>\n{}</textarea>', context["name"], mark_safe(_attrs_html(context["attrs"])),
                       context["value"] or "")


_OPTION_TEMPLATE = "django/forms/widgets/select_option.html"


def _select_html(widget, name, value, attrs=None):
    """``django/forms/widgets/select.html`` (options: ``select_option.html``), with ``format_html``:
    the same HTML, one template render instead of two per option."""
    context = widget.get_context(name, value, attrs)["widget"]
    html = [format_html('<select name="{}"', context["name"]), _attrs_html(context["attrs"]), ">"]
    for group_name, group_choices, _index in context["optgroups"]:
        if group_name:
            html.append(format_html('\n  <optgroup label="{}">', group_name))
        for option in group_choices:
            if option["template_name"] != _OPTION_TEMPLATE:  # pragma: no cover - a widget of its own
                return forms.Widget.render(widget, name, value, attrs)
            html.append(format_html('\n  <option value="{}"{}>{}</option>\n', option["value"],
                                    mark_safe(_attrs_html(option["attrs"])), option["label"]))
        if group_name:
            html.append("\n  </optgroup>")
    html.append("\n</select>")
    return mark_safe("".join(html).strip())


#: Django's widget templates that are nothing but ``input.html``
_INPUT_TEMPLATES = frozenset(f"django/forms/widgets/{name}.html" for name in (
    "input", "text", "number", "email", "url", "password", "hidden", "checkbox", "date", "datetime", "time",
    "search", "tel", "color"))


class _LeanInput:
    """Renders an ``input.html`` widget with :func:`_input_html` (the same HTML, no templates)."""

    def render(self, name, value, attrs=None, renderer=None):
        return _input_html(self, name, value, attrs)


class _LeanSelect:
    """Renders a ``select.html`` widget with :func:`_select_html` (the same HTML, no templates)."""

    def render(self, name, value, attrs=None, renderer=None):
        return _select_html(self, name, value, attrs)


class _LeanTextarea:
    """Renders a ``textarea.html`` widget with :func:`_textarea_html` (the same HTML, no templates)."""

    def render(self, name, value, attrs=None, renderer=None):
        return _textarea_html(self, name, value, attrs)


_LABEL_TEMPLATE = "django/forms/label.html"


def label_html(context: dict) -> str:
    """``django/forms/label.html`` (``BoundField.label_tag``'s context), with ``format_html``."""
    if not context["use_tag"]:
        return format_html("{}", context["label"])
    return format_html("<{}{}>{}</{}>", context["tag"], mark_safe(_attrs_html(context["attrs"] or {})),
                       context["label"], context["tag"])


class _LeanHiddenForm:
    """A form of hidden inputs only (a formset's management form) rendered as ``div.html`` renders
    it when it has no errors: its inputs one after the other (``{{ errors }}`` is empty)."""

    def render(self, template_name=None, context=None, renderer=None):
        if template_name is None and context is None and renderer is None and not self.errors \
                and all(bf.is_hidden for bf in self):
            return mark_safe("".join(str(bf) for bf in self))
        return super().render(template_name, context, renderer)

    __str__ = render
    __html__ = render


_lean_classes: dict[tuple[type, type], type] = {}


def _lean_class(mixin: type, cls: type) -> type:
    """``cls`` with ``mixin`` first (made once per pair): what a lean widget or form becomes."""
    lean = _lean_classes.get((mixin, cls))
    if lean is None:
        lean = _lean_classes[mixin, cls] = type(f"Lean{cls.__name__}", (mixin, cls), {"__module__": __name__})
    return lean


def lean_input(widget):
    """``widget``, rendering in Python if Django would render it with ``input.html`` alone (text,
    number, hidden, checkbox... inputs, the admin's among them), ``textarea.html``, or ``select.html``
    and ``select_option.html`` (selects, the admin's autocompletes); other widgets are left as they are."""
    cls = type(widget)
    template = getattr(widget, "template_name", None)
    if issubclass(cls, (_LeanInput, _LeanSelect, _LeanTextarea)):
        return widget
    if template in _INPUT_TEMPLATES:
        mixin = _LeanInput
    elif template == "django/forms/widgets/textarea.html":
        mixin = _LeanTextarea
    elif template == "django/forms/widgets/select.html" and getattr(widget, "option_template_name", None) == _OPTION_TEMPLATE:
        mixin = _LeanSelect
    else:
        return widget
    widget.__class__ = _lean_class(mixin, cls)
    return widget


def _lean_plumbing(form):
    """The inputs a formset adds to every row and to its management form (the row's id and parent,
    "Delete?", the form counts) rendered in Python (:func:`lean_input`): four to six templates per
    row and four per inline otherwise, the larger part of an inline's rendering."""
    for field in form.fields.values():
        lean_input(field.widget)
    return form


def _lean_formset(formset_class):
    """``formset_class`` with
    - ``empty_form`` built once per formset: Django's is a property that builds a new form (fields
      deep-copied, widgets and all) on every access, and the admin reads it five times or more per
      inline (column headers, media, the template's empty row);
    - the rows' id/parent/delete inputs and the management form's counts rendered by
      :func:`_lean_plumbing`, the management form itself by :class:`_LeanHiddenForm`, empty error
      lists by :class:`_LeanErrorList` (the same HTML)."""
    prop = inspect.getattr_static(formset_class, "empty_form", None)
    namespace = {"__module__": formset_class.__module__}
    if isinstance(prop, property):
        namespace["empty_form"] = cached_property(prop.fget)

    def add_fields(self, form, index):
        super(lean, self).add_fields(form, index)
        for name in (self.model._meta.pk.name, getattr(getattr(self, "fk", None), "name", None), "DELETE"):
            field = form.fields.get(name) if name else None
            if field is not None:
                lean_input(field.widget)

    def management_form(self):
        form = _lean_plumbing(super(lean, self).management_form)
        form.__class__ = _lean_class(_LeanHiddenForm, type(form))
        return form

    def __init__(self, *args, **kwargs):
        super(lean, self).__init__(*args, **kwargs)
        if self.error_class is ErrorList:  # its non-form errors, and its forms' (see TenantOwnedForm)
            self.error_class = _LeanErrorList

    namespace["__init__"] = __init__
    namespace["add_fields"] = add_fields
    namespace["management_form"] = cached_property(management_form)
    lean = type(formset_class.__name__, (formset_class,), namespace)
    return lean


class TenantScopedInline(TenantScopedMixin, admin.TabularInline):
    extra = 0
    show_change_link = True

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return _lean_formset(formset) if runtime.enabled("lean_admin_forms") else formset

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
