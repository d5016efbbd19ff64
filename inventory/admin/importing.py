"""Import and export in the admin, for every kind (django-import-export).

Every kind of :mod:`inventory.kinds` whose model has an admin gets, from :func:`add_import_export`,
"Import" and "Export" buttons on its changelist:

- **Export** (CSV, JSON, YAML) writes the changelist's rows: the admin's restricted queryset with
  the current filters and search, so a tenant's export never holds another tenant's rows.
- **Import** (CSV, JSON, YAML) first runs a dry run and shows a preview with each row's errors; only
  a file without any error can be confirmed, and the confirmed import runs in one transaction that
  is rolled back if any row fails (nothing is written then). Rows are validated by the model
  (``full_clean()``, the many-to-many tenant guard), so the messages are those of REST and MCP; each
  object written is audited by django-auditlog (the request's actor).
- Foreign keys and tags are given by **name** and resolved only within the row's tenant (a
  ``tenant`` column, by name, or the one tenant the caller may import into), among the objects the
  caller may change: a name of another tenant's object gives the same per-row error as a name that
  does not exist. A row with an ``id`` updates that object if the caller may change it, otherwise
  the row is refused (never a new object with a foreign id).
- Tenants and memberships (not tenant-owned) are imported by superusers only.
- Large files are **refused**, not run as a job: above ``settings.IMPORT_MAX_BYTES`` (2 MiB) or
  ``settings.IMPORT_MAX_ROWS`` (5,000 rows) the form says so and nothing is read or written. Files
  that are not UTF-8 are refused with a message saying so.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.template.defaultfilters import filesizeformat
from import_export import resources, widgets
from import_export.admin import ImportExportMixin
import tablib
from import_export.formats.base_formats import CSV, JSON, YAML
from import_export.forms import ExportForm, ImportForm

from inventory.api.csv_export import escape_formula, unescape_formula
from inventory.models.base import TenantOwned
from inventory.tenancy import Action, Principal

class TooManyRows(ValueError):
    pass


def too_many_rows(count: int) -> str:
    return (f"The file has {count:,} rows; imports are limited to {max_rows():,} rows "
            f"(and {filesizeformat(max_bytes())}). Split it into smaller files. Nothing was imported.")


class RowLimit:
    """A format whose datasets above ``IMPORT_MAX_ROWS`` rows are refused (a form error)."""

    def create_dataset(self, in_stream, **kwargs):
        dataset = super().create_dataset(in_stream, **kwargs)
        if len(dataset) > max_rows():
            raise TooManyRows(too_many_rows(len(dataset)))
        return dataset


class FormulaSafe:
    """CSV only: text cells a spreadsheet would run as a formula (CSV injection) are exported
    with a leading ``'``, as REST's ``?format=csv`` does; the ``'`` is dropped again on import."""

    def export_data(self, dataset, **kwargs):
        escaped = tablib.Dataset(headers=dataset.headers, title=dataset.title)
        for row in dataset:
            escaped.append([escape_formula(v) if isinstance(v, str) else v for v in row])
        return super().export_data(escaped, **kwargs)

    def create_dataset(self, in_stream, **kwargs):
        dataset = super().create_dataset(in_stream, **kwargs)
        unescaped = tablib.Dataset(headers=dataset.headers)
        for row in dataset:
            unescaped.append([unescape_formula(v) if isinstance(v, str) else v for v in row])
        return unescaped


FORMATS = [type(f.__name__, (RowLimit, *([FormulaSafe] if f is CSV else []), f), {"__module__": __name__})
           for f in (CSV, JSON, YAML)]
#: fields never imported nor exported (kept by the model itself)
SKIPPED = {"created", "updated", "search_text"}


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", 2 * 1024 * 1024)


def max_rows() -> int:
    return getattr(settings, "IMPORT_MAX_ROWS", 5000)


def lookup_field(model) -> str:
    """The column a foreign key to ``model`` is given by: its name (a user's username), else its id."""
    if model is get_user_model():
        return model.USERNAME_FIELD
    names = {f.name for f in model._meta.concrete_fields}
    return "name" if "name" in names else "pk"


class LimitedImportForm(ImportForm):
    """The import form, refusing a file above ``IMPORT_MAX_BYTES`` before it is read."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > max_bytes():
            raise ValidationError(
                f"The file is {filesizeformat(upload.size)}; imports are limited to {filesizeformat(max_bytes())} "
                f"and {max_rows():,} rows. Split it into smaller files. Nothing was imported.")
        return upload


class TenantNameWidget(widgets.ForeignKeyWidget):
    """A foreign key by name, resolved within the row's tenant among what the caller may change.
    A related model with a foreign key that is also a column of the row (a rack's datacenter, a
    pool's network) is narrowed by it too, as such names are unique only there."""

    def __init__(self, model, resource, **kwargs):
        super().__init__(model, field=lookup_field(model), **kwargs)
        self.resource = resource

    def scoped(self, row):
        qs = self.model._default_manager.all()
        qs = self.resource.principal.restrict(qs, Action.CHANGE) if hasattr(qs, "restrict") else qs
        if issubclass(self.model, TenantOwned):
            qs = qs.filter(tenant_id=self.resource.row_tenant_id(row))
        for fk in self.model._meta.concrete_fields:
            if fk.is_relation and fk.name != "tenant" and row and row.get(fk.name) not in (None, ""):
                qs = qs.filter(**{f"{fk.name}__{lookup_field(fk.related_model)}": row[fk.name]})
        return qs

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return None
        value = str(value).strip()
        name = self.model._meta.verbose_name
        try:
            found = list(self.scoped(row).filter(**{self.field: value})[:2])
        except (ValueError, TypeError, ValidationError):
            found = []
        if not found:
            raise ValueError(f"No {name} {value!r} in this tenant.")
        if len(found) > 1:
            raise ValueError(f"Several {self.model._meta.verbose_name_plural} are called {value!r}; "
                             f"give the column that tells them apart.")
        return found[0]

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return str(getattr(value, self.field.replace("pk", "id"), value.pk))


class TenantWidget(widgets.ForeignKeyWidget):
    """The row's tenant by name: one the caller may add objects to, or the only one when blank."""

    def __init__(self, resource):
        from inventory.models import Tenant

        super().__init__(Tenant, field="name")
        self.resource = resource

    def clean(self, value, row=None, **kwargs):
        return self.model._default_manager.get(pk=self.resource.row_tenant_id(row))


class TenantTagsWidget(widgets.ManyToManyWidget):
    """Many-to-many by names ("web, prod"), resolved within the row's tenant."""

    def __init__(self, model, resource):
        super().__init__(model, separator=",", field=lookup_field(model))
        self.resource = resource

    def clean(self, value, row=None, **kwargs):
        names = sorted({n.strip() for n in str(value or "").split(self.separator) if n.strip()})
        qs = self.model._default_manager.all()
        qs = self.resource.principal.restrict(qs, Action.CHANGE)
        if issubclass(self.model, TenantOwned):
            qs = qs.filter(tenant_id=self.resource.row_tenant_id(row))
        qs = qs.filter(**{f"{self.field}__in": names})
        missing = sorted(set(names) - {str(getattr(o, self.field)) for o in qs})
        if missing:
            raise ValueError(f"No {self.model._meta.verbose_name} {', '.join(map(repr, missing))} in this tenant.")
        return qs

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return self.separator.join(sorted(str(getattr(o, self.field)) for o in value.all()))


class JSONTextWidget(widgets.JSONWidget):
    """JSON fields (domains, facts) as JSON text in CSV; native values in JSON and YAML files; a
    blank cell is the field's default."""

    def __init__(self, empty=None):
        super().__init__()
        self.empty = empty

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, (list, dict)):
            return value
        if value in (None, ""):
            return self.empty() if callable(self.empty) else self.empty
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            raise ValueError("Not valid JSON.") from None


class KindResource(resources.ModelResource):
    """The resource of one kind; :func:`resource_for` builds one per model from its fields."""

    def __init__(self, request=None, **kwargs):
        super().__init__(**kwargs)
        self.request = request
        self.principal = Principal.of(request) if request is not None else None
        self._tenant_cache: dict = {}
        self._updating_tenant_id = None  # the tenant of the object the current row updates
        for name, field in list(self.fields.items()):
            model_field = self._model_field(name)
            if isinstance(model_field, models.ForeignKey):
                field.attribute = name  # the object (found by name), not the raw "<name>_id"
            if name == "tenant" and model_field is not None:
                field.widget = TenantWidget(self)
            elif isinstance(model_field, models.ManyToManyField):
                field.widget = TenantTagsWidget(model_field.related_model, self)
            elif isinstance(model_field, models.ForeignKey):
                field.widget = TenantNameWidget(model_field.related_model, self)
            elif isinstance(model_field, models.JSONField):
                field.widget = JSONTextWidget(empty=model_field.default)

    def _model_field(self, name):
        try:
            return self._meta.model._meta.get_field(name)
        except Exception:  # noqa: BLE001 - a resource column that is no model field
            return None

    # --- the row's tenant -----------------------------------------------------------------
    def importable_tenants(self):
        from inventory.models import Tenant

        return Tenant.objects.restrict(self.principal, Action.ADD)

    def row_tenant_id(self, row):
        """The tenant a row belongs to: its ``tenant`` column (a name of a tenant the caller may
        import into), else the parent's (``tenant_from``) for an update, else the caller's only
        tenant. Raises ValueError (a per-row error) when none can be told."""
        value = str((row or {}).get("tenant") or "").strip()
        if not value and self._updating_tenant_id is not None:
            return self._updating_tenant_id
        if value in self._tenant_cache:
            return self._tenant_cache[value]
        tenants = self.importable_tenants()
        if value:
            found = list(tenants.filter(name=value).values_list("pk", flat=True)[:1])
            if not found:
                raise ValueError(f"No tenant {value!r} that you may import into.")
        else:
            found = list(tenants.values_list("pk", flat=True)[:2])
            if len(found) != 1:
                raise ValueError("Give the tenant (a \"tenant\" column): you may import into several tenants.")
        self._tenant_cache[value] = found[0]
        return found[0]

    # --- import -----------------------------------------------------------------------------
    def get_queryset(self):
        """Existing objects a row may update: those the caller may change."""
        qs = super().get_queryset()
        return self.principal.restrict(qs, Action.CHANGE) if hasattr(qs, "restrict") else qs

    def before_import(self, dataset, **kwargs):
        if len(dataset) > max_rows():  # a second line: the formats refuse such files when read
            raise TooManyRows(too_many_rows(len(dataset)))

    def get_or_init_instance(self, instance_loader, row):
        self._updating_tenant_id = None
        pk = str(row.get("id") or "").strip()
        if not pk:
            instance = self.init_instance(row)
            if isinstance(instance, TenantOwned):
                try:
                    instance.tenant_id = self.row_tenant_id(row)
                except ValueError as exc:
                    raise ValidationError({"tenant": str(exc)}) from None
            return instance, True
        instance = None
        if pk.isdigit():
            instance = self.get_queryset().filter(pk=int(pk)).first()
        if instance is None:  # another tenant's, or none: the same answer
            raise ValidationError({"id": f"No {self._meta.model._meta.verbose_name} with id {pk!r} that you may change."})
        self._updating_tenant_id = getattr(instance, "tenant_id", None)
        return instance, False

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if field.attribute == "id":
            return  # an id selects the object (get_or_init_instance); it is never written
        return super().import_field(field, instance, row, is_m2m=is_m2m, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        """Each field's error, then the many-to-many names too (resolved before any write), so a row
        shows all its errors at once."""
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for field in self.get_import_fields():
            if isinstance(field.widget, widgets.ManyToManyWidget) and field.column_name in row:
                try:
                    field.clean(row)
                except ValueError as exc:
                    errors.setdefault(field.attribute, []).append(ValidationError(str(exc), code="invalid"))
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        if is_create and isinstance(instance, TenantOwned) and not self.principal.can(Action.ADD, instance):
            raise ValidationError({"tenant": "You may not add objects to this tenant."})
        super().save_instance(instance, is_create, row, **kwargs)

    def save_m2m(self, instance, row, **kwargs):
        try:
            super().save_m2m(instance, row, **kwargs)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def resource_for(model) -> type[KindResource]:
    """The import/export resource of ``model``: its editable fields (relations by name), ``id``."""
    names = ["id"]
    for field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
        if field.name in SKIPPED or field.primary_key or not field.editable:
            continue
        names.append(field.name)
    meta = type("Meta", (), {
        "model": model, "fields": names, "export_order": names, "import_id_fields": ["id"],
        "clean_model_instances": True, "skip_unchanged": False, "report_skipped": True,
        "use_transactions": True, "skip_diff": False,
    })
    return type(f"{model.__name__}Resource", (KindResource,), {"Meta": meta, "__module__": __name__})


class KindImportExportMixin(ImportExportMixin):
    """Import and export on a kind's admin (added by :func:`add_import_export`)."""

    import_formats = FORMATS
    export_formats = FORMATS
    import_form_class = LimitedImportForm
    export_form_class = ExportForm  # every column; the rows are the changelist's
    from_encoding = "utf-8-sig"  # UTF-8, with or without a byte-order mark (Excel writes one)
    import_error_display = ("message",)  # never a traceback

    def get_resource_classes(self, request):
        return [resource_for(self.model)]

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {"request": request}

    def has_import_permission(self, request):
        if not issubclass(self.model, TenantOwned):
            return Principal.of(request).is_superuser
        return self.has_add_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs.pop("request", None)
        kwargs["rollback_on_validation_errors"] = True  # the confirmed import: all rows or none
        return kwargs

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, TooManyRows):
            form.add_error("import_file", str(e))
        elif isinstance(e, UnicodeError):
            form.add_error("import_file", "The file is not UTF-8 text; save it as UTF-8 (CSV UTF-8) and try again. "
                                          "Nothing was imported.")
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def process_result(self, result, request):
        from django.contrib import messages
        from django.http import HttpResponseRedirect
        from django.urls import reverse

        if result.has_errors() or result.has_validation_errors():
            # the file changed between preview and confirmation (a name taken meanwhile): the
            # transaction was rolled back
            messages.error(request, "The import failed and was rolled back; nothing was imported. "
                                    "Upload the file again to see the rows' errors.")
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import"))
        return super().process_result(result, request)

    def get_export_queryset(self, request):
        qs = super().get_export_queryset(request)
        related = [f.name for f in self.model._meta.concrete_fields if f.is_relation]
        m2m = [f.name for f in self.model._meta.many_to_many]
        return (qs.select_related(*related) if related else qs).prefetch_related(*m2m)


def add_import_export(site, kinds) -> None:
    """Give the registered admin of each kind import and export (a subclass, registered anew)."""
    for kind in kinds:
        model = kind.get_model()
        model_admin = site._registry.get(model)
        if model_admin is None or isinstance(model_admin, KindImportExportMixin):
            continue
        cls = type(model_admin)
        subclass = type(cls.__name__, (KindImportExportMixin, cls), {"__module__": cls.__module__,
                                                                     "__qualname__": cls.__qualname__})
        site.unregister(model)
        site.register(model, subclass)
