"""Mesh serializers: the one schema for REST and MCP. No serializer has the private key."""

from __future__ import annotations

from django.db.models import Count
from rest_framework import serializers

from inventory.api.serializers.base import RestrictedRelatedField, SelfLinkField, TenantOwnedSerializer
from inventory.models import Device

from . import config
from .models import Mesh, MeshPeer


class MeshSerializer(TenantOwnedSerializer):
    display_columns = ("name",)
    #: lists count the peers in their one query (with_related), not one query per mesh
    related = {**getattr(TenantOwnedSerializer, "related", {}), "peer_count": ("annotate", {"peer_total": Count("peers")})}
    url = SelfLinkField("mesh:mesh-detail")
    network = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The IPAM network of the overlay.")
    second_network = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                        help_text="The IPAM network of the second overlay, if any.")
    interface_name = serializers.CharField(read_only=True, help_text="The interface name the peers use.")
    dns = serializers.ListField(child=serializers.CharField(max_length=45), required=False, max_length=8,
                                help_text="DNS server addresses for the peers.")
    peer_count = serializers.SerializerMethodField()

    class Meta:
        model = Mesh
        fields = ["id", "url", "display", "tenant", "name", "overlay_cidr", "network", "second_cidr", "second_network",
                  "interface", "interface_name",
                  "listen_port", "mtu", "dns", "persistent_keepalive", "topology", "description", "peer_count",
                  "last_check", "created", "updated"]
        read_only_fields = ["last_check", "created", "updated"]
        validators = []

    def get_peer_count(self, mesh) -> int:
        total = getattr(mesh, "peer_total", None)
        return mesh.peers.count() if total is None else total


class PeerListSerializer(serializers.ListSerializer):
    """A list of peers reads the underlay addresses of all of them in one query (the default
    endpoints), instead of one per peer."""

    def to_representation(self, data):
        peers = list(data.all() if hasattr(data, "all") else data)
        config.preload_underlay(peers)
        return super().to_representation(peers)


class MeshPeerSerializer(TenantOwnedSerializer):
    """A peer as every surface shows it (never its private key); the writable fields are
    endpoint, allowed_ips, enabled, is_hub and interface."""

    display_columns = None
    url = SelfLinkField("mesh:peer-detail")
    tenant = serializers.PrimaryKeyRelatedField(read_only=True)
    mesh = serializers.PrimaryKeyRelatedField(read_only=True)
    device = serializers.PrimaryKeyRelatedField(read_only=True)
    device_name = serializers.CharField(source="device.name", read_only=True)
    address = serializers.CharField(source="address.address", read_only=True, help_text="Overlay address.")
    second_address = serializers.CharField(source="second_address.address", read_only=True, allow_null=True,
                                           help_text="Overlay address in the second (other family) overlay.")
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=49), required=False, max_length=64,
                                        help_text="Extra networks (CIDR) routed behind the peer.")
    effective_endpoint = serializers.SerializerMethodField(help_text="The endpoint the other peers are configured with.")
    interface_name = serializers.CharField(read_only=True)
    key_rotation_pending = serializers.SerializerMethodField()

    class Meta:
        model = MeshPeer
        fields = ["id", "url", "display", "tenant", "mesh", "device", "device_name", "address", "second_address",
                  "public_key",
                  "endpoint", "effective_endpoint", "allowed_ips", "enabled", "is_hub", "interface", "interface_name",
                  "last_status", "last_handshake", "rx_bytes", "tx_bytes", "reported_endpoint", "last_check",
                  "last_result", "key_rotation_pending", "created", "updated"]
        read_only_fields = ["public_key", "last_status", "last_handshake", "rx_bytes", "tx_bytes",
                            "reported_endpoint", "last_check", "last_result", "created", "updated"]
        validators = []
        list_serializer_class = PeerListSerializer

    def get_effective_endpoint(self, peer) -> str:
        return config.endpoint_of(peer)

    def get_key_rotation_pending(self, peer) -> bool:
        return bool(peer.retired_public_key)


class AddPeerSerializer(serializers.Serializer):
    mesh = RestrictedRelatedField(Mesh, help_text="The mesh to join.")
    device = RestrictedRelatedField(Device, help_text="The device that becomes a peer (same tenant as the mesh).")
    endpoint = serializers.CharField(max_length=262, required=False, allow_blank=True, default="",
                                     help_text="host:port the others reach it at; default its primary address and "
                                               "the mesh's port.")
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=49), required=False, default=list,
                                        max_length=64, help_text="Extra networks (CIDR) routed behind the peer.")
    is_hub = serializers.BooleanField(required=False, default=False)
    interface = serializers.CharField(max_length=15, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(required=False, default=True)


class PeerConfigSerializer(serializers.Serializer):
    peer = serializers.IntegerField()
    path = serializers.CharField(help_text="Where the configuration is installed on the device.")
    config = serializers.CharField(help_text="The wg-quick file, the private key masked.")
    applied = serializers.BooleanField(help_text="The device has exactly this configuration installed.")
