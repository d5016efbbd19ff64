import contextvars

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html, format_html_join

from inventory import ipam, utilisation
from inventory.models import IPAddress, IPPool, Network
from inventory.services import search

from .bulk import bulk_edit
from .base import TenantScopedAdmin, TenantScopedInline
from .widgets import badge, change_url, link, linked, utilisation_bar

#: addresses shown per page on a network's page (the rest: the paginated address list)
ADDRESSES_PER_PAGE = 50


def _stock(queryset):
    """The stock path (``cached_counts`` off): every row's count in the query itself."""
    return queryset if utilisation.cached() else utilisation.with_used(queryset)


class PoolFormSet(BaseInlineFormSet):
    """The pools of a network's page, their address counts set in one go (``utilisation.load_into``:
    the shared cache, or one query) rather than a COUNT per pool."""

    def get_queryset(self):
        return utilisation.load_into(super().get_queryset())


class PoolInline(TenantScopedInline):
    model = IPPool
    formset = PoolFormSet
    fields = ["name", "start_address", "end_address", "description", "usage"]
    readonly_fields = ["usage"]

    def get_queryset(self, request):
        return _stock(super().get_queryset(request))

    @admin.display(description="Utilisation")
    def usage(self, obj):
        return utilisation_bar(utilisation.of(obj)) if obj.pk else "-"


class UtilisationChangeList(ChangeList):
    """A list of networks or pools: the page's address counts from the shared cache, set on its
    rows once they are read (``utilisation.load_into``); sorted by "used", the counts are in the query
    (a COUNT per row: the database must know them all to sort)."""

    def get_queryset(self, request, exclude_parameters=None):
        if "_used" not in self.root_queryset.query.annotations and self.sorted_by_used():
            self.root_queryset = utilisation.with_used(self.root_queryset)
        return super().get_queryset(request, exclude_parameters)

    def sorted_by_used(self) -> bool:
        """Does ``?o=`` (column numbers, as Django's get_ordering reads them) sort by "used"?"""
        for part in str(self.params.get(ORDER_VAR) or "").split("."):
            try:
                field_name = self.list_display[int(part.rpartition("-")[2])]
            except (IndexError, ValueError):
                continue
            if str(self.get_ordering_field(field_name) or "").lstrip("-") == "_used":
                return True
        return False

    def get_results(self, request):
        super().get_results(request)
        utilisation.load_into(self.result_list)


class UtilisationColumns:
    """Size, used, free and a bar. The counts: see UtilisationChangeList (stock path: one
    correlated COUNT per listed row)."""

    def get_queryset(self, request):
        return _stock(super().get_queryset(request))

    def get_changelist(self, request, **kwargs):
        return UtilisationChangeList

    @admin.display(description="Size")
    def size(self, obj):
        return utilisation.of(obj).size

    @admin.display(description="Used", ordering="_used")
    def used(self, obj):
        return utilisation.of(obj).used

    @admin.display(description="Free")
    def free(self, obj):
        return utilisation.of(obj).free

    @admin.display(description="Utilisation")
    def usage(self, obj):
        return utilisation_bar(utilisation.of(obj))


#: the request whose change page is rendering (address_page has only the object)
_CHANGE_REQUEST: contextvars.ContextVar = contextvars.ContextVar("network_change_request", default=None)


@admin.register(Network)
class NetworkAdmin(UtilisationColumns, TenantScopedAdmin):
    list_display = ["name", "subnet", "vlan_id", "datacenter_link", "tenant_link", "size", "used", "free", "usage"]
    list_filter = ["tenant", "family", "datacenter"]
    list_select_related = ["tenant", "datacenter"]
    search_fields = ["name", "subnet", "description"]
    autocomplete_fields = ["tenant", "datacenter"]
    readonly_fields = ["usage_summary", "address_page"]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "subnet", "vlan_id", "datacenter", "description"]}),
        ("Utilisation", {"fields": ["usage_summary"]}),
        ("Addresses", {"fields": ["address_page"]}),
    ]
    # addresses are not inlined wholesale (a /16 holds 65,534): a page of them, and a link
    inlines = [PoolInline]

    tenant_link = linked("tenant")
    datacenter_link = linked("datacenter")

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj else self.fieldsets[:1]

    # the matching and indexes of /api/search/ (words, tags, domains; IP- and CIDR-aware)
    search_filter = search.filter_networks

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # address_page reads the caller and ?addresses=N: per request, not on this shared instance
        token = _CHANGE_REQUEST.set(request)
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):  # a TemplateResponse renders later: render it while set
                response.render()
            return response
        finally:
            _CHANGE_REQUEST.reset(token)

    @admin.display(description="Utilisation")
    def usage_summary(self, obj):
        u = utilisation.of(utilisation.load_into([obj])[0])
        return format_html("{} <p>{} usable addresses, {} recorded, {} free; {} pool(s).</p>",
                           utilisation_bar(u), u.size, u.used, u.free, obj.pools.count())

    @admin.display(description="Addresses")
    def address_page(self, obj):
        from django.core.paginator import Paginator
        from django.urls import reverse

        request = _CHANGE_REQUEST.get()
        number = request.GET.get("addresses", 1) if request else 1
        # the columns shown (a device's facts are JSON: not decoded for a name)
        rows = (IPAddress.objects.restrict(request, "view") if request else IPAddress.objects.none()).filter(
            network=obj).select_related("device", "pool").only(
            "tenant_id", "network_id", "address", "status", "dns_name", "device__name", "pool__name",
        ).order_by("address_key")
        paginator = Paginator(rows, ADDRESSES_PER_PAGE)
        if request is not None:
            # whoever sees the network sees all its addresses (an address is in its network's
            # tenant, a model rule): their number is the network's count, not a COUNT again
            paginator.count = utilisation.of(utilisation.load_into([obj])[0]).used
        page = paginator.get_page(number)
        listing = reverse("admin:inventory_ipaddress_changelist") + f"?network__id__exact={obj.pk}"
        body = format_html(
            "<table><thead><tr><th>Address</th><th>Status</th><th>Device</th><th>DNS name</th><th>Pool</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>', (
                (change_url(a), a.address, badge(a.status, a.get_status_display()), link(a.device),
                 a.dns_name or "-", a.pool.name if a.pool_id else "-")
                for a in page.object_list)))
        nav = format_html(
            '<p class="paginator">Page {} of {} ({} addresses). {}{} <a href="{}">Open the address list</a></p>',
            page.number, page.paginator.num_pages, page.paginator.count,
            format_html('<a href="?addresses={}">‹ previous</a> ', page.previous_page_number()) if page.has_previous() else "",
            format_html('<a href="?addresses={}">next ›</a> ', page.next_page_number()) if page.has_next() else "",
            listing)
        return format_html("{}{}", body, nav)


@admin.register(IPPool)
class IPPoolAdmin(UtilisationColumns, TenantScopedAdmin):
    list_display = ["name", "network_link", "start_address", "end_address", "tenant_link", "size", "used", "free",
                    "usage"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "network"]
    search_fields = ["name", "description", "network__name"]
    autocomplete_fields = ["network"]
    exclude = ["tenant"]
    readonly_fields = ["usage"]

    tenant_link = linked("tenant")
    network_link = linked("network")


class AddressChangeList(ChangeList):
    """The address list reads the related rows without the columns no column shows (a device's
    JSON facts and domains, its search text, descriptions): 50 rows, four relations each."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(
            "device__facts", "device__domains", "device__search_text", "device__description",
            "network__description", "pool__description", "tenant__description")


@admin.register(IPAddress)
class IPAddressAdmin(TenantScopedAdmin):
    list_display = ["address", "status_badge", "network_link", "pool_link", "device_link", "dns_name", "tenant_link"]
    list_filter = ["status", "tenant", "network"]
    list_select_related = ["tenant", "network", "pool", "device"]
    search_fields = ["address", "dns_name", "description", "device__name"]
    autocomplete_fields = ["network", "pool", "device"]
    actions = [bulk_edit]  # inventory/admin/bulk.py
    bulk_edit_fields = ["status"]
    exclude = ["tenant"]

    tenant_link = linked("tenant")
    network_link = linked("network")
    pool_link = linked("pool")
    device_link = linked("device")

    def get_changelist(self, request, **kwargs):
        return AddressChangeList

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    def get_search_results(self, request, queryset, search_term):
        # an address (or CIDR) is looked up by its sortable key, exactly, not as a substring
        term = search_term.strip()
        try:
            address = ipam.parse_address(term)
        except ValueError:
            address = None
        if address is not None:
            return _restricted_all(self, request, queryset).filter(address_key=ipam.key(address)), False
        if "/" in term:
            try:
                net = ipam.parse_network(term)
            except ValueError:
                net = None
            if net is not None:
                lo, hi = ipam.key(int(net.network_address)), ipam.key(int(net.broadcast_address))
                return _restricted_all(self, request, queryset).filter(address_key__gte=lo, address_key__lte=hi), False
        return super().get_search_results(request, queryset, search_term)


def _restricted_all(model_admin, request, queryset):
    return TenantScopedAdmin.get_search_results(model_admin, request, queryset, "")[0]
