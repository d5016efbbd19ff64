from rest_framework import serializers

from inventory.models import AddressStatus, Device, IPAddress, IPPool, Network

from .base import RestrictedRelatedField, SelfLinkField, TenantOwnedSerializer


class IPAddressSerializer(TenantOwnedSerializer):
    display_columns = ("address",)  # what __str__ reads
    url = SelfLinkField("api:ipaddress-detail")
    brief_fields = ("id", "address", "display", "url")
    address = serializers.IPAddressField(help_text="A single IPv4 or IPv6 address, without prefix length.")
    network = RestrictedRelatedField(Network, required=False, allow_null=True,
                                     help_text="Network id; found from the address (most specific network of the tenant) when omitted.")
    pool = RestrictedRelatedField(IPPool, required=False, allow_null=True,
                                  help_text="Pool id; found from the address when omitted.")
    device = RestrictedRelatedField(Device, required=False, allow_null=True, help_text="Device id holding the address.")
    status = serializers.ChoiceField(choices=AddressStatus.choices, default=AddressStatus.ALLOCATED,
                                     help_text="reserved, dhcp and deprecated addresses are never handed out by next-ip.")
    family = serializers.IntegerField(read_only=True, help_text="4 or 6.")

    class Meta:
        model = IPAddress
        fields = ["id", "url", "display", "tenant", "address", "family", "network", "pool", "status", "device",
                  "dns_name", "description", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []

    def apply(self, instance, validated_data):
        super().apply(instance, validated_data)
        if instance.pool is not None and instance.network_id is None:
            instance.network = instance.pool.network
