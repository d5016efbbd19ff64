from rest_framework import serializers

from .datacenters import DatacenterSerializer
from .devices import DeviceSerializer
from .networks import NetworkSerializer


class DeviceHitSerializer(DeviceSerializer):
    class Meta(DeviceSerializer.Meta):
        fields = ["id", "url", "display", "tenant", "name", "status", "make_model", "os", "datacenter"]


class NetworkHitSerializer(NetworkSerializer):
    class Meta(NetworkSerializer.Meta):
        fields = ["id", "url", "display", "tenant", "name", "subnet", "datacenter", "vlan_id"]


class DatacenterHitSerializer(DatacenterSerializer):
    class Meta(DatacenterSerializer.Meta):
        fields = ["id", "url", "display", "tenant", "name", "location"]


class SearchResultSerializer(serializers.Serializer):
    """What :func:`inventory.services.search.search` found, one list per kind."""

    devices = DeviceHitSerializer(many=True, read_only=True)
    networks = NetworkHitSerializer(many=True, read_only=True)
    datacenters = DatacenterHitSerializer(many=True, read_only=True)

    @classmethod
    def columns(cls) -> dict[str, list[str] | None]:
        """Per kind, the model fields its hits render: ``search(..., columns=...)`` loads only those."""
        if "_columns" not in cls.__dict__:
            hits = {name: type(field.child) for name, field in cls._declared_fields.items()}
            cls._columns = {name: hit.columns_for(hit.Meta.fields) for name, hit in hits.items()}
        return cls._columns


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200, help_text="Words (all must match), an IP address or a CIDR.")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20, help_text="Most results per kind.")
