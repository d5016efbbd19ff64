"""Statements compiled once per shape (inventory.runtime.precompiled): reads by id and search hits."""

import pytest
from django.db import transaction
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

from inventory.models import Datacenter, Device, IPPool, Membership, Network, Rack, Tenant
from inventory.runtime import precompiled
from inventory.services.common import as_pk
from inventory.tenancy import Action, Principal

pytestmark = [pytest.mark.django_db, pytest.mark.fast_paths("precompiled_reads")]


def _count_compiles(monkeypatch, compiler_class) -> list:
    """The models ``compiler_class`` compiles a statement for, from now on."""
    calls = []
    original = compiler_class.as_sql

    def as_sql(self, *args, **kwargs):
        calls.append(self.query.model)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(compiler_class, "as_sql", as_sql)
    return calls


@pytest.fixture
def compiles(monkeypatch):
    """Which models Django compiles a SELECT for."""
    return _count_compiles(monkeypatch, SQLCompiler)


def get_visible(principal, model, shape, build, pk, action=Action.VIEW):
    """``precompiled.get_visible`` with the id parsed as ``get_for`` parses it."""
    value = as_pk(model, pk)
    if value is None:
        raise model.DoesNotExist("no row can have that id")
    return precompiled.get_visible(principal, model, shape, build, value, action)


def _shape(name):
    return ("test", name)


def test_second_read_of_a_shape_compiles_nothing_and_reads_the_same(world, admin_a, compiles):
    principal = Principal(admin_a)
    device = world["a"]["device"]
    build = lambda: Device.objects.select_related("datacenter").only("id", "tenant", "name", "datacenter__name")  # noqa: E731
    first = get_visible(principal, Device, _shape("same"), build, device.pk)
    assert compiles
    compiles.clear()
    second = get_visible(principal, Device, _shape("same"), build, str(device.pk))
    other = get_visible(principal, Device, _shape("same"), build, world["a"]["device2"].pk)
    assert compiles == []
    assert (first.pk, first.name, first.datacenter.name) == (second.pk, second.name, second.datacenter.name)
    assert second.get_deferred_fields() == first.get_deferred_fields() and "os" in second.get_deferred_fields()
    assert other.name == "dev2-a" and other.datacenter is None


def test_one_statement_serves_every_principal_with_their_own_tenants(world, admin_a, tenant_a, tenant_b, django_user_model):
    """The tenant ids are parameters of the compiled statement: a principal of B with the same
    number of tenants as A's admin sees B's objects and never A's."""
    user_b = django_user_model.objects.create_user("only-b")
    Membership.objects.create(user=user_b, tenant=tenant_b, role="viewer")
    shape = _shape("tenants")
    a, b = Principal(admin_a), Principal(user_b)
    dev_a, dev_b = world["a"]["device"], world["b"]["device"]
    assert get_visible(a, Device, shape, Device.objects.all, dev_a.pk) == dev_a
    with pytest.raises(Device.DoesNotExist):
        get_visible(b, Device, shape, Device.objects.all, dev_a.pk)
    assert get_visible(b, Device, shape, Device.objects.all, dev_b.pk) == dev_b
    with pytest.raises(Device.DoesNotExist):
        get_visible(a, Device, shape, Device.objects.all, dev_b.pk)
    # two tenants: another statement (one more parameter), and both objects
    Membership.objects.create(user=user_b, tenant=tenant_a, role="viewer")
    both = Principal(user_b)
    assert {get_visible(both, Device, shape, Device.objects.all, d.pk) for d in (dev_a, dev_b)} == {dev_a, dev_b}
    # no tenant at all: nothing, without a query
    nobody = Principal(django_user_model.objects.create_user("nobody"))
    with pytest.raises(Device.DoesNotExist):
        get_visible(nobody, Device, shape, Device.objects.all, dev_a.pk)


def test_superuser_reads_every_tenant(world, superuser):
    principal = Principal(superuser)
    for key in ("a", "b"):
        tenant = world[key]["tenant"]
        assert get_visible(principal, Tenant, _shape("super"), Tenant.objects.all, tenant.pk) == tenant


@pytest.mark.parametrize("pk", ["abc", "", None, True, -1, 0, 2**63, "9" * 30, 1.5, "1 OR 1=1"])
def test_ids_no_row_can_have_are_not_found(world, admin_a, pk):
    principal = Principal(admin_a)
    get_visible(principal, Device, _shape("bad"), Device.objects.all, world["a"]["device"].pk)  # compiled
    with pytest.raises((Device.DoesNotExist, ValueError, TypeError)):
        get_visible(principal, Device, _shape("bad"), Device.objects.all, pk)


@pytest.mark.django_db(transaction=True)
def test_a_locked_read_needs_a_transaction_where_django_says_so(world, admin_a):
    principal = Principal(admin_a)
    pool = world["a"]["pool"]
    build = lambda: IPPool.objects.select_related("network").select_for_update(of=("network",))  # noqa: E731
    with transaction.atomic():
        assert get_visible(principal, IPPool, _shape("lock"), build, pool.pk).network == world["a"]["network"]
    try:
        build().restrict(principal).get(pk=pool.pk)
    except TransactionManagementError:  # PostgreSQL
        with pytest.raises(TransactionManagementError):
            get_visible(principal, IPPool, _shape("lock"), build, pool.pk)
    else:  # SQLite has no row locks
        assert get_visible(principal, IPPool, _shape("lock"), build, pool.pk) == pool


def test_rest_detail_and_mcp_style_reads_compile_once(api, viewer_a, world, compiles):
    c = api(viewer_a)
    network = world["a"]["network"]
    assert c.get(f"/api/networks/{network.pk}/").status_code == 200
    compiles.clear()
    for _ in range(3):
        assert c.get(f"/api/networks/{network.pk}/").json()["name"] == "net-a"
    assert Network not in compiles
    assert c.get(f"/api/networks/{world['b']['network'].pk}/").status_code == 404
    assert c.get("/api/networks/abc/").status_code == 404
    assert c.get(f"/api/networks/{2**70}/").status_code == 404


def test_shapes_beyond_the_limit_are_read_the_usual_way(world, admin_a, monkeypatch, compiles):
    from inventory.runtime import precompiled

    monkeypatch.setattr(precompiled, "_compiled", {})
    monkeypatch.setattr(precompiled, "MAX_SHAPES", 2)
    principal = Principal(admin_a)
    device = world["a"]["device"]
    for i in range(5):  # e.g. five ?fields= subsets
        assert get_visible(principal, Device, _shape(f"many{i}"), Device.objects.all, device.pk) == device
    assert len(precompiled._compiled) == 2
    compiles.clear()
    assert get_visible(principal, Device, _shape("many4"), Device.objects.all, device.pk) == device
    assert compiles  # not kept: compiled again
    with pytest.raises(Device.DoesNotExist):
        get_visible(principal, Device, _shape("many4"), Device.objects.all, world["b"]["device"].pk)


@pytest.mark.parametrize("query", ["50%", "a_b", "back\\slash", "100% a_b", "web", "WEB db", "%", "_"])
def test_search_words_match_as_the_orm_matches_them(world, admin_a, query):
    """Search words go into LIKE patterns escaped as Django escapes them; the compiled search
    finds what the ORM query finds, for any characters."""
    from inventory.services import search as search_service

    tenant = world["a"]["tenant"]
    for name in ("sale-50%-off", "sale-50x-off", "a_b", "axb", "back\\slash", "web db", "webserver"):
        Device.objects.create(tenant=tenant, name=name, description=f"{name} 100% a_b")
        dc = Datacenter.objects.create(tenant=tenant, name=f"dc {name}")
        Rack.objects.create(datacenter=dc, name=f"rack {name}")
    principal = Principal(admin_a)
    words = search_service._words(query)
    expected = {
        "devices": list(search_service.devices_with(Device.objects.restrict(principal), words).order_by("name", "id")),
        "networks": list(search_service.networks_with(Network.objects.restrict(principal), words)),
        "datacenters": list(search_service.datacenters_with(Datacenter.objects.restrict(principal), words)
                            .order_by("name", "id")),
        "racks": list(search_service.racks_with(Rack.objects.restrict(principal), words).order_by("name", "id")),
    }
    for _ in range(2):  # compiled, then reused
        assert search_service.search(principal, query, limit=50) == expected
    assert search_service.search(principal, query, limit=1)["devices"] == expected["devices"][:1]


def test_a_shape_whose_value_is_changed_is_compiled_per_read(world, admin_a, compiles):
    from inventory.runtime import precompiled

    principal = Principal(admin_a)
    build = lambda word: Device.objects.filter(name=word + "-a")  # noqa: E731 - the value is changed
    assert precompiled.read(principal, _shape("changed"), build, ("dev",)) == [world["a"]["device"]]
    compiles.clear()
    assert precompiled.read(principal, _shape("changed"), build, ("dev2",)) == [world["a"]["device2"]]
    assert compiles  # compiled again: the shape was not kept
