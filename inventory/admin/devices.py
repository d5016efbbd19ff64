from django.contrib import admin
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html_join

from inventory.models import Device, DeviceRelationship, IPAddress, Tag

from inventory.services import search

from .base import ExistsChangeList, ReadOnceMixin, TenantScopedAdmin, TenantScopedInline
from .bulk import bulk_edit
from .widgets import badge, key_value_table, linked, word_list


class DeviceRowsFormSet(BaseInlineFormSet):
    """The rows hold the page's device as their parent (or child): set from the formset's instance,
    not joined and read again with every row."""

    def get_queryset(self):
        rows = super().get_queryset()
        if self.instance is not None and self.instance.pk is not None and not getattr(self, "_device_set", False):
            self._device_set = True
            for row in rows:
                self.fk.set_cached_value(row, self.instance)
        return rows


class DeviceRows(TenantScopedInline):
    """One inline per relation of a device (its addresses, its relationships from and to it), in
    Django's own view-only-inline form: the rows it has are listed read-only with links (no select
    widget per row, so no query per row: the page costs the same with 2 or 200 rows) and can be
    deleted; "Add another ..." adds editable rows. Rows are changed on their own pages, so the
    inline's change permission is off; adding and deleting follow the right to change the device
    (:class:`TenantScopedInline`). One inline per relation, not a pair (listed rows + empty rows):
    each inline costs the page its formset, management form and templates even with no rows."""

    formset = DeviceRowsFormSet

    def has_change_permission(self, request, obj=None):
        return False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # new rows pick their network / device with the autocomplete alone, without the related
        # object's add/change/view links around it (RelatedFieldWidgetWrapper: a template and
        # four URLs per row kind; those objects have their own pages)
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and isinstance(field.widget, RelatedFieldWidgetWrapper):
            field.widget = field.widget.widget
        return field


class AddressFields:
    model = IPAddress
    fk_name = "device"
    fields = ["address", "network", "status", "dns_name"]
    autocomplete_fields = ["network"]
    verbose_name_plural = "IP addresses"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("network")


class ChildFields:
    model = DeviceRelationship
    fk_name = "parent"
    fields = ["type", "child"]
    ordering = ["type", "child__name", "pk"]  # the model's, less its parent's name: the same for all rows
    autocomplete_fields = ["child"]
    verbose_name = "relationship (this device → other)"
    verbose_name_plural = "Relationships from this device"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("child")  # the parent: the page's device


class ParentFields:
    model = DeviceRelationship
    fk_name = "child"
    fields = ["parent", "type"]
    ordering = ["parent__name", "type", "pk"]  # the model's, less its child's name: the same for all rows
    autocomplete_fields = ["parent"]
    verbose_name = "relationship (other → this device)"
    verbose_name_plural = "Relationships to this device"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("parent")  # the child: the page's device


class DeviceAddressInline(AddressFields, DeviceRows):
    pass


class ChildLinkInline(ChildFields, DeviceRows):
    pass


class ParentLinkInline(ParentFields, DeviceRows):
    pass


class DeviceChangeList(ExistsChangeList):
    """Tag lookups narrow with EXISTS (:class:`ExistsChangeList`). The page's tag names and
    addresses, two plain reads for all its rows (``values_list``: no
    model instances, where ``prefetch_related`` built one per tag and per address and matched them
    back to the devices in Python, the larger part of the page's cost)."""

    def get_results(self, request):
        super().get_results(request)
        devices = self.result_list = list(self.result_list)
        ids = [d.pk for d in devices]
        tags, addresses = {}, {}
        for device_id, name in (Device.tags.through.objects.filter(device_id__in=ids)
                                .order_by("tag__name").values_list("device_id", "tag__name")):
            tags.setdefault(device_id, []).append(name)
        for device_id, address in (IPAddress.objects.filter(device_id__in=ids)
                                   .order_by("address_key").values_list("device_id", "address")):
            addresses.setdefault(device_id, []).append(address)
        for device in devices:
            device._page_tags, device._page_addresses = tags.get(device.pk, []), addresses.get(device.pk, [])


@admin.register(Device)
class DeviceAdmin(ReadOnceMixin, TenantScopedAdmin):
    list_display = ["name", "status_badge", "tenant_link", "datacenter_link", "make_model", "os", "address_list",
                    "tag_list"]
    list_filter = ["status", "tenant", "datacenter", "tags"]
    list_select_related = ["tenant", "datacenter"]
    search_fields = ["name", "description", "make_model", "os", "location", "search_text"]
    autocomplete_fields = ["tenant", "datacenter", "rack", "tags"]
    actions = [bulk_edit]  # inventory/admin/bulk.py
    bulk_edit_fields = ["status", "datacenter", "rack", "tags"]
    readonly_fields = ["created", "updated", "domain_list", "fact_table"]
    inlines = [DeviceAddressInline, ChildLinkInline, ParentLinkInline]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "status", "description"]}),
        ("Hardware and software", {"fields": ["make_model", "os", "fact_table", "facts"]}),
        ("Placement", {"fields": ["datacenter", "rack", "rack_position", "location"]}),
        ("Access and naming", {"fields": ["username", "domain_list", "domains", "tags"]}),
        ("Record", {"fields": ["created", "updated"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "inventory_device_change":
            qs = qs.select_related("tenant")  # the read-only tenant is shown without its own query
        return qs

    def get_changelist(self, request, **kwargs):
        return DeviceChangeList  # two reads per page for tags and addresses, whatever the rows

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from .pictures import DEFAULT_HOPS, device_graph

        extra = dict(extra_context or {})
        if request.method == "GET":
            device = self.get_object(request, object_id)  # 404 for another tenant's device
            try:
                hops = int(request.GET.get("graph_hops") or DEFAULT_HOPS)
            except ValueError:
                hops = DEFAULT_HOPS
            extra["device_graph"] = device_graph(request, device, hops)
        return super().change_view(request, object_id, form_url, extra)

    # the matching and indexes of /api/search/ (words, tags, domains; IP- and CIDR-aware)
    search_filter = search.filter_devices

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    tenant_link = linked("tenant")

    datacenter_link = linked("datacenter")

    @admin.display(description="Domains (as listed)")
    def domain_list(self, obj):
        return word_list(obj.domains)

    @admin.display(description="Facts (as a table)")
    def fact_table(self, obj):
        return key_value_table(obj.facts)

    @admin.display(description="Addresses")
    def address_list(self, obj):
        return ", ".join(obj._page_addresses)

    @admin.display(description="Tags")
    def tag_list(self, obj):
        return format_html_join(" ", "<span class='tag'>{}</span>", ((name,) for name in obj._page_tags))


@admin.register(Tag)
class TagAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant_link"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["name"]
    autocomplete_fields = ["tenant"]

    tenant_link = linked("tenant")


@admin.register(DeviceRelationship)
class DeviceRelationshipAdmin(TenantScopedAdmin):
    list_display = ["parent_link", "type", "child_link", "tenant_link"]
    list_filter = ["type", "tenant"]
    list_select_related = ["parent", "child", "tenant"]
    search_fields = ["parent__name", "child__name"]
    autocomplete_fields = ["parent", "child"]
    exclude = ["tenant"]

    parent_link = linked("parent")

    child_link = linked("child")

    tenant_link = linked("tenant")
