from django.contrib import admin
from django.db.models import Count

from inventory.models import Datacenter

from .base import TenantScopedAdmin


@admin.register(Datacenter)
class DatacenterAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "location", "device_count", "network_count"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["name", "location", "description"]
    autocomplete_fields = ["tenant"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _devices=Count("devices", distinct=True), _networks=Count("networks", distinct=True)
        )

    @admin.display(description="Devices", ordering="_devices")
    def device_count(self, obj):
        return obj._devices

    @admin.display(description="Networks", ordering="_networks")
    def network_count(self, obj):
        return obj._networks
