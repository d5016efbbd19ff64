"""django-filter filtersets, and a filter backend that refuses unknown query parameters."""

import django_filters as filters
from django import forms
from django.db.models import Q
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import OrderingFilter
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from inventory.models import (
    AddressStatus, Datacenter, Device, DeviceRelationship, DeviceStatus, IPAddress, IPPool, Membership,
    Network, Rack, RelationshipType, Tenant,
)
from inventory.fields import MAX_ID
from inventory.services import search as search_service
from inventory.tenancy import Action, Principal, Role

#: parameters every list/detail accepts besides its filters
COMMON_PARAMS = {"brief", "fields", "format", "limit", "offset", "ordering"}


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """An object id: a positive 64-bit integer, so a huge or fractional value is a 400, not a
    database overflow."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 4094})
class VlanFilter(IdFilter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_value", 4094)
        super().__init__(*args, **kwargs)


class QFilter(filters.CharFilter):
    def __init__(self, func, **kwargs):
        self.func = func
        kwargs.setdefault("help_text", "Search words (all must match), an IP address or a CIDR.")
        super().__init__(max_length=200, **kwargs)

    def filter(self, qs, value):
        return self.func(qs, value) if value and value.strip() else qs


class ValuesField(forms.Field):
    """A query parameter that may be repeated (``?x=a&x=b``): the list of its non-empty values."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, null_value=None, choices=None, **kwargs):
        super().__init__(**kwargs)

    def clean(self, value):
        if value is None:
            value = []
        elif isinstance(value, (str, int)):
            value = [value]
        values = [str(v).strip() for v in value if str(v).strip()]
        for v in values:
            if len(v) > 200:
                raise forms.ValidationError("Each value is at most 200 characters.")
        return values


class RefFilter(filters.MultipleChoiceFilter):
    """A foreign key in a query, NetBox's two spellings: ``<fk>_id=<id>`` (``ids_only``) or
    ``<fk>=<slug, name or id>``. Repeat it for any of several (OR); ``null`` matches "none"
    on a nullable key. A value naming nothing the caller may view is a 400 naming it, the
    same answer whether it exists in another tenant or nowhere (as for ids in request bodies).
    """

    field_class = ValuesField

    def __init__(self, model, *, field_name, lookups=("name",), ids_only=False, nullable=False, either=(), **kwargs):
        self.target, self.lookups, self.ids_only, self.nullable = model, lookups, ids_only, nullable
        self.columns = tuple(either) or (field_name,)  # several: matches on any of them
        label = model._meta.verbose_name
        if "help_text" not in kwargs:
            if ids_only:
                kwargs["help_text"] = f"{label.capitalize()} id; repeat for any of several."
            else:
                names = " or ".join(lookups)
                kwargs["help_text"] = f"{label.capitalize()} {names} (or id); repeat for any of several."
            if nullable:
                kwargs["help_text"] += " `null`: none."
        super().__init__(field_name=field_name, distinct=False, **kwargs)
        # the OpenAPI parameter (drf-spectacular): an array of ids or strings, repeated (explode)
        self._spectacular_annotation = {"field": {"type": "integer" if ids_only else "string",
                                                  "description": kwargs["help_text"]}}

    def principal(self):
        parent = getattr(self, "parent", None)
        principal = getattr(parent, "principal", None)
        return principal if principal is not None else Principal.of(getattr(parent, "request", None))

    def resolve(self, values) -> tuple[set[int], bool]:
        """The visible ids the values name, and whether ``null`` was among them (400 otherwise)."""
        ids, names, null = set(), [], False
        for value in values:
            if value.lower() == "null" and self.nullable:
                null = True
            elif value.isascii() and value.isdigit():
                if not 1 <= int(value) <= 2**63 - 1:
                    raise ValidationError({self.field_name_in_query: [f"{value} is not a valid id."]})
                ids.add(int(value))
            elif self.ids_only:
                raise ValidationError({self.field_name_in_query: [f"Expected an integer id, got {value!r}."]})
            else:
                names.append(value)
        visible = self.target.objects.restrict(self.principal(), Action.VIEW)
        found = set()
        if ids:
            found |= set(visible.filter(pk__in=ids).values_list("pk", flat=True))
            missing = sorted(ids - found)
            if missing:
                raise ValidationError({self.field_name_in_query: [
                    f"No {self.target._meta.verbose_name} with id {', '.join(map(str, missing))} "
                    "exists (or it is not visible to you)."]})
        for name in names:
            condition = Q()
            for lookup in self.lookups:
                condition |= Q(**{lookup: name})
            matched = set(visible.filter(condition).values_list("pk", flat=True))
            if not matched:
                raise ValidationError({self.field_name_in_query: [
                    f"No {self.target._meta.verbose_name} with {' or '.join(self.lookups)} {name!r} "
                    "exists (or it is not visible to you)."]})
            found |= matched
        return found, null

    @property
    def field_name_in_query(self) -> str:
        for name, candidate in getattr(getattr(self, "parent", None), "filters", {}).items():
            if candidate is self:
                return name
        return self.field_name

    def filter(self, qs, value):
        if not value:
            return qs
        ids, null = self.resolve(value)
        condition = Q(pk__in=[])
        for column in self.columns:
            if ids:
                condition |= Q(**{f"{column}__in": ids})
            if null:
                condition |= Q(**{f"{column}__isnull": True})
        return qs.filter(condition)


def ref_filters(name: str, model, *, lookups=("name",), nullable=False, **kwargs) -> tuple[RefFilter, RefFilter]:
    """The two filters of one foreign key ``name``: ``<name>_id`` (ids) and ``<name>`` (names or ids)."""
    kwargs.setdefault("field_name", f"{name}_id")
    return (RefFilter(model, ids_only=True, nullable=nullable, **kwargs),
            RefFilter(model, lookups=lookups, nullable=nullable, **kwargs))


class TenantFilterSet(filters.FilterSet):
    tenant_id, tenant = ref_filters("tenant", Tenant, lookups=("slug", "name"))


class TenantsFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    slug = filters.CharFilter()

    class Meta:
        model = Tenant
        fields = ["name", "slug"]


class MembershipFilter(TenantFilterSet):
    user = filters.CharFilter(field_name="user__username", help_text="Username.")
    role = filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["tenant_id", "tenant", "user", "role"]


class DatacenterFilter(TenantFilterSet):
    q = QFilter(search_service.filter_datacenters)
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Datacenter
        fields = ["tenant_id", "tenant", "name", "q"]


class RackFilter(TenantFilterSet):
    q = QFilter(search_service.filter_racks)
    datacenter_id = IdFilter()
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Rack
        fields = ["tenant", "datacenter_id", "name", "q"]


class NetworkFilter(TenantFilterSet):
    q = QFilter(search_service.filter_networks)
    datacenter_id, datacenter = ref_filters("datacenter", Datacenter, nullable=True)
    family = filters.ChoiceFilter(choices=[(4, "4"), (6, "6")])
    vlan_id = VlanFilter(help_text="VLAN id (1-4094).")
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Network
        fields = ["tenant_id", "tenant", "datacenter_id", "datacenter", "family", "vlan_id", "name", "q"]


NETWORK_LOOKUPS = ("name", "subnet")


class IPPoolFilter(TenantFilterSet):
    network_id, network = ref_filters("network", Network, lookups=NETWORK_LOOKUPS)
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = IPPool
        fields = ["tenant_id", "tenant", "network_id", "network", "name"]


class IPAddressFilter(TenantFilterSet):
    network_id, network = ref_filters("network", Network, lookups=NETWORK_LOOKUPS, nullable=True)
    pool_id, pool = ref_filters("pool", IPPool, nullable=True)
    device_id, device = ref_filters("device", Device, nullable=True)
    status = filters.MultipleChoiceFilter(choices=AddressStatus.choices)
    address = filters.CharFilter(max_length=64, help_text="Exact address.")
    parent = filters.CharFilter(max_length=64, method="filter_parent",
                                help_text="A CIDR: the addresses inside it, e.g. 127.10.32.0/24.")
    q = QFilter(search_service.filter_addresses,
                help_text="An address (exactly it), a CIDR (the addresses inside it), or words of the DNS name "
                          "or description.")
    dns_name = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = IPAddress
        fields = ["tenant_id", "tenant", "network_id", "network", "pool_id", "pool", "device_id", "device", "status",
                  "address", "parent", "q", "dns_name"]

    def filter_queryset(self, queryset):
        address = self.form.cleaned_data.pop("address", None)
        if address:
            try:
                from inventory import ipam

                queryset = queryset.filter(address_key=ipam.key(ipam.parse_address(address)))
            except ValueError as exc:
                raise ValidationError({"address": [str(exc)]}) from None
        return super().filter_queryset(queryset)

    def filter_parent(self, queryset, name, value):
        import ipaddress

        try:
            cidr = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValidationError({"parent": [f"{value!r} is not an IPv4 or IPv6 network (CIDR), e.g. 10.0.0.0/24."]}) from None
        return search_service.within(queryset, cidr)


class DeviceFilter(TenantFilterSet):
    q = QFilter(search_service.filter_devices)
    tag = filters.CharFilter(method="filter_tags", help_text="Tag name; repeat for devices carrying all of them.")
    datacenter_id, datacenter = ref_filters("datacenter", Datacenter, nullable=True)
    rack_id = IdFilter()
    status = filters.MultipleChoiceFilter(choices=DeviceStatus.choices)
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Device
        fields = ["tenant_id", "tenant", "datacenter_id", "datacenter", "rack_id", "status", "tag", "name", "q"]

    def filter_tags(self, queryset, name, value):
        for tag in self.data.getlist("tag"):
            if tag.strip():
                queryset = queryset.filter(tags__name=tag.strip())
        return queryset


class DeviceRelationshipFilter(TenantFilterSet):
    parent_id, parent = ref_filters("parent", Device)
    child_id, child = ref_filters("child", Device)
    device_id, device = ref_filters("device", Device, either=("parent_id", "child_id"))
    type = filters.ChoiceFilter(choices=RelationshipType.choices)

    class Meta:
        model = DeviceRelationship
        fields = ["tenant_id", "tenant", "parent_id", "parent", "child_id", "child", "device_id", "device", "type"]


class StrictFilterBackend(DjangoFilterBackend):
    """Unknown query parameters and NUL characters are a 400 naming them, not silently ignored."""

    def filter_queryset(self, request, queryset, view):
        allowed = set(COMMON_PARAMS) | set(getattr(view, "extra_query_params", ()))
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise ValidationError({
                "detail": f"Unknown query parameter(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(allowed))}."
            })
        for key, values in request.query_params.lists():
            if any("\x00" in v for v in values):
                raise ValidationError({key: ["NUL characters are not allowed."]})
        if filterset_class is None or not set(request.query_params) & set(filterset_class.base_filters):
            return queryset  # no filter given: building and validating the filter form changes nothing
        return super().filter_queryset(request, queryset, view)


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=`` with a field the list cannot be sorted by is a 400 naming the allowed ones
    (DRF's own filter drops unknown names silently)."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = [item[0] for item in self.get_valid_fields(queryset, view, {"request": request})]
        unknown = [term for term in fields if (term[1:] if term.startswith("-") else term) not in valid]
        if unknown:
            raise ValidationError({"ordering": [
                f"Cannot order by {', '.join(map(repr, unknown))}. Allowed: {', '.join(valid)} "
                "(prefix - for descending, comma-separated for several)."]})
        return fields
