"""Tenant isolation and roles in the Django admin, for every model."""

import pytest
from django.urls import reverse

from inventory.models import (
    Datacenter, Device, DeviceRelationship, IPAddress, IPPool, Membership, Network, Tag, Tenant,
)

pytestmark = pytest.mark.django_db


def build(tenant, prefix, octet):
    dc = Datacenter.objects.create(tenant=tenant, name=f"{prefix}-dc")
    net = Network.objects.create(tenant=tenant, name=f"{prefix}-net", subnet=f"127.{100 + octet}.0.0/24", datacenter=dc)
    pool = IPPool.objects.create(network=net, name=f"{prefix}-pool", start_address=f"127.{100 + octet}.0.10",
                                 end_address=f"127.{100 + octet}.0.20")
    dev = Device.objects.create(tenant=tenant, name=f"{prefix}-dev", datacenter=dc)
    other = Device.objects.create(tenant=tenant, name=f"{prefix}-dev2", datacenter=dc)
    tag = Tag.objects.create(tenant=tenant, name=f"{prefix}-tag")
    dev.tags.add(tag)
    ip = IPAddress.objects.create(network=net, address=f"127.{100 + octet}.0.11", device=dev, dns_name=f"{prefix}-ip.example")
    rel = DeviceRelationship.objects.create(parent=dev, child=other, type="contains")
    return {"tenant": tenant, "datacenter": dc, "network": net, "ippool": pool, "device": dev, "tag": tag,
            "ipaddress": ip, "devicerelationship": rel}


@pytest.fixture
def world(tenant_a, tenant_b, make_user):
    a = build(tenant_a, "alpha", 1)
    b = build(tenant_b, "bravo", 2)
    users = {role: make_user(f"{role}_a", {tenant_a: role}) for role in ("viewer", "operator", "admin")}
    intruder = make_user("member_b", {tenant_b: "admin"})
    a["membership"] = Membership.objects.get(user=users["admin"])
    b["membership"] = Membership.objects.get(user=intruder)
    return {"a": a, "b": b, "users": users}


MODELS = ["tenant", "membership", "datacenter", "network", "ippool", "ipaddress", "device", "tag",
          "devicerelationship"]
SEARCH = {"tenant": "Tenant B", "membership": "member_b", "datacenter": "bravo", "network": "bravo",
          "ippool": "bravo", "ipaddress": "127.102.0.11", "device": "bravo", "tag": "bravo",
          "devicerelationship": "bravo"}


def url(model, view, *args):
    return reverse(f"admin:inventory_{model}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_member_of_a_never_sees_b(client, world, model, role):
    client.force_login(world["users"][role])
    mine, theirs = world["a"][model], world["b"][model]

    page = client.get(url(model, "changelist"))
    assert page.status_code == 200
    listed = {o.pk for o in page.context["cl"].result_list}
    assert mine.pk in listed and theirs.pk not in listed
    assert str(theirs) not in page.text
    assert "Tenant B" not in page.text and "bravo" not in page.text  # filters and columns too

    searched = client.get(url(model, "changelist"), {"q": SEARCH[model]})
    assert searched.status_code == 200
    assert not [o for o in searched.context["cl"].result_list if o.pk == theirs.pk]
    # the same search finds the object for a member of B: the filter, not the term, hides it

    for view in ("change", "delete", "history"):
        assert client.get(url(model, view, theirs.pk)).status_code == 404, view
    before = type(theirs).objects.filter(pk=theirs.pk).values().first()
    assert client.post(url(model, "change", theirs.pk), {"name": "pwned"}).status_code == 404
    assert client.post(url(model, "delete", theirs.pk), {"post": "yes"}).status_code == 404
    assert type(theirs).objects.filter(pk=theirs.pk).values().first() == before


@pytest.mark.parametrize("model, field, hidden", [
    ("device", "datacenter", "bravo-dc"),
    ("device", "tags", "bravo-tag"),
    ("device", "tenant", "Tenant B"),
    ("network", "datacenter", "bravo-dc"),
    ("ipaddress", "device", "bravo-dev"),
    ("ipaddress", "network", "bravo-net"),
    ("ippool", "network", "bravo-net"),
    ("devicerelationship", "child", "bravo-dev"),
])
def test_autocomplete_and_fk_choices_are_scoped(client, world, model, field, hidden):
    client.force_login(world["users"]["operator"])
    auto = client.get("/admin/autocomplete/", {"app_label": "inventory", "model_name": model,
                                                "field_name": field, "term": ""})
    assert auto.status_code == 200
    names = [r["text"] for r in auto.json()["results"]]
    assert names and not any(hidden in n for n in names)
    add = client.get(url(model, "add"))
    assert add.status_code == 200
    assert hidden not in add.text


def test_viewer_cannot_change_anything(client, world):
    client.force_login(world["users"]["viewer"])
    dev = world["a"]["device"]
    assert client.get(url("device", "add")).status_code == 403
    assert client.post(url("device", "change", dev.pk), {"name": "renamed"}).status_code == 403
    assert client.post(url("device", "delete", dev.pk), {"post": "yes"}).status_code == 403
    dev.refresh_from_db()
    assert dev.name == "alpha-dev"
    page = client.get(url("device", "change", dev.pk))
    assert page.status_code == 200 and 'name="name"' not in page.text  # read-only view


def test_operator_changes_but_only_admins_delete(client, world):
    dev = world["a"]["device"]
    client.force_login(world["users"]["operator"])
    assert client.post(url("device", "delete", dev.pk), {"post": "yes"}).status_code == 403
    client.force_login(world["users"]["admin"])
    assert client.post(url("device", "delete", dev.pk), {"post": "yes"}).status_code == 302
    assert not Device.objects.filter(pk=dev.pk).exists()


def test_operator_adds_device_only_in_own_tenant(client, world, tenant_a, tenant_b):
    client.force_login(world["users"]["operator"])
    base = {"name": "new-box", "status": "planned", "domains": "[]", "facts": "{}",
            "addresses-TOTAL_FORMS": 0, "addresses-INITIAL_FORMS": 0,
            "child_links-TOTAL_FORMS": 0, "child_links-INITIAL_FORMS": 0,
            "parent_links-TOTAL_FORMS": 0, "parent_links-INITIAL_FORMS": 0}
    refused = client.post(url("device", "add"), {**base, "tenant": tenant_b.pk})
    assert refused.status_code == 200 and "Select a valid choice" in refused.text
    assert not Device.objects.filter(name="new-box").exists()
    cross = client.post(url("device", "add"), {**base, "tenant": tenant_a.pk,
                                               "datacenter": world["b"]["datacenter"].pk})
    assert cross.status_code == 200 and not Device.objects.filter(name="new-box").exists()
    ok = client.post(url("device", "add"), {**base, "tenant": tenant_a.pk})
    assert ok.status_code == 302, ok.text[:2000]
    assert Device.objects.get(name="new-box").tenant == tenant_a


def test_tenant_admin_manages_members_but_cannot_create_tenants(client, world, make_user, tenant_a):
    client.force_login(world["users"]["admin"])
    assert client.get(url("tenant", "add")).status_code == 403
    newbie = make_user("newbie")
    r = client.post(url("membership", "add"), {"user": newbie.pk, "tenant": tenant_a.pk, "role": "viewer"})
    assert r.status_code == 302
    assert Membership.objects.filter(user=newbie, tenant=tenant_a).exists()
    client.force_login(world["users"]["operator"])
    assert client.get(url("membership", "add")).status_code == 403


def test_staff_without_membership_sees_no_data(client, world, make_user):
    staff = make_user("staff_only", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    assert client.get(url("device", "changelist")).status_code == 403
    assert client.get(url("device", "change", world["a"]["device"].pk)).status_code in (403, 404)


def test_non_member_cannot_enter_admin(client, make_user, db):
    client.force_login(make_user("nobody"))
    assert client.get("/admin/").status_code == 302


def test_dashboard_counts_only_my_tenants(client, world):
    client.force_login(world["users"]["viewer"])
    page = client.get("/admin/")
    assert page.status_code == 200
    dash = page.context["dashboard"]
    assert [r["tenant"] for r in dash["rows"]] == ["Tenant A"]
    assert dash["rows"][0]["devices"] == 2 and dash["rows"][0]["addresses"] == 1


def test_superuser_sees_everything(client, world, superuser):
    client.force_login(superuser)
    page = client.get(url("device", "changelist"))
    assert "alpha-dev" in page.text and "bravo-dev" in page.text
    assert client.get(url("tenant", "add")).status_code == 200


def test_history_shows_audit_trail_with_actor(client, world):
    client.force_login(world["users"]["operator"])
    dev = world["a"]["device"]
    data = {"tenant": dev.tenant_id, "name": "alpha-renamed", "status": "active", "domains": "[]", "facts": "{}",
            "tags": [world["a"]["tag"].pk],
            "addresses-TOTAL_FORMS": 1, "addresses-INITIAL_FORMS": 1,
            "addresses-0-id": world["a"]["ipaddress"].pk, "addresses-0-device": dev.pk,
            "addresses-0-address": "127.101.0.11", "addresses-0-network": world["a"]["network"].pk,
            "addresses-0-status": "allocated", "addresses-0-dns_name": "",
            "child_links-TOTAL_FORMS": 0, "child_links-INITIAL_FORMS": 0,
            "parent_links-TOTAL_FORMS": 0, "parent_links-INITIAL_FORMS": 0}
    r = client.post(url("device", "change", dev.pk), data)
    assert r.status_code == 302, r.context["errors"] if r.context else r
    history = client.get(url("device", "history", dev.pk))
    assert history.status_code == 200
    assert "alpha-renamed" in history.text and "operator_a" in history.text


def test_members_log_in_with_the_login_form(client, world, make_user):
    r = client.post("/admin/login/?next=/admin/", {"username": "viewer_a", "password": "pass-word-123"})
    assert r.status_code == 302 and r.url == "/admin/"
    client.logout()
    make_user("loner", password="pass-word-123")
    r = client.post("/admin/login/", {"username": "loner", "password": "pass-word-123"})
    assert r.status_code == 200 and "not a member of any tenant" in r.text
    r = client.post("/admin/login/", {"username": "viewer_a", "password": "wrong"})
    assert r.status_code == 200 and "correct username and password" in r.text
