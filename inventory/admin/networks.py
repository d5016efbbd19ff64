from django.contrib import admin
from django.db.models import Count

from inventory.models import IPAddress, IPPool, Network

from .base import TenantScopedAdmin, TenantScopedInline


class PoolInline(TenantScopedInline):
    model = IPPool
    fields = ["name", "start_address", "end_address", "description"]


class NetworkAddressInline(TenantScopedInline):
    model = IPAddress
    fk_name = "network"
    fields = ["address", "status", "device", "dns_name", "pool"]
    readonly_fields = ["pool"]
    autocomplete_fields = ["device"]
    max_num = 500
    verbose_name_plural = "IP addresses (first 500; use the IP address list for more)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device", "pool")


@admin.register(Network)
class NetworkAdmin(TenantScopedAdmin):
    list_display = ["name", "subnet", "vlan_id", "datacenter", "tenant", "address_count"]
    list_filter = ["tenant", "family", "datacenter"]
    list_select_related = ["tenant", "datacenter"]
    search_fields = ["name", "subnet", "description"]
    autocomplete_fields = ["tenant", "datacenter"]
    inlines = [PoolInline, NetworkAddressInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_addresses=Count("addresses"))

    @admin.display(description="Addresses", ordering="_addresses")
    def address_count(self, obj):
        return obj._addresses


@admin.register(IPPool)
class IPPoolAdmin(TenantScopedAdmin):
    list_display = ["name", "network", "start_address", "end_address", "tenant"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "network"]
    search_fields = ["name", "description", "network__name"]
    autocomplete_fields = ["network"]
    exclude = ["tenant"]


@admin.register(IPAddress)
class IPAddressAdmin(TenantScopedAdmin):
    list_display = ["address", "status", "network", "pool", "device", "dns_name", "tenant"]
    list_filter = ["status", "tenant"]
    list_select_related = ["tenant", "network", "pool", "device"]
    search_fields = ["address", "dns_name", "description", "device__name"]
    autocomplete_fields = ["network", "pool", "device"]
    exclude = ["tenant"]
