"""OpenAPI description of the bearer credential (API keys and OAuth access tokens)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
