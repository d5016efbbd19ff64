from rest_framework import serializers

from .datacenters import DatacenterSerializer
from .devices import DeviceSerializer
from .networks import NetworkSerializer
from .racks import RackSerializer


class DeviceHitSerializer(DeviceSerializer):
    class Meta(DeviceSerializer.Meta):
        fields = ["id", "url", "display", "tenant", "name", "status", "make_model", "os", "datacenter"]


class NetworkHitSerializer(NetworkSerializer):
    class Meta(NetworkSerializer.Meta):
        fields = ["id", "url", "display", "tenant", "name", "subnet", "datacenter", "vlan_id"]


class DatacenterHitSerializer(DatacenterSerializer):
    class Meta(DatacenterSerializer.Meta):
        fields = ["id", "url", "display", "tenant", "name", "location"]


class RackHitSerializer(RackSerializer):
    class Meta(RackSerializer.Meta):
        fields = ["id", "url", "display", "tenant", "name", "datacenter", "height_u"]


class SearchResultSerializer(serializers.Serializer):
    """What :func:`inventory.services.search.search` found, one list per searched kind (the
    kinds whose declaration has a ``search`` part, inventory/kinds.py)."""

    def get_fields(self):
        from inventory.services.search import searched_kinds

        return {kind.key: kind.hit_serializer(many=True, read_only=True) for kind in searched_kinds()}

    @classmethod
    def columns(cls) -> dict[str, list[str] | None]:
        """Per kind, the model fields its hits render: ``search(..., columns=...)`` loads only those."""
        from inventory.services.search import searched_kinds

        kinds = searched_kinds()
        if cls.__dict__.get("_columns_of") is not kinds or len(cls._columns) != len(kinds):
            cls._columns = {kind.key: kind.hit_serializer.columns_for(kind.hit_serializer.Meta.fields) for kind in kinds}
            cls._columns_of = kinds
        return cls._columns


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200, help_text="Words (all must match), an IP address or a CIDR.")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20, help_text="Most results per kind.")
