"""/api/mcp/...: client configuration and the MCP audit log (/mcp itself is ASGI-mounted)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api, views

router = SimpleRouter()
router.register("confirmation-policies", api.ConfirmationPolicyViewSet, basename="confirmationpolicy")

app_name = "mcp"

urlpatterns = [
    path("config", views.ConfigView.as_view(), name="config"),
    path("audit/logs", views.AuditLogView.as_view(), name="audit-logs"),
    *router.urls,
]
