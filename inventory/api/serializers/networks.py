from rest_framework import serializers

from inventory.models import Datacenter, Device, IPPool, Network, Tenant

from .base import RestrictedRelatedField, SelfLinkField, StrictInput, TenantOwnedSerializer


class NetworkSerializer(TenantOwnedSerializer):
    display_columns = ("name", "subnet")  # what __str__ reads
    url = SelfLinkField("api:network-detail")
    datacenter = RestrictedRelatedField(Datacenter, required=False, allow_null=True,
                                        help_text="Datacenter id (same tenant), or null.")
    family = serializers.IntegerField(read_only=True, help_text="4 or 6, from the subnet.")
    prefix_length = serializers.IntegerField(read_only=True)

    class Meta:
        model = Network
        fields = ["id", "url", "display", "tenant", "name", "subnet", "family", "prefix_length", "datacenter",
                  "vlan_id", "description", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []


class IPPoolSerializer(TenantOwnedSerializer):
    display_columns = ("name", "start_address", "end_address")  # what __str__ reads
    url = SelfLinkField("api:pool-detail")
    related = {"display": ("select", "network"), "network": ("select", "network")}
    network = RestrictedRelatedField(Network, help_text="Network id; the pool's range lies inside it. Fixed after creation.")
    tenant = RestrictedRelatedField(Tenant, read_only=True, help_text="The network's tenant.")

    class Meta:
        model = IPPool
        fields = ["id", "url", "display", "tenant", "network", "name", "start_address", "end_address", "description",
                  "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []


class NextIPRequestSerializer(StrictInput, serializers.Serializer):
    """Body of POST .../next-ip/: what to record with the allocated address."""

    device = RestrictedRelatedField(Device, required=False, allow_null=True, default=None,
                                    help_text="Device id (same tenant) to assign the address to.")
    dns_name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="",
                                     help_text="Fully qualified DNS name to record.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class NextIPPreviewSerializer(serializers.Serializer):
    """The address the next allocation would take."""

    address = serializers.IPAddressField(help_text="The first free address.")
    network = serializers.IntegerField(help_text="Network id.")
    pool = serializers.IntegerField(allow_null=True, help_text="Pool id, when asked of a pool.")
