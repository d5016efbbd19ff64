from .inventory import (
    DatacenterViewSet, DeviceRelationshipViewSet, DeviceViewSet, IPAddressViewSet, IPPoolViewSet, NetworkViewSet,
)
from .search import SearchView
from .tenants import MembershipViewSet, TenantViewSet

__all__ = [
    "DatacenterViewSet", "DeviceRelationshipViewSet", "DeviceViewSet", "IPAddressViewSet", "IPPoolViewSet",
    "MembershipViewSet", "NetworkViewSet", "SearchView", "TenantViewSet",
]
