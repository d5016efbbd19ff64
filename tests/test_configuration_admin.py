"""Admin pages of the configuration layer: role editing, "Test against device…", secrets that are
never redisplayed, the ordered role inline and effective variables on the device page; tenancy."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tenant_a, tenant_b, operator_a, operator_b):
    from inventory.configuration.models import Role, RoleAssignment, RoleTemplate, Secret
    from inventory.models import Device

    device = Device.objects.create(tenant=tenant_a, name="web1")
    role = Role.objects.create(tenant=tenant_a, name="site", defaults={"port": 8080})
    RoleTemplate.objects.create(role=role, path="/etc/site.conf", content="listen {{ port }}\npw={{ secret('pw') }}\n")
    RoleAssignment.objects.create(device=device, role=role)
    secret = Secret.objects.create(scope="device", device=device, name="pw", value="Admin-Secret-Value-1")
    role_b = Role.objects.create(tenant=tenant_b, name="b-private-role")
    secret_b = Secret.objects.create(scope="tenant", tenant=tenant_b, name="b_token", value="B-Secret-Value-2")
    return {"device": device, "role": role, "secret": secret, "role_b": role_b, "secret_b": secret_b}


def login(client, user):
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_role_pages_test_action_and_tenancy(client, setup, operator_a):
    c = login(client, operator_a)
    role, role_b = setup["role"], setup["role_b"]
    page = c.get(f"/admin/configuration/role/{role.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ui-monospace" in html and "listen {{ port }}" in html and "Test against device" in html
    listing = c.get("/admin/configuration/role/").content.decode()
    assert "site" in listing and "nginx" in listing and "b-private-role" not in listing
    assert c.get(f"/admin/configuration/role/{role_b.pk}/change/").status_code == 404
    assert c.get(f"/admin/configuration/role/{role_b.pk}/test/").status_code == 404
    # the test page renders with secrets masked
    resp = c.post(f"/admin/configuration/role/{role.pk}/test/", {"device": setup["device"].pk})
    html = resp.content.decode()
    assert resp.status_code == 200 and "Test passed" in html
    assert "listen 8080" in html and "«secret:pw»" in html and "Admin-Secret-Value-1" not in html
    # a global role: readable, not editable by a tenant operator
    from inventory.configuration.models import Role

    nginx = Role.objects.get(name="nginx", tenant__isnull=True)
    page = c.get(f"/admin/configuration/role/{nginx.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    resp = c.post(f"/admin/configuration/role/{nginx.pk}/change/", {"name": "hijacked"})
    assert resp.status_code == 403 and Role.objects.get(pk=nginx.pk).name == "nginx"
    assert c.get(f"/admin/configuration/role/{role.pk}/export/").content.decode().startswith("kind: role")


def test_secret_admin_never_shows_values(client, setup, operator_a):
    from inventory.configuration.models import Secret

    c = login(client, operator_a)
    secret = setup["secret"]
    for url in ("/admin/configuration/secret/", f"/admin/configuration/secret/{secret.pk}/change/"):
        html = c.get(url).content.decode()
        assert "Admin-Secret-Value-1" not in html and "B-Secret-Value-2" not in html and "b_token" not in html
    assert c.get(f"/admin/configuration/secret/{setup['secret_b'].pk}/change/").status_code == 404
    form = {"scope": "device", "device": setup["device"].pk, "name": "pw", "new_value": "", "generate": "on",
            "length": "24", "alphabet": ""}
    resp = c.post(f"/admin/configuration/secret/{secret.pk}/change/", form)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    value = Secret.objects.get(pk=secret.pk).value
    assert len(value) == 24 and value != "Admin-Secret-Value-1"
    html = c.get(f"/admin/configuration/secret/{secret.pk}/change/").content.decode()
    assert value not in html


def test_device_page_has_ordered_roles_and_effective_variables(client, setup, operator_a):
    c = login(client, operator_a)
    device = setup["device"]
    html = c.get(f"/admin/inventory/device/{device.pk}/change/").content.decode()
    assert "Roles (in order)" in html and "effective variables of the device" in html
    assert "b-private-role" not in html  # the role choices are the tenant's and global ones
    html = c.get(f"/admin/configuration/variable/effective/{device.pk}/").content.decode()
    assert "port" in html and "role_default" in html and "pw" in html and "Admin-Secret-Value-1" not in html
    from inventory.models import Device

    other = Device.objects.create(tenant=setup["role_b"].tenant, name="b-box")
    assert c.get(f"/admin/configuration/variable/effective/{other.pk}/").status_code == 404
