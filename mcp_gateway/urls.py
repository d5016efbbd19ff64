"""/api/mcp/...: client configuration, the MCP audit log, the tool catalog (built-in and custom tools)
and tool-group policies (/mcp itself is ASGI-mounted)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api, views
from .custom import api as tools_api

router = SimpleRouter()
router.register("confirmation-policies", api.ConfirmationPolicyViewSet, basename="confirmationpolicy")

app_name = "mcp"

urlpatterns = [
    path("config", views.ConfigView.as_view(), name="config"),
    path("audit/logs", views.AuditLogView.as_view(), name="audit-logs"),
    path("tools/", tools_api.ToolsView.as_view(), name="tools"),
    path("tools", tools_api.ToolsView.as_view()),  # as in Portoser's `curl …/api/mcp/tools`
    path("tools/<str:key>/", tools_api.ToolView.as_view(), name="tool"),
    path("tools/<str:key>/test/", tools_api.ToolTestView.as_view(), name="tool-test"),
    path("tool-groups/", tools_api.ToolGroupsView.as_view(), name="tool-groups"),
    path("tool-groups/<int:pk>/", tools_api.ToolGroupView.as_view(), name="tool-group"),
    *router.urls,
]
