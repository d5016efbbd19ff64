"""/api/mcp/...: client configuration and the MCP audit log (/mcp itself is ASGI-mounted)."""

from django.urls import path

from . import views

app_name = "mcp"

urlpatterns = [
    path("config", views.ConfigView.as_view(), name="config"),
    path("audit/logs", views.AuditLogView.as_view(), name="audit-logs"),
]
