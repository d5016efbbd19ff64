"""Model rules: each bad input is a clear ValidationError and nothing is written."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from inventory.models import (
    Datacenter, Device, DeviceRelationship, IPAddress, IPPool, Network, Tag,
)

pytestmark = pytest.mark.django_db


def errors_of(exc_info):
    return exc_info.value.message_dict


@pytest.fixture
def net(tenant_a):
    return Network.objects.create(tenant=tenant_a, name="lan", subnet="127.100.0.0/24")


@pytest.mark.parametrize("subnet, message", [
    ("127.100.0.1/24", "host bits set; the network address is 127.100.0.0/24"),
    ("127.100.0.0/33", "not a valid"),
    ("banana", "no prefix length"),
    ("127.100.0.0", "no prefix length"),
    ("2001:db8::1/64", "host bits set"),
    ("", "This field cannot be blank"),
])
def test_bad_subnet_is_rejected(tenant_a, subnet, message):
    with pytest.raises(ValidationError) as exc:
        Network.objects.create(tenant=tenant_a, name="x", subnet=subnet)
    assert message in " ".join(errors_of(exc)["subnet"])
    assert not Network.objects.exists()


def test_subnet_is_normalised_and_ipv6_works(tenant_a):
    n4 = Network.objects.create(tenant=tenant_a, name="v4", subnet=" 127.168.1.0/24 ")
    n6 = Network.objects.create(tenant=tenant_a, name="v6", subnet="2001:DB8:0::/64")
    assert n4.subnet == "127.168.1.0/24" and n4.family == 4 and n4.prefix_length == 24
    assert n6.subnet == "2001:db8::/64" and n6.family == 6


@pytest.mark.parametrize("vlan", [0, 4095, 10000])
def test_vlan_out_of_range(tenant_a, vlan):
    with pytest.raises(ValidationError) as exc:
        Network.objects.create(tenant=tenant_a, name="x", subnet="127.100.0.0/24", vlan_id=vlan)
    assert "vlan_id" in errors_of(exc)
    assert not Network.objects.exists()


def test_vlan_range_is_enforced_by_the_database_too(tenant_a, net):
    with pytest.raises(IntegrityError), transaction.atomic():
        Network.objects.filter(pk=net.pk).update(vlan_id=5000)


def test_pool_outside_network_and_reversed(net):
    with pytest.raises(ValidationError) as exc:
        IPPool.objects.create(network=net, name="p", start_address="127.100.1.1", end_address="127.100.0.20")
    assert "is not inside 127.100.0.0/24" in errors_of(exc)["start_address"][0]
    with pytest.raises(ValidationError) as exc:
        IPPool.objects.create(network=net, name="p", start_address="127.100.0.50", end_address="127.100.0.20")
    assert "before it starts" in errors_of(exc)["end_address"][0]
    with pytest.raises(ValidationError):
        IPPool.objects.create(network=net, name="p", start_address="2001:db8::1", end_address="2001:db8::5")
    assert not IPPool.objects.exists()


def test_overlapping_pools(net):
    IPPool.objects.create(network=net, name="a", start_address="127.100.0.10", end_address="127.100.0.20")
    with pytest.raises(ValidationError) as exc:
        IPPool.objects.create(network=net, name="b", start_address="127.100.0.20", end_address="127.100.0.30")
    assert "overlaps pool 'a'" in errors_of(exc)["start_address"][0]
    IPPool.objects.create(network=net, name="c", start_address="127.100.0.21", end_address="127.100.0.30")
    assert IPPool.objects.count() == 2


def test_pool_takes_its_network_tenant(net, tenant_a):
    pool = IPPool.objects.create(network=net, name="a", start_address="127.100.0.10", end_address="127.100.0.20")
    assert pool.tenant_id == tenant_a.id


def test_address_outside_network(net):
    with pytest.raises(ValidationError) as exc:
        IPAddress.objects.create(network=net, address="127.100.1.5")
    assert "not inside network lan" in errors_of(exc)["address"][0]
    with pytest.raises(ValidationError) as exc:
        IPAddress.objects.create(network=net, address="not-an-ip")
    assert "address" in errors_of(exc)
    assert not IPAddress.objects.exists()


def test_duplicate_address_is_refused_by_the_database(net):
    IPAddress.objects.create(network=net, address="127.100.0.5")
    with pytest.raises(IntegrityError), transaction.atomic():
        IPAddress.objects.create(network=net, address="127.100.0.5")
    assert IPAddress.objects.count() == 1


def test_address_finds_its_network_and_pool(tenant_a, net):
    small = Network.objects.create(tenant=tenant_a, name="small", subnet="127.100.0.0/28")
    pool = IPPool.objects.create(network=small, name="p", start_address="127.100.0.2", end_address="127.100.0.6")
    ip = IPAddress.objects.create(tenant=tenant_a, address="127.100.0.3")
    assert ip.network == small and ip.pool == pool  # the most specific network
    outside = IPAddress.objects.create(tenant=tenant_a, address="127.172.16.1")
    assert outside.network is None


def test_address_outside_its_pool(net):
    pool = IPPool.objects.create(network=net, name="p", start_address="127.100.0.10", end_address="127.100.0.20")
    with pytest.raises(ValidationError) as exc:
        IPAddress.objects.create(network=net, pool=pool, address="127.100.0.30")
    assert "not inside pool" in errors_of(exc)["address"][0]


def test_cross_tenant_links_are_impossible(tenant_a, tenant_b, net):
    dc_b = Datacenter.objects.create(tenant=tenant_b, name="dc-b")
    dev_b = Device.objects.create(tenant=tenant_b, name="b1")
    with pytest.raises(ValidationError) as exc:
        Device.objects.create(tenant=tenant_a, name="a1", datacenter=dc_b)
    assert "another tenant" in errors_of(exc)["datacenter"][0]
    with pytest.raises(ValidationError) as exc:
        Network.objects.create(tenant=tenant_a, name="n", subnet="127.109.0.0/24", datacenter=dc_b)
    assert "datacenter" in errors_of(exc)
    with pytest.raises(ValidationError) as exc:
        IPAddress.objects.create(network=net, address="127.100.0.9", device=dev_b)
    assert "device" in errors_of(exc)
    dev_a = Device.objects.create(tenant=tenant_a, name="a2")
    with pytest.raises(ValidationError) as exc:
        DeviceRelationship.objects.create(parent=dev_a, child=dev_b, type="connected_to")
    assert "child" in errors_of(exc)
    assert Device.objects.filter(tenant=tenant_a).count() == 1
    assert not IPAddress.objects.exists() and not DeviceRelationship.objects.exists()


def test_names_unique_per_tenant_only(tenant_a, tenant_b):
    Device.objects.create(tenant=tenant_a, name="web1")
    Device.objects.create(tenant=tenant_b, name="web1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Device.objects.create(tenant=tenant_a, name="web1")


def test_relationship_rules(tenant_a):
    a, b, c = (Device.objects.create(tenant=tenant_a, name=n) for n in "abc")
    with pytest.raises(ValidationError) as exc:
        DeviceRelationship.objects.create(parent=a, child=a, type="contains")
    assert "itself" in errors_of(exc)["child"][0]
    DeviceRelationship.objects.create(parent=a, child=b, type="contains")
    DeviceRelationship.objects.create(parent=b, child=c, type="contains")
    with pytest.raises(ValidationError) as exc:
        DeviceRelationship.objects.create(parent=a, child=b, type="contains")
    assert "already" in errors_of(exc)["child"][0]
    with pytest.raises(ValidationError) as exc:
        DeviceRelationship.objects.create(parent=c, child=a, type="contains")
    assert "cycle" in errors_of(exc)["child"][0]
    # other types may point back
    DeviceRelationship.objects.create(parent=c, child=a, type="depends_on")
    assert DeviceRelationship.objects.count() == 3
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceRelationship(parent=a, child=a, type="depends_on", tenant=tenant_a).save(validate=False)


def test_device_search_text_follows_tags_and_addresses(tenant_a, net):
    d = Device.objects.create(tenant=tenant_a, name="DB1", os="Debian 12", domains=["Example.COM."])
    assert d.domains == ["example.com"]
    d.tags.add(Tag.objects.create(tenant=tenant_a, name="prod"))
    IPAddress.objects.create(network=net, address="127.100.0.7", device=d)
    d.refresh_from_db()
    assert {"db1", "debian 12", "example.com", "prod", "127.100.0.7"} <= set(d.search_text.split("\n"))


def test_device_rejects_bad_domains_and_facts(tenant_a):
    with pytest.raises(ValidationError):
        Device.objects.create(tenant=tenant_a, name="x", domains="example.com")
    with pytest.raises(ValidationError):
        Device.objects.create(tenant=tenant_a, name="x", facts=[1, 2])
    with pytest.raises(ValidationError):
        Device.objects.create(tenant=tenant_a, name="x", status="exploded")
    assert not Device.objects.exists()
