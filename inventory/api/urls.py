"""REST API under /api/: one router for every kind, search, OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from django.urls import NoReverseMatch
from rest_framework import routers
from rest_framework.reverse import reverse

from inventory import kinds

from . import schema, views  # noqa: F401  (schema registers the bearer scheme)

app_name = "api"


class APIRootView(routers.APIRootView):
    """Every endpoint group of the API: the kinds, then search, jobs, WireGuard meshes, roles,
    variables and secrets, blueprints, the MCP configuration, tools, tool groups and audit log,
    the MCP endpoint itself, the OpenAPI schema and its documentation pages."""

    others = {
        "search": "api:search",
        "jobs": "jobs:job-list",
        "jobs-scan": "jobs:scan",
        "jobs-command": "jobs:command",
        "jobs-provision": "jobs:provision",
        "jobs-discovered": "jobs:discovered-list",
        "mesh-meshes": "mesh:mesh-list",
        "mesh-peers": "mesh:peer-list",
        "roles": "configuration:role-list",
        "roles-import": "configuration:role-import",
        "variables": "configuration:variable-list",
        "secrets": "configuration:secret-list",
        "blueprints": "blueprints:blueprint-list",
        "blueprints-use": "blueprints:blueprint-use",
        "blueprint-runs": "blueprints:run-list",
        "mcp-config": "mcp:config",
        "mcp-tools": "mcp:tools",
        "mcp-tool-groups": "mcp:tool-groups",
        "mcp-audit-logs": "mcp:audit-logs",
        "schema": "api:schema",
        "docs": "api:docs",
        "redoc": "api:redoc",
    }

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        for key, name in self.others.items():
            try:
                response.data[key] = reverse(name, request=request, format=kwargs.get("format"))
            except NoReverseMatch:  # pragma: no cover - a surface not installed
                continue
        response.data["mcp"] = request.build_absolute_uri("/mcp")
        return response


class Router(routers.DefaultRouter):
    """DRF's router; the list endpoint also takes PUT/PATCH/DELETE with a list (bulk operations)."""

    APIRootView = APIRootView
    routes = [
        routers.DefaultRouter.routes[0]._replace(mapping={
            **routers.DefaultRouter.routes[0].mapping,
            "put": "bulk_update", "patch": "bulk_partial_update", "delete": "bulk_destroy"}),
        *routers.DefaultRouter.routes[1:],
    ]


router = Router()
for kind in kinds.all_kinds():  # one route per kind that declares one (inventory/kinds.py)
    if kind.route:
        router.register(kind.route, kind.get_viewset(), basename=kind.url_basename)

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="search"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("", include(router.urls)),
]
