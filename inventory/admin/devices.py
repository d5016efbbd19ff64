from django.contrib import admin
from django.utils.html import format_html_join

from inventory.models import Device, DeviceRelationship, IPAddress, Tag

from .base import TenantScopedAdmin, TenantScopedInline


class DeviceAddressInline(TenantScopedInline):
    model = IPAddress
    fk_name = "device"
    fields = ["address", "network", "status", "dns_name"]
    autocomplete_fields = ["network"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("network")


class ChildLinkInline(TenantScopedInline):
    model = DeviceRelationship
    fk_name = "parent"
    fields = ["type", "child"]
    autocomplete_fields = ["child"]
    verbose_name = "relationship (this device → other)"
    verbose_name_plural = "Relationships from this device"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("child")


class ParentLinkInline(TenantScopedInline):
    model = DeviceRelationship
    fk_name = "child"
    fields = ["parent", "type"]
    autocomplete_fields = ["parent"]
    verbose_name = "relationship (other → this device)"
    verbose_name_plural = "Relationships to this device"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("parent")


@admin.register(Device)
class DeviceAdmin(TenantScopedAdmin):
    list_display = ["name", "status", "tenant", "datacenter", "make_model", "os", "address_list", "tag_list"]
    list_filter = ["status", "tenant", "datacenter", "tags"]
    list_select_related = ["tenant", "datacenter"]
    search_fields = ["name", "description", "make_model", "os", "location", "search_text"]
    autocomplete_fields = ["tenant", "datacenter", "tags"]
    readonly_fields = ["created", "updated"]
    inlines = [DeviceAddressInline, ChildLinkInline, ParentLinkInline]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "status", "description"]}),
        ("Hardware and software", {"fields": ["make_model", "os", "facts"]}),
        ("Placement", {"fields": ["datacenter", "location"]}),
        ("Access and naming", {"fields": ["username", "domains", "tags"]}),
        ("Record", {"fields": ["created", "updated"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        # two prefetches per page, whatever the number of rows
        return super().get_queryset(request).prefetch_related("tags", "addresses")

    @admin.display(description="Addresses")
    def address_list(self, obj):
        return ", ".join(a.address for a in obj.addresses.all())

    @admin.display(description="Tags")
    def tag_list(self, obj):
        return format_html_join(" ", "<span class='tag'>{}</span>", ((t.name,) for t in obj.tags.all()))


@admin.register(Tag)
class TagAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["name"]
    autocomplete_fields = ["tenant"]


@admin.register(DeviceRelationship)
class DeviceRelationshipAdmin(TenantScopedAdmin):
    list_display = ["parent", "type", "child", "tenant"]
    list_filter = ["type", "tenant"]
    list_select_related = ["parent", "child", "tenant"]
    search_fields = ["parent__name", "child__name"]
    autocomplete_fields = ["parent", "child"]
    exclude = ["tenant"]
