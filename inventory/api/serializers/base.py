"""What every API serializer shares.

Serializers work without a request: pass ``context={"principal": Principal}`` (REST views
add it from the request). Foreign keys resolve through ``restrict(principal, "view")``, so
another tenant's id is "does not exist" (400), and ``save()`` enforces the write permission
itself (403), so the MCP gateway and jobs get the same rules by calling ``save()``.

Context keys: ``principal`` (required unless ``request`` carries one), ``request``
(optional: absolute ``url`` values), ``fields`` (optional set of field names to render).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import Tenant
from inventory.services.common import check, save_model
from inventory.tenancy import Action, Principal

BRIEF_FIELDS = ("id", "name", "display", "url")


def principal_of(context) -> Principal:
    """The acting principal of a serializer context."""
    principal = context.get("principal")
    if principal is None and context.get("request") is not None:
        principal = Principal.of(context["request"])
    if principal is None:
        raise ImproperlyConfigured("Serializer context needs a 'principal' (or a 'request').")
    return principal


_model_querysets: dict[type, models.QuerySet] = {}


def _model_queryset(model) -> models.QuerySet:
    """One unevaluated ``model.objects.all()`` per model, shared by every RestrictedRelatedField
    of it: DRF wants a queryset naming the model (the schema reads it), and building one for
    each copy of each field costs more than rendering the field. Never evaluated: the field's
    get_queryset() narrows a fresh one to what the principal may view."""
    queryset = _model_querysets.get(model)
    if queryset is None:
        queryset = _model_querysets[model] = model.objects.all()
    return queryset


class RestrictedRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key given by id, looked up among the objects the principal may view.

    ``RestrictedRelatedField(Datacenter, required=False, allow_null=True)``
    """

    default_error_messages = {
        "does_not_exist": "No {model} with id {pk_value} exists (or it is not visible to you).",
        "incorrect_type": "Incorrect type. Expected an id or an object with an id or a name, received {data_type}.",
        "bad_reference": "Expected an id, or an object with \"id\" or \"name\"{slug} (as in responses), "
                         "received {keys}.",
        "no_such_name": "No {model} named {name!r} exists (or it is not visible to you).",
        "ambiguous": "{count} {models} named {name!r} are visible to you; give the id.",
    }

    def __init__(self, model, **kwargs):
        self.model = model
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", _model_queryset(model))
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.restrict(principal_of(self.context), Action.VIEW)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            return self.from_reference(data)
        if isinstance(data, bool) or not isinstance(data, (int, str)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return self.get_queryset().get(pk=data)
        except (self.model.DoesNotExist, TypeError, ValueError, OverflowError):
            self.fail("does_not_exist", pk_value=data, model=self.model._meta.verbose_name)

    def from_reference(self, data: dict):
        """``{"id": 3}`` (any nested reference as a response shows it), ``{"name": "dc-a"}`` or,
        for a tenant, ``{"slug": "acme"}``."""
        has_slug = any(f.name == "slug" for f in self.model._meta.concrete_fields)
        if data.get("id") is not None:
            return self.to_internal_value(data["id"])
        for key in ("name", "slug") if has_slug else ("name",):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                found = list(self.get_queryset().filter(**{key: value.strip()})[:2])
                if not found:
                    self.fail("no_such_name", model=self.model._meta.verbose_name, name=value)
                if len(found) > 1:
                    self.fail("ambiguous", count="Several", models=self.model._meta.verbose_name_plural, name=value)
                return found[0]
        self.fail("bad_reference", slug=' or "slug"' if has_slug else "", keys=sorted(data) or "{}")


#: what a nested reference shows (``?fields=tenant.name`` picks among these)
REF_KEYS = ("id", "url", "display", "name")
#: model -> (detail view name, the columns its reference reads); filled by InventorySerializer subclasses
REFERENCES: dict[type, tuple[str, tuple[str, ...] | None]] = {}


def reference_fields(serializer) -> list[str]:
    """Names of the ``serializer``'s fields rendered as nested references: its foreign keys, when
    its context asks for them (``context["nested"]``: the REST views; MCP tools keep ids)."""
    if not serializer.context.get("nested"):
        return []
    names = serializer.__dict__.get("_reference_names")
    if names is None:
        names = serializer._reference_names = [
            name for name, field in serializer.fields.items()
            if isinstance(field, RestrictedRelatedField) and field.model in REFERENCES and not field.write_only]
    return names


def load_references(serializer, objects) -> None:
    """Batch loader: for each reference field of ``serializer``, the referenced rows of all
    ``objects`` with one query, stored on each object as ``_ref_<field name>`` (a dict, or None).

    The referenced rows are read without the tenancy filter: an object's foreign keys only ever
    point into its own tenant (the models refuse anything else), so whoever sees the object may
    see what it names."""
    request = serializer.context.get("request")
    for name in reference_fields(serializer):
        field = serializer.fields[name]
        model, attname = field.model, f"{field.source}_id"
        view_name, columns = REFERENCES[model]
        ids = {obj.__dict__.get(attname) for obj in objects} - {None}
        # rows the objects hold already (select_related, or set by the code that made them)
        held = {row.pk: row for obj in objects
                if (row := obj._state.fields_cache.get(field.source)) is not None and row.pk in ids}
        rows = list(held.values())
        if ids - held.keys():
            query = model.objects.filter(pk__in=ids - held.keys())
            rows += query.only(*columns) if columns is not None else query
        template = _url_template(view_name, request)
        has_name = any(f.name == "name" for f in model._meta.concrete_fields)
        found = {}
        for row in rows:
            ref = {"id": row.pk, "url": template and template.replace(str(SelfLinkField._PLACEHOLDER), str(row.pk)),
                   "display": str(row)}
            if has_name:
                ref["name"] = row.name
            found[row.pk] = ref
        for obj in objects:
            obj.__dict__[f"_ref_{name}"] = found.get(obj.__dict__.get(attname))


@lru_cache(maxsize=512)
def _reversed(view_name: str, urlconf, prefix: str) -> str | None:
    try:
        return reverse(view_name, kwargs={"pk": SelfLinkField._PLACEHOLDER}, urlconf=urlconf)
    except NoReverseMatch:  # pragma: no cover - urls not loaded
        return None


def placeholder_path(view_name: str) -> str | None:
    """The path of ``view_name``'s object with the placeholder id, reversed once per URLconf and
    script prefix (each serializer reversed it anew: about a quarter of the time of serializing one object)."""
    return _reversed(view_name, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())


def _url_template(view_name: str, request) -> str | None:
    path = placeholder_path(view_name)
    if path is None:
        return None
    return request.build_absolute_uri(path) if request is not None else path


@extend_schema_field(OpenApiTypes.URI)
class SelfLinkField(serializers.Field):
    """The object's API URL (absolute when a request, or a ``base_url``, is in the context).

    The URL pattern is reversed once per serializer and filled in per object (lists are hot).
    """

    _PLACEHOLDER = 987654321
    #: JSON Schema of the value (mcp_gateway.schema reads it)
    json_schema = {"type": "string", "format": "uri"}

    def __init__(self, view_name: str, **kwargs):
        self.view_name = view_name
        kwargs.update(read_only=True, source="*")
        super().__init__(**kwargs)

    def _template(self) -> str | None:
        if not hasattr(self, "_url_template"):
            path = placeholder_path(self.view_name)
            request = self.context.get("request")
            if path is not None and request is not None:
                path = request.build_absolute_uri(path)
            elif path is not None and self.context.get("base_url"):  # e.g. MCP results: PUBLIC_URL
                path = self.context["base_url"].rstrip("/") + path
            self._url_template = path
        return self._url_template

    def to_representation(self, obj):
        template = self._template()
        return None if template is None else template.replace(str(self._PLACEHOLDER), str(obj.pk))


@extend_schema_field(OpenApiTypes.STR)
class DisplayField(serializers.Field):
    """``str(obj)``: a human-readable label."""

    json_schema = {"type": "string"}

    def __init__(self, **kwargs):
        kwargs.update(read_only=True, source="*")
        kwargs.setdefault("help_text", "Human-readable label.")
        super().__init__(**kwargs)

    def to_representation(self, obj):
        return str(obj)


def with_related(queryset, serializer_class, wanted=None):
    """``queryset`` with the ``select_related``/``prefetch_related`` (and ``annotate``) that
    rendering the fields ``wanted`` (names; None: all) of ``serializer_class`` needs, from its
    ``related`` map (``{field: ("select"|"prefetch", lookups) | ("annotate", {alias: expr})}``).
    REST views and MCP tools both build their querysets with it."""
    selects, prefetches, annotations = [], [], {}
    for name, (kind, lookup) in getattr(serializer_class, "related", {}).items():
        if wanted is None or name in wanted:
            if kind == "annotate":  # {"alias": expression}: e.g. a count the field reads
                annotations.update(lookup)
                continue
            (selects if kind == "select" else prefetches).extend(lookup if isinstance(lookup, (list, tuple)) else (lookup,))
    if annotations:
        queryset = queryset.annotate(**annotations)
    if selects:
        queryset = queryset.select_related(*dict.fromkeys(selects))
    if prefetches:
        queryset = queryset.prefetch_related(*dict.fromkeys(prefetches))
    columns = None
    if wanted is not None and hasattr(serializer_class, "columns_for"):
        columns = serializer_class.columns_for(wanted)
    if columns is not None:  # the joins and prefetches above start from these foreign keys
        queryset = queryset.only(*columns, *{lookup.split("__")[0] for lookup in [*selects, *prefetches]})
    return queryset


class Batched:
    """Field mixin: use the value a batch loader stored on the object (``obj._batch_<field
    name>``) when there is one, else read the attribute as usual."""

    def get_attribute(self, instance):
        value = instance.__dict__.get(f"_batch_{self.field_name}", _UNSET)
        return value if value is not _UNSET else super().get_attribute(instance)


_UNSET = object()


class BatchedListSerializer(Batched, serializers.ListSerializer):
    """A nested many=True serializer whose rows a batch loader may provide."""


class BatchListSerializer(serializers.ListSerializer):
    """Renders a page of objects, loading what the rendered fields need with one query per field
    (the child serializer's ``batch`` loaders) instead of a prefetch per object.

    A loader takes the page's objects and stores on each ``_batch_<field name>``; the field (with
    :class:`Batched`) reads that, or makes its own query for a single object (detail, saves).
    """

    def to_representation(self, data):
        items = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        if items:
            fields = self.child.fields
            for name, loader in getattr(self.child, "batch", {}).items():
                if name in fields:
                    loader(items)
            load_references(self.child, items)
        return [self.child.to_representation(item) for item in items]


#: form fields the browsable API adds to what it posts
IGNORED_INPUT = frozenset({"csrfmiddlewaretoken"})


class StrictInput:
    """Serializer mixin: a field the serializer does not have is a 400 naming it and the writable
    fields, not silently dropped (``{"colour": "red"}`` would otherwise be accepted). Read-only
    fields that are sent (a GET's body sent back) are ignored, as DRF does."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            fields = self.fields
            unknown = sorted(k for k in data if k not in fields and k not in IGNORED_INPUT)
            if unknown:
                writable = ", ".join(name for name, f in fields.items() if not f.read_only)
                raise serializers.ValidationError({name: [f"Unknown field. Writable fields: {writable}."] for name in unknown})
        return super().to_internal_value(data)


class InventorySerializer(StrictInput, serializers.ModelSerializer):
    """Base of every API serializer: sparse fields, tenant handling, permission-checked save.

    Subclasses set ``Meta.model``, ``Meta.fields``, and optionally:
    ``brief_fields`` (the ``?brief=1`` set), ``related`` (field name -> ("select"|"prefetch",
    lookup)) from which views derive select_related/prefetch_related for the requested fields,
    ``batch`` (field name -> loader) with ``Meta.list_serializer_class = BatchListSerializer``.
    """

    brief_fields: tuple[str, ...] = BRIEF_FIELDS
    related: dict[str, tuple[str, object]] = {}
    #: field name -> loader(objects) used when rendering many (see BatchListSerializer)
    batch: dict[str, object] = {}
    #: field name -> the model fields its batch loader reads from the rendered objects themselves
    batch_columns: dict[str, tuple[str, ...]] = {}
    #: the model fields ``str(obj)`` (the ``display`` field) reads; None: not known (all are loaded)
    display_columns: tuple[str, ...] | None = None
    #: the actions that creating/changing need (memberships and tenants use "manage")
    add_action = Action.ADD
    change_action = Action.CHANGE

    id = serializers.IntegerField(read_only=True)
    display = DisplayField()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        meta = cls.__dict__.get("Meta")
        if meta is not None and not hasattr(meta, "list_serializer_class"):
            meta.list_serializer_class = BatchListSerializer  # pages load their references in one query each
        url = cls._declared_fields.get("url")
        model = getattr(meta, "model", None)
        if isinstance(url, SelfLinkField) and model is not None and model not in REFERENCES:
            columns = None
            if cls.display_columns is not None:
                concrete = {f.name for f in model._meta.concrete_fields}
                columns = tuple(dict.fromkeys(("id", *cls.display_columns, *({"name"} & concrete))))
            REFERENCES[model] = (url.view_name, columns)

    @property
    def principal(self) -> Principal:
        return principal_of(self.context)

    # --- sparse fields -------------------------------------------------------------------
    @classmethod
    def prototype_fields(cls) -> dict:
        """The class's unbound fields (see get_fields); read them, never bind or change them."""
        if "_field_prototypes" not in cls.__dict__:
            cls._field_prototypes = serializers.ModelSerializer.get_fields(cls(context={"principal": None}))
        return cls._field_prototypes

    @classmethod
    def columns_for(cls, wanted) -> list[str] | None:
        """The model fields that rendering the fields ``wanted`` reads, for ``only()``; None when
        that is not known (then every field is loaded). A field whose source is a model field
        reads it; ``url`` and the batch-loaded fields read only the primary key (and their
        ``batch_columns``); ``display``
        reads ``display_columns``."""
        model = cls.Meta.model
        concrete = {f.name for f in model._meta.concrete_fields}
        columns = {model._meta.pk.name, *({"tenant"} & concrete)}
        prototypes = cls.prototype_fields()
        for name in wanted:
            field = prototypes.get(name)
            if field is None or name in cls.batch or isinstance(field, SelfLinkField):
                columns.update(cls.batch_columns.get(name, ()))
                continue
            if isinstance(field, DisplayField):
                if cls.display_columns is None:
                    return None
                columns.update(cls.display_columns)
                continue
            source = field.source or name
            if source not in concrete:  # a property, a method, a lookup across a relation
                return None
            columns.add(source)
        return sorted(columns)

    def get_fields(self):
        """The fields to render: all, or those in ``context["fields"]`` (sparse fieldsets, at the
        top level only)."""
        wanted = self.context.get("fields")
        is_root = self.parent is None or (isinstance(self.parent, serializers.ListSerializer) and self.parent.parent is None)
        fields = super().get_fields()
        if not wanted or not is_root:
            return fields
        return {name: field for name, field in fields.items() if name in wanted}

    def to_representation(self, instance):
        if not isinstance(instance, self.Meta.model):  # e.g. a dict: DRF reads it key by key
            return super().to_representation(instance)
        # one object (detail, save responses): the batch loaders read what it shows, as for a page
        # (one plain query per field instead of an ORM query); always afresh, as it may have changed
        if self.batch and instance.pk is not None and not isinstance(self.parent, serializers.ListSerializer):
            fields = self.fields
            for name, loader in self.batch.items():
                if name in fields:
                    loader([instance])
        data = super().to_representation(instance)
        references = reference_fields(self)
        if references:
            if not isinstance(self.parent, serializers.ListSerializer) or f"_ref_{references[0]}" not in instance.__dict__:
                load_references(self, [instance])  # one object: afresh, as it may have changed
            picked = self.context.get("reference_keys") or {}
            for name in references:
                if name in data:
                    ref = instance.__dict__.get(f"_ref_{name}")
                    keys = picked.get(name)
                    data[name] = {k: v for k, v in ref.items() if k in keys} if ref is not None and keys else ref
        return data

    # --- validation ----------------------------------------------------------------------
    #: fields a PUT that leaves them out keeps (they cannot change, or are derived when empty)
    put_keeps: tuple[str, ...] = ("tenant", "slug")

    def replacement_defaults(self, attrs: dict) -> dict:
        """PUT replaces the whole object: a writable field left out gets its default (the
        serializer's, else the model field's; lists such as tags, addresses and domains become
        empty), as if the object were created with that body."""
        model_fields = {f.name: f for f in self.Meta.model._meta.get_fields()}
        for name, field in self.fields.items():
            if field.read_only or field.source in attrs or name in self.put_keeps or field.source == "*":
                continue
            model_field = model_fields.get(field.source)
            if isinstance(field, (serializers.ListSerializer, serializers.ListField, serializers.ManyRelatedField)):
                attrs[field.source] = []
            elif model_field is not None and getattr(model_field, "concrete", False) and not model_field.many_to_many:
                attrs[field.source] = model_field.get_default()
                if model_field.is_relation and attrs[field.source] is not None:
                    attrs.pop(field.source)  # a required link: the field's own validation asked for it
        return attrs

    def validate(self, attrs):
        if self.instance is not None and not self.partial:
            attrs = self.replacement_defaults(attrs)
        if self.instance is not None and "tenant" in attrs and attrs["tenant"] is not None:
            if attrs["tenant"].pk != getattr(self.instance, "tenant_id", attrs["tenant"].pk):
                raise serializers.ValidationError({"tenant": "Objects cannot move between tenants."})
        return attrs

    def default_tenant(self) -> Tenant | None:
        """The only tenant the principal may add to, if there is exactly one."""
        allowed = self.principal.tenant_ids_for(self.add_action)
        if allowed is not None and len(allowed) == 1:
            return Tenant.objects.get(pk=next(iter(allowed)))
        return None

    # --- writing -------------------------------------------------------------------------
    def check_write(self, instance, action: str) -> None:
        """403 unless the principal may ``action`` the (possibly unsaved) instance."""
        check(self.principal, action, instance, f"this {instance._meta.verbose_name}")

    def apply(self, instance, validated_data: dict):
        """Copy plain attributes onto the instance (subclasses add derived work)."""
        for name, value in validated_data.items():
            setattr(instance, name, value)

    def write(self, instance, validated_data: dict, action: str):
        if instance.pk is not None:
            self.check_write(instance, self.change_action)
        self.apply(instance, validated_data)
        if hasattr(instance, "derive_tenant"):
            instance.derive_tenant()
            if instance.tenant_id is None:
                tenant = self.default_tenant()
                if tenant is None:
                    raise serializers.ValidationError({"tenant": "This field is required: say which tenant the object belongs to."})
                instance.tenant = tenant
        self.check_write(instance, action)
        with transaction.atomic():
            save_model(instance)
            self.after_save(instance, validated_data)
        return instance

    def after_save(self, instance, validated_data: dict) -> None:
        """Hook inside the write transaction (related rows)."""

    def create(self, validated_data):
        return self.write(self.Meta.model(), validated_data, self.add_action)

    def update(self, instance, validated_data):
        return self.write(instance, validated_data, self.change_action)


class TenantOwnedSerializer(InventorySerializer):
    tenant = RestrictedRelatedField(
        Tenant, required=False,
        help_text="Tenant id. Optional when it follows from a parent object or you can add to only one tenant; "
                  "fixed after creation.",
    )
