"""REST API under /api/: one router for every kind, search, OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from django.urls import NoReverseMatch
from rest_framework import routers
from rest_framework.reverse import reverse

from . import schema, views  # noqa: F401  (schema registers the bearer scheme)

app_name = "api"


class APIRootView(routers.APIRootView):
    """Every endpoint of the API: the kinds, then search, jobs, the MCP configuration and audit
    log, the MCP endpoint itself, the OpenAPI schema and its documentation pages."""

    others = {
        "search": "api:search",
        "jobs": "jobs:job-list",
        "jobs-scan": "jobs:scan",
        "jobs-command": "jobs:command",
        "jobs-provision": "jobs:provision",
        "jobs-discovered": "jobs:discovered-list",
        "mcp-config": "mcp:config",
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
router.register("tenants", views.TenantViewSet, basename="tenant")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("datacenters", views.DatacenterViewSet, basename="datacenter")
router.register("networks", views.NetworkViewSet, basename="network")
router.register("pools", views.IPPoolViewSet, basename="pool")
router.register("ip-addresses", views.IPAddressViewSet, basename="ipaddress")
router.register("devices", views.DeviceViewSet, basename="device")
router.register("relationships", views.DeviceRelationshipViewSet, basename="relationship")

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="search"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("", include(router.urls)),
]
