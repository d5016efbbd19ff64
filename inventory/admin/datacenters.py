from django.contrib import admin

from inventory.models import Datacenter, Device, Network
from inventory.services import search
from inventory.utilisation import count_of

from .base import ReadOnceMixin, TenantScopedAdmin
from .widgets import linked


@admin.register(Datacenter)
class DatacenterAdmin(ReadOnceMixin, TenantScopedAdmin):
    list_display = ["name", "tenant_link", "location", "device_count", "network_count"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["name", "location", "description"]
    autocomplete_fields = ["tenant"]

    tenant_link = linked("tenant")

    def get_queryset(self, request):
        # one correlated COUNT per listed row (not a GROUP BY join over every device)
        return super().get_queryset(request).annotate(
            _devices=count_of(Device, "datacenter"), _networks=count_of(Network, "datacenter"))

    # the matching and indexes of /api/search/ (words, tags, domains; IP- and CIDR-aware)
    search_filter = search.filter_datacenters

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from .pictures import datacenter_overview

        extra = dict(extra_context or {})
        if request.method == "GET":
            datacenter = self.get_object(request, object_id)  # 404 for another tenant's datacenter
            extra["datacenter_overview"] = datacenter_overview(request, datacenter)
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="Devices", ordering="_devices")
    def device_count(self, obj):
        return obj._devices

    @admin.display(description="Networks", ordering="_networks")
    def network_count(self, obj):
        return obj._networks
