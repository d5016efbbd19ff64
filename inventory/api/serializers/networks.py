from rest_framework import serializers

from inventory import utilisation
from inventory.models import Datacenter, Device, IPPool, Network, Tenant

from .base import Batched, RestrictedRelatedField, SelfLinkField, StrictInput, TenantOwnedSerializer


class UtilisationField(Batched, serializers.Serializer):
    """Size, used, free and percent of a network or pool, counted in SQL (inventory/utilisation.py)
    and kept in the shared cache per network and pool: at most one query per rendered page or
    object (``load_utilisation``), never by loading addresses."""

    size = serializers.IntegerField(read_only=True, help_text=(
        "Assignable addresses: a network's usable range (IPv4 without network and broadcast), a pool's range."))
    used = serializers.IntegerField(read_only=True, help_text="Addresses recorded in it.")
    free = serializers.IntegerField(read_only=True, help_text="size - used (never below 0).")
    percent = serializers.FloatField(read_only=True, help_text="used / size, in percent, one decimal.")

    def __init__(self, **kwargs):
        kwargs.update(read_only=True, source="*")
        kwargs.setdefault("help_text", "Utilisation. Always on a single object; on lists only when asked "
                                       "(?fields=...,utilisation; MCP: fields).")
        super().__init__(**kwargs)

    def to_representation(self, value):
        if isinstance(value, dict):  # from load_utilisation
            return value
        return utilisation.of(value).as_dict()


def utilisation_loader(model):
    def load_utilisation(objects) -> None:
        """Batch loader: the utilisation of a page of networks or pools, the counts from their
        cache entries (inventory/utilisation.py: no query when cached, one for those that are
        not; stock path: one query with a COUNT per row). The page is read with the range
        columns (``batch_columns``); objects without them have them read in that query."""
        objects = list(objects)
        found = utilisation.of_objects(model, objects)
        for obj in objects:
            u = found.get(obj.pk)
            obj._batch_utilisation = u.as_dict() if u is not None else utilisation.Utilisation(0, 0).as_dict()

    return load_utilisation


#: fields a list renders only when ?fields= (MCP: fields) names them; a single object has them all
ON_REQUEST = ("utilisation",)


class NetworkSerializer(TenantOwnedSerializer):
    display_columns = ("name", "subnet")  # what __str__ reads
    url = SelfLinkField("api:network-detail")
    datacenter = RestrictedRelatedField(Datacenter, required=False, allow_null=True,
                                        help_text="Datacenter id (same tenant), or null.")
    family = serializers.IntegerField(read_only=True, help_text="4 or 6, from the subnet.")
    prefix_length = serializers.IntegerField(read_only=True)
    utilisation = UtilisationField()
    batch = {"utilisation": utilisation_loader(Network)}
    batch_columns = {"utilisation": ("subnet",)}  # its size
    on_request_fields = ON_REQUEST

    class Meta:
        model = Network
        fields = ["id", "url", "display", "tenant", "name", "subnet", "family", "prefix_length", "datacenter",
                  "vlan_id", "description", "utilisation", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []


class IPPoolSerializer(TenantOwnedSerializer):
    display_columns = ("name", "start_address", "end_address")  # what __str__ reads
    url = SelfLinkField("api:pool-detail")
    related = {"display": ("select", "network"), "network": ("select", "network")}
    network = RestrictedRelatedField(Network, help_text="Network id; the pool's range lies inside it. Fixed after creation.")
    tenant = RestrictedRelatedField(Tenant, read_only=True, help_text="The network's tenant.")
    utilisation = UtilisationField()
    batch = {"utilisation": utilisation_loader(IPPool)}
    batch_columns = {"utilisation": ("start_key", "end_key")}  # its size
    on_request_fields = ON_REQUEST

    class Meta:
        model = IPPool
        fields = ["id", "url", "display", "tenant", "network", "name", "start_address", "end_address", "description",
                  "utilisation", "created", "updated"]
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
