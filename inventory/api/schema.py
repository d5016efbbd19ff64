"""OpenAPI description of the bearer credential (API keys and OAuth access tokens)."""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension

from inventory.fields import MAX_ID

BULK_ACTIONS = ("bulk_update", "bulk_partial_update", "bulk_destroy")


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, plus the bulk operations of list endpoints: their own operation ids
    (``devices_bulk_update``), and a list of objects as the answer of bulk updates."""

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        action = getattr(self.view, "action", None)
        if action in BULK_ACTIONS:
            for suffix in ("_partial_update", "_update", "_destroy"):
                if operation_id.endswith(suffix):
                    return operation_id[: -len(suffix)] + "_" + action
        return operation_id

    def _get_paginator(self):
        if getattr(self.view, "action", None) in BULK_ACTIONS:  # a bulk answer is a plain list
            return None
        return super()._get_paginator()

    def get_response_serializers(self):
        if getattr(self.view, "action", None) in ("bulk_update", "bulk_partial_update"):
            return self.view.get_serializer_class()(many=True)
        return super().get_response_serializers()


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "oauth.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API key (inv_...) or an OAuth 2.1 access token bound to this API."}


#: the body of every 400 (inventory.api.exceptions.error_shape)
VALIDATION_ERROR = {
    "type": "object",
    "description": "Field name → list of messages; a nested object's errors are such an object, a list's "
                   "an object of the bad items' indexes. Messages about the request as a whole are under `non_field_errors`.",
    "properties": {"non_field_errors": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": {"anyOf": [{"type": "array", "items": {}}, {"type": "object"}]},
}


#: the body of every other refusal (DRF's ``{"detail": ...}``)
ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
#: status -> (description, the methods it may answer)
REFUSALS = {
    "401": ("No credential, or an invalid one.", ("get", "post", "put", "patch", "delete")),
    "403": ("The credential lacks a scope, or your role does not allow this.", ("get", "post", "put", "patch", "delete")),
    "404": ("An object the request names (in the path or a parameter) does not exist or is not visible to you.",
            ("get", "post", "put", "patch", "delete")),
    "409": ("The request conflicts with the current state (e.g. a duplicate, a full network, a finished job).",
            ("post", "put", "patch", "delete")),
    "503": ("A dependency (database, cache, job queue) is unavailable; retry after Retry-After seconds.",
            ("get", "post", "put", "patch", "delete")),
}


def optional_on_request_fields(result, generator, request, public):
    """drf-spectacular postprocessing hook: a field a list renders only when ``?fields=`` names it
    (a serializer's ``on_request_fields``, e.g. ``utilisation``) is not required in its answers."""
    from inventory.api.serializers.networks import ON_REQUEST

    for schema in result.get("components", {}).get("schemas", {}).values():
        if isinstance(schema, dict) and isinstance(schema.get("required"), list):
            schema["required"] = [name for name in schema["required"] if name not in ON_REQUEST]
            if not schema["required"]:
                del schema["required"]
    return result


def error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the one 400 shape as a component, referenced by every
    operation of the API that does not describe its 400 itself, and the refusals every operation
    may answer (401, 403, 404, 409 for writes, 503) with DRF's ``{"detail"}`` body."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ValidationError"] = VALIDATION_ERROR
    schemas["Error"] = ERROR
    ref = {"$ref": "#/components/schemas/ValidationError"}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete") and isinstance(operation, dict):
                responses = operation.setdefault("responses", {})
                responses.setdefault("400", {
                    "description": "Bad input: the fields (or non_field_errors) and their messages.",
                    "content": {"application/json": {"schema": ref}},
                })
                for code, (description, methods) in REFUSALS.items():
                    if method in methods:
                        responses.setdefault(code, {"description": description, "content": error})
    return result


class ReferenceScheme(OpenApiSerializerFieldExtension):
    """A foreign key of a kind's serializer: a nested reference ``{id, url, display, name}`` in
    responses; in requests an id, such an object, or ``{"name": ...}`` (tenants: ``{"slug": ...}``)."""

    target_class = "inventory.api.serializers.base.RestrictedRelatedField"

    def map_serializer_field(self, auto_schema, direction):
        from inventory.api.serializers.base import REFERENCES, InventorySerializer

        field = self.target
        model = field.model
        names = {f.name for f in model._meta.concrete_fields}
        label = model._meta.verbose_name
        nested = isinstance(field.parent, InventorySerializer) and model in REFERENCES
        if direction == "response" and nested:
            properties = {"id": {"type": "integer"}, "url": {"type": "string", "format": "uri"},
                          "display": {"type": "string"}}
            if "name" in names:
                properties["name"] = {"type": "string"}
            schema = {"type": "object", "properties": properties, "required": ["id", "url", "display"],
                      "description": f"The {label}: a reference (?fields={field.field_name}.name picks its parts)."}
        elif direction == "response":
            schema = {"type": "integer", "description": f"{label.capitalize()} id."}
        else:
            keys = {"id": {"type": "integer", "minimum": 1}, "name": {"type": "string", "minLength": 1}}
            if "slug" in names:
                keys["slug"] = {"type": "string", "minLength": 1}
            schema = {"oneOf": [{"type": "integer", "minimum": 1},
                                {"type": "object", "properties": keys, "minProperties": 1}],
                      "description": field.help_text or f"The {label}: its id, or an object with its id or name."}
        if field.allow_null:
            schema["nullable"] = True
        return schema


def bound_integer_parameters(result, generator, request, public):
    """drf-spectacular postprocessing hook: integer path parameters (object ids) declare their
    range; query parameters declare theirs where they are defined (a test checks every one)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else ():
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and schema.get("type") == "integer" and "maximum" not in schema:
                    schema.setdefault("minimum", 1)
                    schema["maximum"] = MAX_ID
    return result
