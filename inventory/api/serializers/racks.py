from rest_framework import serializers

from inventory.models import Datacenter, Rack

from .base import RestrictedRelatedField, SelfLinkField, TenantOwnedSerializer


class RackSerializer(TenantOwnedSerializer):
    display_columns = ("name",)  # what __str__ reads
    url = SelfLinkField("api:rack-detail")
    datacenter = RestrictedRelatedField(Datacenter, help_text="Datacenter id; the rack's tenant is its. Fixed after creation.")
    tenant = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The datacenter's tenant.")

    class Meta:
        model = Rack
        fields = ["id", "url", "display", "tenant", "datacenter", "name", "height_u", "description", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []
