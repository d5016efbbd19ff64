"""DRF serializer → JSON Schema (draft 2020-12), for MCP tool input and output schemas.

The serializer stays the single schema source: a field added to a serializer appears in the
REST API and in the MCP tools together. ``mode="input"`` describes what the serializer accepts
(writable fields; ``required`` unless ``partial``), ``mode="output"`` what it renders (readable
fields). Unknown field classes map to ``{}`` (any value), never to a wrong constraint.
"""

from __future__ import annotations

import json

from rest_framework import fields as f
from rest_framework import relations as r
from rest_framework import serializers as s

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "enum": ["INVALID_PARAMS", "NOT_FOUND", "FORBIDDEN", "CONFLICT",
                                            "UNAUTHORIZED", "INTERNAL_ERROR", "CONFIRMATION_REQUIRED",
                                            "CONFIRMATION_DECLINED", "CONFIRMATION_INVALID"]},
        "message": {"type": "string"},
        "details": {},
    },
    "required": ["code", "message"],
}


def _nullable(schema: dict) -> dict:
    t = schema.get("type")
    if isinstance(t, str):
        schema = {**schema, "type": [t, "null"]}
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if isinstance(t, list):
        return schema if "null" in t else {**schema, "type": [*t, "null"]}
    if not schema:
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _pk_schema(field) -> dict:
    queryset = getattr(field, "queryset", None)
    pk = getattr(getattr(queryset, "model", None), "_meta", None)
    pk = pk.pk if pk is not None else None
    if pk is not None and pk.get_internal_type() in ("AutoField", "BigAutoField", "IntegerField",
                                                      "BigIntegerField", "SmallAutoField"):
        return {"type": "integer"}
    if pk is not None and pk.get_internal_type() == "UUIDField":
        return {"type": "string", "format": "uuid"}
    return {"type": ["integer", "string"]}


def field_schema(field, mode: str = "input") -> dict:
    """JSON Schema of one DRF field."""
    schema = _base_schema(field, mode)
    if mode == "input" and getattr(field, "allow_null", False):
        schema = _nullable(schema)
    if mode == "output" and (getattr(field, "allow_null", False) or isinstance(field, f.ReadOnlyField)):
        schema = _nullable(schema)
    help_text = getattr(field, "help_text", None)
    if help_text and "anyOf" not in schema:
        schema = {**schema, "description": str(help_text)}
    elif help_text:
        schema = {"description": str(help_text), **schema}
    if mode == "input":
        default = getattr(field, "default", f.empty)
        if default is not f.empty and not callable(default) and _jsonable(default):
            schema = {**schema, "default": default}
    return schema


def _base_schema(field, mode: str) -> dict:  # noqa: C901 - one branch per field family
    declared = getattr(field, "json_schema", None)  # custom fields may say what they render
    if isinstance(declared, dict):
        return dict(declared)
    if isinstance(field, s.ListSerializer):
        return {"type": "array", "items": serializer_schema(field.child, mode=mode)}
    if isinstance(field, s.BaseSerializer):
        return serializer_schema(field, mode=mode)
    if isinstance(field, r.ManyRelatedField):
        return {"type": "array", "items": _base_schema(field.child_relation, mode)}
    if isinstance(field, r.PrimaryKeyRelatedField):
        return _pk_schema(field)
    if isinstance(field, r.SlugRelatedField):
        return {"type": "string"}
    if isinstance(field, (r.HyperlinkedRelatedField, f.URLField)):
        return {"type": "string", "format": "uri"}
    if isinstance(field, r.StringRelatedField):
        return {"type": "string"}
    if isinstance(field, r.RelatedField):
        return {}
    if isinstance(field, f.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, f.MultipleChoiceField):
        return {"type": "array", "items": {"enum": list(field.choices)}, "uniqueItems": True}
    if isinstance(field, f.ChoiceField):
        choices = list(field.choices)
        if getattr(field, "allow_blank", False) and "" not in choices:
            choices.append("")
        return {"enum": choices}
    if isinstance(field, f.IntegerField):
        schema = {"type": "integer"}
        if field.min_value is not None:
            schema["minimum"] = field.min_value
        if field.max_value is not None:
            schema["maximum"] = field.max_value
        return schema
    if isinstance(field, f.FloatField):
        return {"type": "number"}
    if isinstance(field, f.DecimalField):
        as_string = field.coerce_to_string if field.coerce_to_string is not None else True
        return {"type": "string", "format": "decimal"} if as_string and mode == "output" else {"type": ["number", "string"]}
    if isinstance(field, f.DateTimeField):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, f.DateField):
        return {"type": "string", "format": "date"}
    if isinstance(field, f.TimeField):
        return {"type": "string", "format": "time"}
    if isinstance(field, f.UUIDField):
        return {"type": "string", "format": "uuid"}
    if isinstance(field, f.IPAddressField):
        protocol = getattr(field, "protocol", "both")
        fmt = {"ipv4": "ipv4", "ipv6": "ipv6"}.get(protocol)
        return {"type": "string", **({"format": fmt} if fmt else {})}
    if isinstance(field, f.EmailField):
        return {"type": "string", "format": "email"}
    if isinstance(field, f.CharField):
        schema = {"type": "string"}
        if mode == "input":
            if field.max_length is not None:
                schema["maxLength"] = field.max_length
            if field.min_length is not None:
                schema["minLength"] = field.min_length
            elif not getattr(field, "allow_blank", False) and field.required:
                schema["minLength"] = 1
        return schema
    if isinstance(field, f.ListField):
        schema = {"type": "array", "items": field_schema(field.child, mode)}
        if mode == "input" and getattr(field, "max_length", None) is not None:
            schema["maxItems"] = field.max_length
        return schema
    if isinstance(field, f.DictField):
        return {"type": "object", "additionalProperties": field_schema(field.child, mode)}
    if isinstance(field, f.HStoreField):
        return {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
    return {}  # JSONField, SerializerMethodField, ReadOnlyField, custom fields: any value


def serializer_schema(serializer, *, mode: str = "input", partial: bool = False,
                      include=None, exclude=(), rename=None) -> dict:
    """JSON Schema of a serializer (class or instance).

    ``include``/``exclude`` pick fields; ``rename`` maps serializer field names to the names the
    schema shows (e.g. ``{"datacenter": "datacenter_id"}``).
    """
    if isinstance(serializer, type):
        serializer = serializer()
    rename = rename or {}
    properties, required = {}, []
    for name, field in serializer.fields.items():
        if isinstance(field, f.HiddenField):
            continue
        if include is not None and name not in include:
            continue
        if name in exclude:
            continue
        if mode == "input" and field.read_only:
            continue
        if mode == "output" and field.write_only:
            continue
        shown = rename.get(name, name)
        properties[shown] = field_schema(field, mode)
        if mode == "input" and field.required and not partial:
            required.append(shown)
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if mode == "input":
        schema["additionalProperties"] = False
    return schema


def with_error(output_schema: dict) -> dict:
    """An output schema that also accepts the ``{"error": {...}}`` shape of failed calls, so a
    client validating every result against outputSchema accepts errors too."""
    schema = {**output_schema, "properties": {**output_schema.get("properties", {}), "error": ERROR_SCHEMA}}
    required = schema.pop("required", None)
    if required:
        schema["anyOf"] = [{"required": required}, {"required": ["error"]}]
    return schema
