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


def error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the one 400 shape as a component, referenced by every
    operation of the API that does not describe its 400 itself."""
    result.setdefault("components", {}).setdefault("schemas", {})["ValidationError"] = VALIDATION_ERROR
    ref = {"$ref": "#/components/schemas/ValidationError"}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete") and isinstance(operation, dict):
                operation.setdefault("responses", {}).setdefault("400", {
                    "description": "Bad input: the fields (or non_field_errors) and their messages.",
                    "content": {"application/json": {"schema": ref}},
                })
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
