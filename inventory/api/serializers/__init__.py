"""API serializers, one module per concept; the single schema source for REST and MCP.

Use them with ``context={"principal": principal}`` (see :mod:`inventory.api.serializers.base`).
"""

from .addresses import IPAddressSerializer
from .base import InventorySerializer, RestrictedRelatedField, principal_of
from .datacenters import DatacenterSerializer
from .devices import DeviceAddressSerializer, DeviceRelationshipSerializer, DeviceSerializer
from .networks import IPPoolSerializer, NetworkSerializer, NextIPPreviewSerializer, NextIPRequestSerializer
from .racks import RackSerializer
from .search import SearchQuerySerializer, SearchResultSerializer
from .tenants import MembershipSerializer, TenantSerializer

__all__ = [
    "DatacenterSerializer", "DeviceAddressSerializer", "DeviceRelationshipSerializer", "DeviceSerializer",
    "IPAddressSerializer", "IPPoolSerializer", "InventorySerializer", "MembershipSerializer", "NetworkSerializer",
    "NextIPPreviewSerializer", "NextIPRequestSerializer", "RackSerializer", "RestrictedRelatedField", "SearchQuerySerializer", "SearchResultSerializer",
    "TenantSerializer", "principal_of",
]
