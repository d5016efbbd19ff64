from collections import defaultdict

from django.db import connections
from rest_framework import serializers

from inventory.ipam import parse_address
from inventory.models import (Datacenter, Device, DeviceRelationship, DeviceStatus, IPAddress, Rack, RelationshipType,
                              Tag, Tenant)
from inventory.services.devices import set_addresses, set_tags

from .base import (Batched, BatchedListSerializer, BatchListSerializer, RestrictedRelatedField, SelfLinkField, StrictInput,
                   TenantOwnedSerializer)



class DeviceAddressSerializer(StrictInput, serializers.Serializer):
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
        if isinstance(obj, dict):  # already rendered by load_addresses
            return obj
        return address_item(obj.pk, obj.address, obj.dns_name, obj.network_id, obj.status)


# The two loaders below run for every rendered page or device, REST and MCP alike. They read
# with one plain statement each: building the same query through the ORM costs ~5x the query
# itself (0.6 ms against 0.1 ms for one device, seen here), and they need no model instances.
def _rows_for_devices(sql: str, devices) -> list[tuple]:
    """Rows of ``sql`` (which has one ``{devices}`` placeholder for ``<column> IN ...``) for the
    devices' ids."""
    connection = connections[Device.objects.db]
    ids = [d.pk for d in devices]
    if connection.vendor == "postgresql":  # one statement shape whatever the page size (prepared)
        condition, params = "= ANY(%s)", [ids]
    else:
        condition, params = f"IN ({', '.join(['%s'] * len(ids))})", ids
    with connection.cursor() as cursor:
        cursor.execute(sql.format(devices=condition), params)
        return cursor.fetchall()


def load_tag_names(devices) -> None:
    """Batch loader: each device's tag names, in name order, with one query."""
    through, tag = Device.tags.through._meta.db_table, Tag._meta.db_table
    rows = _rows_for_devices(
        f'SELECT dt.device_id, t.name FROM "{through}" dt JOIN "{tag}" t ON t.id = dt.tag_id '
        f"WHERE dt.device_id {{devices}} ORDER BY t.name", devices)
    names = defaultdict(list)
    for device_id, name in rows:
        names[device_id].append(name)
    for device in devices:
        device._batch_tags = names.get(device.pk, [])


def address_item(pk, address, dns_name, network_id, status) -> dict:
    """One address as a device renders it (see DeviceAddressSerializer)."""
    return {"id": pk, "ip": address, "type": "ipv6" if ":" in address else "ipv4", "dns_name": dns_name,
            "network": network_id, "status": status}


def load_addresses(devices) -> None:
    """Batch loader: each device's addresses (rendered), in address order, with one query."""
    rows = _rows_for_devices(
        f'SELECT device_id, id, address, dns_name, network_id, status FROM "{IPAddress._meta.db_table}" '
        f"WHERE device_id {{devices}} ORDER BY address_key", devices)
    found = defaultdict(list)
    for device_id, *row in rows:
        found[device_id].append(address_item(*row))
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
    """A list of DNS names; the model checks each (Device.clean)."""

    child = serializers.CharField(max_length=253, allow_blank=True, trim_whitespace=False)


class DeviceSerializer(TenantOwnedSerializer):
    """A device with its addresses, tags and domains, saved together atomically
    (its tags and addresses by :mod:`inventory.services.devices`)."""

    display_columns = ("name",)  # what __str__ reads

    url = SelfLinkField("api:device-detail")
    batch = {"tags": load_tag_names, "addresses": load_addresses}
    datacenter = RestrictedRelatedField(Datacenter, required=False, allow_null=True,
                                        help_text="Datacenter id (same tenant), or null.")
    rack = RestrictedRelatedField(Rack, required=False, allow_null=True,
                                  help_text="Rack id (in the device's datacenter, which it sets when none is given), or null.")
    status = serializers.ChoiceField(choices=DeviceStatus.choices, default=DeviceStatus.PLANNED)
    tags = TagNamesField(required=False, help_text="Tag names, e.g. [\"web\", \"prod\"]; replaces the device's tags.")
    domains = DomainsField(required=False, help_text="DNS domains, e.g. [\"example.com\"]; replaces the list.")
    addresses = DeviceAddressSerializer(many=True, required=False,
                                        help_text="The device's addresses; replaces them (addresses left out are deleted). "
                                                  "Each is found in or added to the tenant's most specific network holding it.")
    facts = serializers.DictField(required=False, help_text="Hardware and network facts (JSON object).")

    class Meta:
        model = Device
        fields = ["id", "url", "display", "tenant", "name", "description", "make_model", "os", "datacenter", "rack",
                  "rack_position", "username", "location", "status", "tags", "domains", "addresses", "facts", "created", "updated"]
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
        if "tags" in validated_data:
            set_tags(instance, validated_data["tags"])
        if "addresses" in validated_data:
            set_addresses(instance, validated_data["addresses"])


class DeviceRelationshipSerializer(TenantOwnedSerializer):
    display_columns = ("parent", "child", "type")  # what __str__ reads
    url = SelfLinkField("api:relationship-detail")
    brief_fields = ("id", "display", "url")
    related = {"display": ("select", ("parent", "child"))}
    tenant = RestrictedRelatedField(Tenant, read_only=True, help_text="The devices' tenant.")
    parent = RestrictedRelatedField(Device, help_text="Device id of the parent (e.g. the chassis that contains).")
    child = RestrictedRelatedField(Device, help_text="Device id of the child; same tenant, not the parent itself.")
    type = serializers.ChoiceField(choices=RelationshipType.choices, help_text="contains, connected_to or depends_on.")

    class Meta:
        model = DeviceRelationship
        fields = ["id", "url", "display", "tenant", "parent", "child", "type", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []
