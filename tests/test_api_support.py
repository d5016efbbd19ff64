"""Shared helpers for the REST API tests (no tests here; imported by tests/test_api_*.py)."""

import pytest
from rest_framework.test import APIClient

from inventory.models import Datacenter, Device, DeviceRelationship, IPAddress, IPPool, Network


def client_for(user=None):
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def api():
    """api(user) -> an APIClient logged in as user (session auth)."""
    return client_for


@pytest.fixture
def world(tenant_a, tenant_b):
    """One object of every kind in each of tenants A and B."""
    objs = {}
    for key, tenant in (("a", tenant_a), ("b", tenant_b)):
        dc = Datacenter.objects.create(tenant=tenant, name=f"dc-{key}")
        net = Network.objects.create(tenant=tenant, name=f"net-{key}", subnet="127.100.0.0/24", datacenter=dc)
        pool = IPPool.objects.create(network=net, name=f"pool-{key}", start_address="127.100.0.100", end_address="127.100.0.199")
        dev = Device.objects.create(tenant=tenant, name=f"dev-{key}", datacenter=dc, make_model="Dell R640")
        dev2 = Device.objects.create(tenant=tenant, name=f"dev2-{key}")
        ip = IPAddress.objects.create(address="127.100.0.5", network=net, device=dev)
        rel = DeviceRelationship.objects.create(parent=dev, child=dev2, type="contains")
        objs[key] = {"tenant": tenant, "datacenter": dc, "network": net, "pool": pool, "device": dev,
                     "device2": dev2, "ipaddress": ip, "relationship": rel}
    return objs
