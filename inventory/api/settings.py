"""REST framework and OpenAPI settings (imported by inventory.settings)."""

from importlib.util import find_spec
from pathlib import Path

import drf_spectacular_sidecar

# Bearer credentials (API keys, OAuth tokens) come first: DRF takes the 401 challenge
# (``WWW-Authenticate: Bearer``) from the first class. Until oauth.authentication exists,
# a stand-in class that authenticates nobody provides the challenge.
_BEARER = (
    "oauth.authentication.BearerAuthentication"
    if find_spec("oauth.authentication") is not None
    else "inventory.api.authentication.BearerChallenge"
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        _BEARER,
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["inventory.api.permissions.TenancyPermission"],
    "DEFAULT_PARSER_CLASSES": [
        "inventory.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "inventory.api.filtersets.StrictFilterBackend",
        "inventory.api.filtersets.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "inventory.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "inventory.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "inventory.api.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# A JSON body larger than this is refused with 413 (DRF's parser would read any size).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

SPECTACULAR_SETTINGS = {
    "TITLE": "Infrastructure inventory API",
    "DESCRIPTION": (
        "Multi-tenant inventory of datacenters, networks, IP pools and addresses, and devices. "
        "Authenticate with a session (browsable API) or `Authorization: Bearer <API key or OAuth token>`. "
        "Every list and detail takes `?brief=1` (id, name, display, url) and `?fields=a,b`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "inventory.api.schema.bound_integer_parameters",
        "inventory.api.schema.error_responses",
        "inventory.api.schema.optional_on_request_fields",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this server, never from the internet
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "DeviceStatusEnum": "inventory.models.devices.DeviceStatus",
        "AddressStatusEnum": "inventory.models.addresses.AddressStatus",
        "RoleEnum": "inventory.tenancy.Role",
        "JobStatusEnum": "inventory.jobs.models.JobStatus",
        "JobKindEnum": "inventory.jobs.models.JobKind",
        "McpCallOutcomeEnum": "mcp_gateway.models.Outcome",
    },
}

# Swagger UI / Redoc assets from drf-spectacular-sidecar without it being an installed app.
STATICFILES_DIRS = [Path(drf_spectacular_sidecar.__file__).resolve().parent / "static"]
