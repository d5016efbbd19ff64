"""Configuration REST endpoints, included under /api/ before the main router."""

from django.urls import path

from . import views

app_name = "configuration"

urlpatterns = [
    path("roles/", views.RoleListView.as_view(), name="role-list"),
    path("roles/import/", views.RoleImportView.as_view(), name="role-import"),
    path("roles/<int:pk>/", views.RoleDetailView.as_view(), name="role-detail"),
    path("roles/<int:pk>/test/", views.RoleTestView.as_view(), name="role-test"),
    path("roles/<int:pk>/export/", views.RoleExportView.as_view(), name="role-export"),
    path("variables/", views.VariableListView.as_view(), name="variable-list"),
    path("variables/<int:pk>/", views.VariableDetailView.as_view(), name="variable-detail"),
    path("secrets/", views.SecretListView.as_view(), name="secret-list"),
    path("secrets/<int:pk>/", views.SecretDetailView.as_view(), name="secret-detail"),
    path("devices/<int:device_id>/roles/", views.DeviceRolesView.as_view(), name="device-roles"),
    path("devices/<int:device_id>/roles/<int:role_id>/", views.DeviceRoleDetailView.as_view(),
         name="device-role-detail"),
    path("devices/<int:device_id>/variables/", views.DeviceVariablesView.as_view(), name="device-variables"),
]
