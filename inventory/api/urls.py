"""REST API under /api/: one router for every kind, search, OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import schema, views  # noqa: F401  (schema registers the bearer scheme)

app_name = "api"

router = DefaultRouter()
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
