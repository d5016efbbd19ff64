"""The admin app config; kept free of model imports because it loads with INSTALLED_APPS."""

from django.contrib.admin.apps import AdminConfig


class InventoryAdminConfig(AdminConfig):
    default_site = "inventory.admin_site.InventoryAdminSite"
