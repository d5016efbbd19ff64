"""URL map. Each surface keeps its own urls module:
- inventory.api.urls      REST API, OpenAPI schema and docs (/api/...)
- inventory.jobs.urls     jobs REST endpoints (/api/jobs/...)
- inventory.mesh.urls     WireGuard meshes and peers (/api/mesh/...)
- mcp_gateway.urls        MCP config and audit endpoints (/api/mcp/...); /mcp itself is ASGI-mounted
- oauth.urls              OAuth 2.1 server, /.well-known metadata, OAuth clients page
"""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz),
    path("admin/", admin.site.urls),
    path("api/jobs/", include("inventory.jobs.urls")),
    path("api/mesh/", include("inventory.mesh.urls")),
    path("api/mcp/", include("mcp_gateway.urls")),
    path("api/", include("inventory.api.urls")),
    path("", include("oauth.urls")),
]
