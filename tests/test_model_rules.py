"""The model is the one validation door: each bad input is fed through every path that writes
(admin POST, REST, MCP, a service call as jobs make it, a plain ``save()``) and each path must
refuse it with the model's message and write nothing.

A rule whose input a path cannot even express says so in ``NOT_EXPRESSIBLE`` (and the test then
checks that the path cannot reach the bad state some other way).
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from rest_framework import exceptions as drf
from rest_framework.test import APIClient

from inventory.models import Datacenter, Device, IPAddress, IPPool, Membership, Network, Tag
from inventory.services.common import save_model
from inventory.tenancy import Principal
from mcp_gateway.registry import registry
from mcp_gateway.server import CallerEnv, execute

pytestmark = pytest.mark.django_db

PATHS = ["admin", "rest", "mcp", "service", "save"]

MOVE = "Objects cannot move between tenants."
POOL = "A pool cannot move to another network."
MEMBER = "Cannot be changed; delete the membership and create another."
DOMAIN = "Not a valid DNS domain: 'not a domain!!'."
HELD = "is already assigned to device 'holder'"
TAG = "bravo-tag belongs to another tenant."


@pytest.fixture
def world(tenant_a, tenant_b, make_user):
    """Tenants A and B, an admin of both (so every refusal below is the rule's, not the role's)."""
    user = make_user("both", {tenant_a: "admin", tenant_b: "admin"})
    other = make_user("other")
    net = Network.objects.create(tenant=tenant_a, name="net-a", subnet="127.101.0.0/24")
    net2 = Network.objects.create(tenant=tenant_a, name="net-a2", subnet="127.102.0.0/24")
    pool = IPPool.objects.create(network=net, name="pool-a", start_address="127.101.0.10", end_address="127.101.0.20")
    device = Device.objects.create(tenant=tenant_a, name="alpha")
    holder = Device.objects.create(tenant=tenant_a, name="holder")
    address = IPAddress.objects.create(network=net, address="127.101.0.5", device=holder)
    tag_b = Tag.objects.create(tenant=tenant_b, name="bravo-tag")
    membership = Membership.objects.create(user=other, tenant=tenant_a, role="viewer")
    return {"a": tenant_a, "b": tenant_b, "user": user, "other": other, "net": net, "net2": net2, "pool": pool,
            "device": device, "holder": holder, "address": address, "tag_b": tag_b, "membership": membership}


def snapshot(w) -> tuple:
    """Everything the bad inputs could change."""
    device = Device.objects.get(pk=w["device"].pk)
    return (device.tenant_id, device.domains, sorted(device.tags.values_list("pk", flat=True)),
            IPPool.objects.get(pk=w["pool"].pk).network_id,
            Membership.objects.get(pk=w["membership"].pk).user_id,
            IPAddress.objects.get(pk=w["address"].pk).device_id,
            Tag.objects.filter(name="bravo-tag").count())


# --- the paths ---------------------------------------------------------------------------------
def admin_post(client, w, model: str, obj, data: dict):
    client.force_login(w["user"])
    url = reverse(f"admin:inventory_{model}_change", args=[obj.pk])
    # the page's inlines, whatever apps add them (roles, ...), post their management forms empty
    for formset in client.get(url).context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        data.setdefault(f"{prefix}-TOTAL_FORMS", formset.formset.initial_form_count())
        data.setdefault(f"{prefix}-INITIAL_FORMS", formset.formset.initial_form_count())
    return client.post(url, data)


def device_form(w, **changes) -> dict:
    data = {"tenant": w["a"].pk, "name": "alpha", "status": "planned", "domains": "[]", "facts": "{}"}
    data.update(changes)
    return data


def admin_errors(response) -> str:
    assert response.status_code == 200, f"the admin accepted the input ({response.status_code})"
    return json.dumps(response.context["adminform"].form.errors.get_json_data()
                      | {"inline": [f.errors for f in response.context["inline_admin_formsets"] for f in f.formset.forms]},
                      default=str)


def rest(w, method: str, path: str, data: dict):
    client = APIClient()
    client.force_login(w["user"])
    response = getattr(client, method)(path, data, format="json")
    assert response.status_code == 400, (response.status_code, response.content[:500])
    return json.dumps(response.json())


def mcp(w, tool: str, args: dict):
    env = CallerEnv(principal=Principal(w["user"], via="api_key"), ip="127.0.0.1", user_agent="pytest")
    result, is_error = execute(registry.get(tool), args, env)
    assert is_error and result["error"]["code"] == "INVALID_PARAMS", result
    return json.dumps(result["error"]["details"])


def service(obj):
    """What services and jobs do (inventory.services.common.save_model): a DRF 400."""
    with pytest.raises(drf.ValidationError) as caught:
        save_model(obj)
    return json.dumps(caught.value.detail)


def plain_save(obj):
    with pytest.raises(ValidationError) as caught, transaction.atomic():
        obj.save()
    return json.dumps(caught.value.message_dict)


# --- the rules ---------------------------------------------------------------------------------
def move_device(path, w, client):
    device = Device.objects.get(pk=w["device"].pk)
    if path == "admin":
        # the admin shows the tenant read-only once the device exists: a posted tenant is ignored
        response = admin_post(client, w, "device", device, device_form(w, tenant=w["b"].pk))
        assert response.status_code == 302
        page = client.get(reverse("admin:inventory_device_change", args=[device.pk]))
        assert 'name="tenant"' not in page.text
        # and a form that offers the field (a custom admin) gets the model's refusal
        from django.forms import modelform_factory

        from inventory.admin.base import TenantOwnedForm

        form = modelform_factory(Device, form=TenantOwnedForm, fields=["tenant", "name", "status", "domains", "facts"])(
            {"tenant": w["b"].pk, "name": "alpha", "status": "planned", "domains": "[]", "facts": "{}"}, instance=device)
        assert not form.is_valid()
        return json.dumps(form.errors.get_json_data())
    if path == "rest":
        return rest(w, "patch", f"/api/devices/{device.pk}/", {"tenant": w["b"].pk})
    if path == "mcp":
        return mcp(w, "device_save", {"id": device.pk, "tenant_id": w["b"].pk})
    device.tenant = w["b"]
    return service(device) if path == "service" else plain_save(device)


def foreign_tag(path, w, client):
    device = Device.objects.get(pk=w["device"].pk)
    if path == "admin":
        return admin_errors(admin_post(client, w, "device", device, device_form(w, tags=[w["tag_b"].pk])))
    if path in ("rest", "mcp"):
        # tags are given by name and always resolve in the device's own tenant
        if path == "rest":
            client = APIClient()
            client.force_login(w["user"])
            assert client.patch(f"/api/devices/{device.pk}/", {"tags": ["bravo-tag"]}, format="json").status_code == 200
        else:
            env = CallerEnv(principal=Principal(w["user"], via="api_key"), ip="127.0.0.1", user_agent="pytest")
            assert not execute(registry.get("device_save"), {"id": device.pk, "tags": ["bravo-tag"]}, env)[1]
        linked = device.tags.get()
        assert linked.tenant_id == w["a"].pk and linked.pk != w["tag_b"].pk
        linked.delete()
        return TAG  # not expressible: see NOT_EXPRESSIBLE
    with pytest.raises(ValidationError) as caught, transaction.atomic():
        if path == "service":
            device.tags.set([w["tag_b"]])  # what a job linking tags does
        else:
            device.tags.add(w["tag_b"])
    return json.dumps(caught.value.message_dict)


def bad_domain(path, w, client):
    device = Device.objects.get(pk=w["device"].pk)
    if path == "admin":
        return admin_errors(admin_post(client, w, "device", device, device_form(w, domains='["not a domain!!"]')))
    if path == "rest":
        return rest(w, "patch", f"/api/devices/{device.pk}/", {"domains": ["not a domain!!"]})
    if path == "mcp":
        return mcp(w, "device_save", {"id": device.pk, "domains": ["not a domain!!"]})
    device.domains = ["not a domain!!"]
    return service(device) if path == "service" else plain_save(device)


def move_pool(path, w, client):
    pool = IPPool.objects.get(pk=w["pool"].pk)
    if path == "admin":
        response = admin_post(client, w, "ippool", pool, {
            "network": w["net2"].pk, "name": "pool-a", "start_address": "127.101.0.10", "end_address": "127.101.0.20",
            "description": ""})
        assert response.status_code == 302  # the posted network is ignored
        page = client.get(reverse("admin:inventory_ippool_change", args=[pool.pk]))
        assert 'name="network"' not in page.text  # read-only once the pool exists
        return POOL
    if path == "rest":
        return rest(w, "patch", f"/api/pools/{pool.pk}/", {"network": w["net2"].pk})
    if path == "mcp":
        return mcp(w, "pool_save", {"id": pool.pk, "network_id": w["net2"].pk})
    pool.network = w["net2"]
    return service(pool) if path == "service" else plain_save(pool)


def change_member(path, w, client):
    membership = Membership.objects.get(pk=w["membership"].pk)
    if path == "admin":
        response = admin_post(client, w, "membership", membership, {
            "user": w["user"].pk, "tenant": w["a"].pk, "role": "viewer"})
        assert response.status_code == 302
        page = client.get(reverse("admin:inventory_membership_change", args=[membership.pk]))
        assert 'name="user"' not in page.text and 'name="tenant"' not in page.text  # read-only
        return MEMBER
    if path == "rest":
        return rest(w, "patch", f"/api/memberships/{membership.pk}/", {"user": "both"})
    if path == "mcp":
        assert registry.get("membership_save") is None
        return MEMBER  # not expressible: see NOT_EXPRESSIBLE
    membership.user = w["user"]
    if path == "service":
        return service(membership)
    with pytest.raises(ValidationError) as caught, transaction.atomic():
        membership.save()
    return json.dumps(caught.value.message_dict)


def held_address(path, w, client):
    device, address = Device.objects.get(pk=w["device"].pk), IPAddress.objects.get(pk=w["address"].pk)
    if path == "admin":
        return admin_errors(admin_post(client, w, "ipaddress", address, {
            "address": "127.101.0.5", "network": w["net"].pk, "status": "allocated", "device": device.pk,
            "dns_name": "", "description": ""}))
    if path == "rest":
        return rest(w, "patch", f"/api/devices/{device.pk}/", {"addresses": [{"ip": "127.101.0.5"}]})
    if path == "mcp":
        return mcp(w, "device_save", {"id": device.pk, "addresses": [{"ip": "127.101.0.5"}]})
    if path == "service":
        from inventory.services.devices import set_addresses

        with pytest.raises(drf.ValidationError) as caught, transaction.atomic():
            set_addresses(device, [{"ip": "127.101.0.5"}])
        return json.dumps(caught.value.detail)
    address.device = device
    return plain_save(address)


RULES = {
    "device moved to another tenant": (move_device, MOVE),
    "device given another tenant's tag": (foreign_tag, TAG),
    "device with an invalid domain": (bad_domain, DOMAIN),
    "pool moved to another network": (move_pool, POOL),
    "membership given another user": (change_member, MEMBER),
    "address held by another device": (held_address, HELD),
}
#: (rule, path) pairs whose input the path has no way to express
NOT_EXPRESSIBLE = {
    ("device given another tenant's tag", "rest"): "tags are names, created in the device's tenant",
    ("device given another tenant's tag", "mcp"): "tags are names, created in the device's tenant",
    ("membership given another user", "mcp"): "no MCP tool writes memberships",
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rule", list(RULES))
def test_every_path_refuses_with_the_models_message(client, world, rule, path):
    feed, message = RULES[rule]
    before = snapshot(world)
    said = feed(path, world, client)
    assert message in said, f"{rule} via {path}: {said}"
    assert snapshot(world) == before, f"{rule} via {path} wrote something"
    assert (rule, path) not in NOT_EXPRESSIBLE or said == message


def test_tags_of_the_tenant_still_link(world):
    """The guard refuses only foreign links: the device's own tags link from every side."""
    device = world["device"]
    mine = Tag.objects.create(tenant=world["a"], name="mine")
    device.tags.add(mine)
    mine.devices.add(world["holder"])
    assert set(mine.devices.values_list("name", flat=True)) == {"alpha", "holder"}
    with pytest.raises(ValidationError), transaction.atomic():
        world["tag_b"].devices.add(device)  # the reverse side is guarded as well


def test_a_released_address_can_be_assigned(world):
    address = world["address"]
    address.device = None
    address.save()
    address.device = world["device"]
    address.save()
    assert IPAddress.objects.get(pk=address.pk).device_id == world["device"].pk


def test_datacenter_keeps_its_tenant_and_counts_stay_right(world):
    """A moved row would leave the cached per-tenant counts wrong: none can move."""
    dc = Datacenter.objects.create(tenant=world["a"], name="dc")
    dc.tenant = world["b"]
    with pytest.raises(ValidationError) as caught, transaction.atomic():
        dc.save()
    assert caught.value.message_dict == {"tenant": [MOVE]}
