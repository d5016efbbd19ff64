"""The inventory domain, one concept per module."""

from .addresses import AddressStatus, IPAddress
from .datacenters import Datacenter
from .devices import Device, DeviceRelationship, DeviceStatus, RelationshipType, Tag
from .networks import IPPool, Network
from .racks import Rack
from .tenants import Membership, Tenant

__all__ = [
    "AddressStatus", "Datacenter", "Device", "DeviceRelationship", "DeviceStatus", "IPAddress",
    "IPPool", "Membership", "Network", "Rack", "RelationshipType", "Tag", "Tenant",
]
