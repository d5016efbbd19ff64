from inventory.models import Datacenter

from .base import SelfLinkField, TenantOwnedSerializer


class DatacenterSerializer(TenantOwnedSerializer):
    display_columns = ("name",)  # what __str__ reads
    url = SelfLinkField("api:datacenter-detail")

    class Meta:
        model = Datacenter
        fields = ["id", "url", "display", "tenant", "name", "location", "description", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []
