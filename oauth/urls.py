"""OAuth 2.1 server URLs, included at the site root by inventory/urls.py.

Metadata lives at the root ``/.well-known/...`` (where MCP clients look); the endpoints
live under ``/oauth/``; the clients page is ``/oauth-clients/``.
"""

from django.urls import path

from oauth import views

urlpatterns = [
    path(".well-known/oauth-authorization-server", views.authorization_server_metadata,
         name="oauth-server-metadata"),
    path(".well-known/oauth-protected-resource", views.protected_resource_metadata,
         {"resource": "mcp"}, name="oauth-resource-metadata"),
    path(".well-known/oauth-protected-resource/mcp", views.protected_resource_metadata,
         {"resource": "mcp"}, name="oauth-resource-metadata-mcp"),
    path(".well-known/oauth-protected-resource/api", views.protected_resource_metadata,
         {"resource": "api"}, name="oauth-resource-metadata-api"),
    path("oauth/register/", views.register, name="oauth-register"),
    path("oauth/authorize/", views.ConsentView.as_view(), name="oauth-authorize"),
    path("oauth/token/", views.TokenView.as_view(), name="oauth-token"),
    path("oauth/revoke/", views.RevokeView.as_view(), name="oauth-revoke"),
    path("oauth/whoami", views.whoami, name="oauth-whoami"),
    path("oauth-clients/", views.client_list, name="oauth-clients"),
    path("oauth-clients/<int:pk>/revoke/", views.client_revoke, name="oauth-client-revoke"),
    path("oauth-clients/<int:pk>/delete/", views.client_delete, name="oauth-client-delete"),
]
