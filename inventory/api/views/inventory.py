"""Datacenters, networks (with next-ip), pools (with next-ip), IP addresses, devices, relationships."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from inventory.api import filtersets as f
from inventory.api import serializers as s
from inventory.models import Datacenter, Device, DeviceRelationship, IPAddress, IPPool, Network
from inventory.services.allocation import allocate_next_ip, preview_next_ip
from inventory.tenancy import Action

from .base import InventoryViewSet, documented


@documented
class DatacenterViewSet(InventoryViewSet):
    model = Datacenter
    serializer_class = s.DatacenterSerializer
    filterset_class = f.DatacenterFilter


class NextIPMixin:
    """GET .../next-ip/ previews the first free address; POST allocates it (201) or 409 when full."""

    tenancy_actions = {"next_ip": {"get": Action.VIEW, "post": Action.ADD}}

    @extend_schema(methods=["GET"], request=None, responses={
        200: s.NextIPPreviewSerializer, 409: OpenApiResponse(description="No free address left.")})
    @extend_schema(methods=["POST"], request=s.NextIPRequestSerializer, responses={
        201: s.IPAddressSerializer, 409: OpenApiResponse(description="No free address left.")})
    @action(detail=True, methods=["get", "post"], url_path="next-ip", url_name="next-ip")
    def next_ip(self, request, pk=None):
        if request.method == "GET":
            free = preview_next_ip(self.principal, self.get_object())
            return Response({"address": free.address, "network": free.network_id, "pool": free.pool_id})
        self.check_detail_query_params()
        body = s.NextIPRequestSerializer(data=request.data, context=self.get_base_context())
        body.is_valid(raise_exception=True)
        # the target is read by the allocation, as the principal sees it (404/403)
        row = allocate_next_ip(self.principal, (self.model, pk), **body.validated_data)
        return Response(s.IPAddressSerializer(row, context=self.get_base_context()).data, status=status.HTTP_201_CREATED)


@documented
class NetworkViewSet(NextIPMixin, InventoryViewSet):
    model = Network
    serializer_class = s.NetworkSerializer
    filterset_class = f.NetworkFilter
    ordering_fields = ["id", "name", "created", "updated", "start_key", "vlan_id"]


@documented
class IPPoolViewSet(NextIPMixin, InventoryViewSet):
    model = IPPool
    serializer_class = s.IPPoolSerializer
    filterset_class = f.IPPoolFilter


@documented
class IPAddressViewSet(InventoryViewSet):
    model = IPAddress
    serializer_class = s.IPAddressSerializer
    filterset_class = f.IPAddressFilter
    ordering_fields = ["id", "address_key", "created", "updated", "status", "dns_name"]


@documented
class DeviceViewSet(InventoryViewSet):
    """Devices with their addresses, tags and domains, written together atomically."""

    model = Device
    serializer_class = s.DeviceSerializer
    filterset_class = f.DeviceFilter
    ordering_fields = ["id", "name", "created", "updated", "status"]


@documented
class DeviceRelationshipViewSet(InventoryViewSet):
    """Links between devices of one tenant; no self-links, duplicates or 'contains' cycles."""

    model = DeviceRelationship
    serializer_class = s.DeviceRelationshipSerializer
    filterset_class = f.DeviceRelationshipFilter
    ordering_fields = ["id", "created", "type"]
