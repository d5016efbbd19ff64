"""URL map. Each surface keeps its own urls module:
- inventory.api.urls      REST API, OpenAPI schema and docs (/api/...)
- inventory.jobs.urls     jobs REST endpoints (/api/jobs/...)
- inventory.configuration.urls  roles, variables, secrets (/api/roles/, /api/devices/{id}/roles/, ...)
- inventory.mesh.urls     WireGuard meshes and peers (/api/mesh/...)
- inventory.blueprints.urls  blueprints and their runs (/api/blueprints/, /api/blueprint-runs/)
- mcp_gateway.urls        MCP config and audit endpoints (/api/mcp/...); /mcp itself is ASGI-mounted
- oauth.urls              OAuth 2.1 server, /.well-known metadata, OAuth clients page
"""

from django.contrib import admin
from django.urls import include, path

from inventory.health import healthz, readyz

handler500 = "inventory.outages.server_error"  # outages (database, cache, broker) answer 503

urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    path("admin/", admin.site.urls),
    path("api/jobs/", include("inventory.jobs.urls")),
    path("api/mesh/", include("inventory.mesh.urls")),
    path("api/mcp/", include("mcp_gateway.urls")),
    path("api/", include("inventory.blueprints.urls")),  # /api/blueprints/, /api/blueprint-runs/
    path("api/", include("inventory.configuration.urls")),  # roles, variables, secrets, device roles
    path("api/", include("inventory.api.urls")),
    path("", include("oauth.urls")),
]
