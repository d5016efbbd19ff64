"""Serializers: objects rendered with a plan (``render_plan``/``render``, mechanism ``rendering``).

Rendering objects with a plan made once per serializer object instead of once per field and object.

DRF's ``Serializer.to_representation`` asks every field, for every object, to find its
attribute (``Field.get_attribute``: a walk along ``source``, callable checks, error handling,
``PKOnlyObject`` wrappers for foreign keys) and then to render it. For a page of 50 devices
that is about 1000 such round trips, and they cost more than the page's queries.

The plan looks at each field once and picks a step that gives the same output:

* a field whose source is one column of the model reads that attribute and renders it
  (``CharField``: ``str``, ``IntegerField``: ``int``, an ISO ``DateTimeField``: the
  ISO string in the current time zone, anything else: the field's own ``to_representation``);
* a foreign key rendered as its id (``PrimaryKeyRelatedField``) reads ``<name>_id``;
* ``source="*"`` fields render the object itself;
* every other field (batch-loaded lists, nested serializers, properties, lookups across
  relations) goes through DRF's own two calls, exactly as before.

``None`` renders as ``None`` without asking the field, as DRF does.
"""

from __future__ import annotations

from rest_framework import fields as drf_fields
from rest_framework import relations
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

COLUMN, FOREIGN_KEY, WHOLE, GENERIC = range(4)


def _datetime_renderer(field):
    """The field's ISO rendering with the time zone read once (it is read per value by DRF), or
    None when the field is configured differently (then DRF renders it)."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != drf_fields.ISO_8601:
        return None
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if zone is None:
        return None

    def render(value):
        if isinstance(value, str) or value.tzinfo is None:  # unusual values: DRF's own path
            return field.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render


def _column_renderer(field):
    kind = type(field)
    if kind is drf_fields.CharField:
        return str
    if kind is drf_fields.IntegerField:
        return int
    if kind is drf_fields.DateTimeField:
        render = _datetime_renderer(field)
        if render is not None:
            return render
    return field.to_representation


def _reads_attribute(field, base) -> bool:
    """Does ``field`` find its value as ``base`` does (no subclass changed how)?"""
    return type(field).get_attribute is base.get_attribute


def _step(field, model_fields: dict):
    name, source = field.field_name, field.source_attrs
    if not _reads_attribute(field, relations.RelatedField if isinstance(field, relations.RelatedField)
                            else drf_fields.Field):
        return (GENERIC, name, field)
    if field.source == "*":
        return (WHOLE, name, field.to_representation)
    if len(source) != 1 or source[0] not in model_fields:
        return (GENERIC, name, field)
    model_field = model_fields[source[0]]
    if not model_field.is_relation:
        return (COLUMN, name, (model_field.attname, _column_renderer(field)))
    if (isinstance(field, relations.PrimaryKeyRelatedField) and model_field.many_to_one and field.pk_field is None
            and type(field).to_representation is relations.PrimaryKeyRelatedField.to_representation
            and field.use_pk_only_optimization()):
        return (FOREIGN_KEY, name, model_field.attname)
    return (GENERIC, name, field)


def render_plan(serializer) -> list[tuple]:
    """One step per readable field of the (bound) ``serializer``, in field order."""
    model = serializer.Meta.model
    model_fields = {f.name: f for f in model._meta.concrete_fields}
    return [_step(field, model_fields) for field in serializer._readable_fields]


def render(plan: list[tuple], instance) -> dict:
    """``instance`` rendered by ``plan``: what ``Serializer.to_representation`` returns."""
    ret = {}
    for kind, name, how in plan:
        if kind == COLUMN:
            value = getattr(instance, how[0])
            ret[name] = None if value is None else how[1](value)
        elif kind == FOREIGN_KEY:
            ret[name] = getattr(instance, how)
        elif kind == WHOLE:
            ret[name] = how(instance)
        else:
            try:
                attribute = how.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check_for_none is None else how.to_representation(attribute)
    return ret
