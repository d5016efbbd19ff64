from django.contrib import admin

from .base import TenantScopedAdmin


class RackAdmin(TenantScopedAdmin):
    """Registered from its kind declaration (inventory/kinds.py)."""

    list_display = ["name", "datacenter", "height_u", "tenant"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter), ("datacenter", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant", "datacenter"]
    search_fields = ["name", "description", "datacenter__name"]
    autocomplete_fields = ["datacenter"]
    exclude = ["tenant"]
