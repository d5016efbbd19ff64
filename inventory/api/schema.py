"""OpenAPI description of the bearer credential (API keys and OAuth access tokens)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "oauth.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API key (inv_...) or an OAuth 2.1 access token bound to this API."}


#: the largest object id (PostgreSQL bigint); larger path ids are a 404, never a database error
MAX_ID = 2**63 - 1


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
