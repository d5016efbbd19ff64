import re
from collections import defaultdict

from rest_framework import serializers

from inventory.ipam import parse_address
from inventory.models import Datacenter, Device, DeviceRelationship, DeviceStatus, IPAddress, RelationshipType

from .base import (Batched, BatchedListSerializer, BatchListSerializer, RestrictedRelatedField, SelfLinkField,
                   TenantOwnedSerializer)

HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$")


class DeviceAddressSerializer(serializers.Serializer):
    """One address of a device, written with the device: ``{"ip": "192.168.1.100", "type": "ipv4"}``."""

    id = serializers.IntegerField(read_only=True)
    ip = serializers.IPAddressField(help_text="IPv4 or IPv6 address, without prefix length.")
    type = serializers.ChoiceField(choices=[("ipv4", "IPv4"), ("ipv6", "IPv6")], required=False,
                                   help_text="ipv4 or ipv6; checked against the address when given.")
    dns_name = serializers.CharField(max_length=255, required=False, allow_blank=True, help_text="Fully qualified DNS name.")
    network = serializers.IntegerField(read_only=True, allow_null=True, help_text="Id of the network holding the address.")
    status = serializers.CharField(read_only=True)

    class Meta:
        list_serializer_class = BatchedListSerializer  # rows may come from load_addresses

    def validate(self, attrs):
        ip = parse_address(attrs["ip"])
        attrs["ip"] = str(ip)
        if attrs.get("type") and attrs["type"] != f"ipv{ip.version}":
            raise serializers.ValidationError({"type": f"{ip} is an IPv{ip.version} address, not {attrs['type']}."})
        return attrs

    def to_representation(self, obj):
        return {"id": obj.pk, "ip": obj.address, "type": f"ipv{obj.family}", "dns_name": obj.dns_name,
                "network": obj.network_id, "status": obj.status}


def load_tag_names(devices) -> None:
    """Batch loader: each device's tag names, in name order, with one query."""
    names = defaultdict(list)
    rows = (Device.tags.through.objects.filter(device_id__in=[d.pk for d in devices])
            .order_by("tag__name").values_list("device_id", "tag__name"))
    for device_id, name in rows:
        names[device_id].append(name)
    for device in devices:
        device._batch_tags = names.get(device.pk, [])


def load_addresses(devices) -> None:
    """Batch loader: each device's addresses, in address order, with one query."""
    found = defaultdict(list)
    rows = (IPAddress.objects.filter(device_id__in=[d.pk for d in devices])
            .only("id", "device_id", "address", "dns_name", "network_id", "status").order_by("address_key"))
    for row in rows:
        found[row.device_id].append(row)
    for device in devices:
        device._batch_addresses = found.get(device.pk, [])


class TagNamesField(Batched, serializers.ListField):
    """Tags as a list of names; unknown names are created in the device's tenant."""

    child = serializers.CharField(max_length=64)

    def to_representation(self, value):
        return list(value) if isinstance(value, list) else [tag.name for tag in value.all()]

    def to_internal_value(self, data):
        names = super().to_internal_value(data)
        return sorted({n.strip() for n in names if n.strip()})


class DomainsField(serializers.ListField):
    child = serializers.CharField(max_length=253)

    def to_internal_value(self, data):
        domains = super().to_internal_value(data)
        bad = [d for d in domains if not HOSTNAME_RE.match(d.strip())]
        if bad:
            raise serializers.ValidationError(f"Not a valid DNS domain: {', '.join(map(repr, bad))}.")
        return domains


class DeviceSerializer(TenantOwnedSerializer):
    """A device with its addresses, tags and domains, saved together atomically
    (see :func:`inventory.services.devices.save_device`)."""

    url = SelfLinkField("api:device-detail")
    batch = {"tags": load_tag_names, "addresses": load_addresses}
    datacenter = RestrictedRelatedField(Datacenter, required=False, allow_null=True,
                                        help_text="Datacenter id (same tenant), or null.")
    status = serializers.ChoiceField(choices=DeviceStatus.choices, default=DeviceStatus.PLANNED)
    tags = TagNamesField(required=False, help_text="Tag names, e.g. [\"web\", \"prod\"]; replaces the device's tags.")
    domains = DomainsField(required=False, help_text="DNS domains, e.g. [\"example.com\"]; replaces the list.")
    addresses = DeviceAddressSerializer(many=True, required=False,
                                        help_text="The device's addresses; replaces them (addresses left out are deleted). "
                                                  "Each is found in or added to the tenant's most specific network holding it.")
    facts = serializers.DictField(required=False, help_text="Hardware and network facts (JSON object).")

    class Meta:
        model = Device
        fields = ["id", "url", "display", "tenant", "name", "description", "make_model", "os", "datacenter", "username",
                  "location", "status", "tags", "domains", "addresses", "facts", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []
        list_serializer_class = BatchListSerializer

    def validate_addresses(self, items):
        seen = set()
        for item in items:
            if item["ip"] in seen:
                raise serializers.ValidationError(f"{item['ip']} is listed twice.")
            seen.add(item["ip"])
        return items

    def apply(self, instance, validated_data):
        plain = {k: v for k, v in validated_data.items() if k not in ("tags", "addresses")}
        super().apply(instance, plain)

    def after_save(self, instance, validated_data):
        from inventory.services.devices import set_addresses, set_tags

        if "tags" in validated_data:
            set_tags(instance, validated_data["tags"])
        if "addresses" in validated_data:
            set_addresses(instance, validated_data["addresses"])


class DeviceRelationshipSerializer(TenantOwnedSerializer):
    url = SelfLinkField("api:relationship-detail")
    brief_fields = ("id", "display", "url")
    related = {"display": ("select", ("parent", "child"))}
    tenant = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The devices' tenant.")
    parent = RestrictedRelatedField(Device, help_text="Device id of the parent (e.g. the chassis that contains).")
    child = RestrictedRelatedField(Device, help_text="Device id of the child; same tenant, not the parent itself.")
    type = serializers.ChoiceField(choices=RelationshipType.choices, help_text="contains, connected_to or depends_on.")

    class Meta:
        model = DeviceRelationship
        fields = ["id", "url", "display", "tenant", "parent", "child", "type", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []
