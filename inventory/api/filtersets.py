"""django-filter filtersets, and a filter backend that refuses unknown query parameters."""

import django_filters as filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from inventory.models import (
    AddressStatus, Datacenter, Device, DeviceRelationship, DeviceStatus, IPAddress, IPPool, Membership,
    Network, RelationshipType, Tenant,
)
from inventory.api.schema import MAX_ID
from inventory.services import search as search_service
from inventory.tenancy import Role

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


class TenantFilterSet(filters.FilterSet):
    tenant = IdFilter(field_name="tenant_id", help_text="Tenant id.")


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
        fields = ["tenant", "user", "role"]


class DatacenterFilter(TenantFilterSet):
    q = QFilter(search_service.filter_datacenters)
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Datacenter
        fields = ["tenant", "name", "q"]


class NetworkFilter(TenantFilterSet):
    q = QFilter(search_service.filter_networks)
    datacenter_id = IdFilter()
    family = filters.ChoiceFilter(choices=[(4, "4"), (6, "6")])
    vlan_id = VlanFilter(help_text="VLAN id (1-4094).")
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Network
        fields = ["tenant", "datacenter_id", "family", "vlan_id", "name", "q"]


class IPPoolFilter(TenantFilterSet):
    network_id = IdFilter()
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = IPPool
        fields = ["tenant", "network_id", "name"]


class IPAddressFilter(TenantFilterSet):
    network_id = IdFilter()
    pool_id = IdFilter()
    device_id = IdFilter()
    status = filters.MultipleChoiceFilter(choices=AddressStatus.choices)
    address = filters.CharFilter(max_length=64, help_text="Exact address.")
    dns_name = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = IPAddress
        fields = ["tenant", "network_id", "pool_id", "device_id", "status", "address", "dns_name"]

    def filter_queryset(self, queryset):
        address = self.form.cleaned_data.pop("address", None)
        if address:
            try:
                from inventory import ipam

                queryset = queryset.filter(address_key=ipam.key(ipam.parse_address(address)))
            except ValueError as exc:
                raise ValidationError({"address": [str(exc)]}) from None
        return super().filter_queryset(queryset)


class DeviceFilter(TenantFilterSet):
    q = QFilter(search_service.filter_devices)
    tag = filters.CharFilter(method="filter_tags", help_text="Tag name; repeat for devices carrying all of them.")
    datacenter_id = IdFilter()
    status = filters.MultipleChoiceFilter(choices=DeviceStatus.choices)
    name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Device
        fields = ["tenant", "datacenter_id", "status", "tag", "name", "q"]

    def filter_tags(self, queryset, name, value):
        for tag in self.data.getlist("tag"):
            if tag.strip():
                queryset = queryset.filter(tags__name=tag.strip())
        return queryset


class DeviceRelationshipFilter(TenantFilterSet):
    parent_id = IdFilter()
    child_id = IdFilter()
    device_id = IdFilter(method="filter_device", help_text="Either end.")
    type = filters.ChoiceFilter(choices=RelationshipType.choices)

    class Meta:
        model = DeviceRelationship
        fields = ["tenant", "parent_id", "child_id", "device_id", "type"]

    def filter_device(self, queryset, name, value):
        return queryset.filter(parent_id=value) | queryset.filter(child_id=value)


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
