"""Configuration layer (issue 20): rendering, precedence, roles/variables/secrets over REST, MCP
(the gateway's own call path) and the models; tenancy, bad input, YAML, shipped roles, rotation."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from tests.test_jobs_support import api

pytestmark = pytest.mark.django_db

TEMPLATE = "server {{ device.name }} port={{ port }}\npassword={{ secret('db_password') }}\n"


def mcp(user, name, args=None, **principal):
    """A tool call through the gateway's call path (argument validation, policy, audit)."""
    from inventory.tenancy import Principal
    from mcp_gateway.registry import registry
    from mcp_gateway.server import CallerEnv, execute

    return execute(registry.get(name), args or {}, CallerEnv(principal=Principal(user, **principal)))


def make_role(user, **data):
    body = {"name": "web", "defaults": {"port": 80},
            "templates": [{"path": "/etc/web.conf", "mode": "0640", "content": TEMPLATE}],
            "steps": [{"type": "upload_templates"}, {"name": "Reload", "type": "run", "args": {"command": "echo reload {{ port }}"}}],
            **data}
    resp = api(user).post("/api/roles/", body, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()


@pytest.fixture
def device_a(tenant_a):
    from inventory.models import Datacenter, Device

    dc = Datacenter.objects.create(tenant=tenant_a, name="dc-a")
    return Device.objects.create(tenant=tenant_a, name="web1", datacenter=dc)


# --- rendering -------------------------------------------------------------------------------
def render(source, **data):
    from inventory.configuration.rendering import render as do_render

    return do_render(source, data, "T")


def render_error(source, **data):
    from inventory.configuration.rendering import RenderError

    with pytest.raises(RenderError) as info:
        render(source, **data)
    return info.value


def test_undefined_variables_are_errors_with_their_line():
    err = render_error("line one\n{{ known }}\n{% if x %}{% endif %}{{ missing.value }}\n", known=1, x=0)
    assert (err.kind, err.line) == ("undefined", 3) and "'missing' is undefined" in err.message
    err = render_error("{% for a in [1] %}\n{{ a.b.c }}{% endfor %}")
    assert err.kind == "undefined" and err.line == 2


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ x.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ (1).__class__.__subclasses__() }}",
    "{{ namespace.__init__ }}",
])
def test_sandbox_escapes_are_refused(source):
    err = render_error(source, x="s")
    assert err.kind == "sandbox" and "unsafe" in err.message


def test_private_attributes_are_not_reachable():
    class Thing:
        _private = "hidden"
        public = "shown"

    assert render("{{ t.public }}", t=Thing()) == "shown"
    err = render_error("{{ t._private }}", t=Thing())
    assert err.kind in ("sandbox", "undefined") and "hidden" not in err.message


def test_size_and_time_caps(settings):
    settings.CONFIGURATION_RENDER_MAX_BYTES = 1000
    assert render_error("{{ 'a' * 100000 }}").kind == "size"
    assert render_error("{% for i in range(2000) %}x{% endfor %}").kind == "size"
    assert render_error("{{ 'a'|center(1000000) }}").kind == "size"
    assert render("{% for i in range(10) %}x{% endfor %}") == "x" * 10
    settings.CONFIGURATION_RENDER_MAX_BYTES = 262144
    settings.CONFIGURATION_RENDER_TIMEOUT = 0.3
    import time

    started = time.monotonic()
    err = render_error("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}")
    assert err.kind == "timeout" and time.monotonic() - started < 3
    err = render_error("{% set xs = [1] * 900 %}{% for a in xs %}{% for b in xs %}{% for c in xs %}"
                       "{% endfor %}{% endfor %}{% endfor %}")
    assert err.kind == "timeout"


def test_syntax_errors_name_the_line():
    from inventory.configuration.rendering import RenderError, check_syntax

    with pytest.raises(RenderError) as info:
        check_syntax("ok\n{% if %}\n", "T")
    assert info.value.kind == "syntax" and info.value.line == 2


def test_precedence_at_every_scope(tenant_a, device_a, superuser, operator_a):
    from inventory.configuration.models import Role, RoleAssignment, Variable
    from inventory.configuration.resolve import effective_variables

    role = Role.objects.create(tenant=tenant_a, name="r", defaults={"k": "role", "only_role": 1})
    assignment = RoleAssignment.objects.create(device=device_a, role=role)
    chain = [("global", {}), ("tenant", {"tenant": tenant_a}), ("datacenter", {"datacenter": device_a.datacenter})]

    def winner():
        return effective_variables(device_a)["k"]

    for scope, where in chain:
        Variable.objects.create(scope=scope, key="k", value=scope, **where)
        if scope != "datacenter":
            assert winner()["value"] == "role"  # the role default beats global and tenant...
    assert winner()["scope"] == "role_default"  # ...and datacenter
    Role.objects.filter(pk=role.pk).update(defaults={"only_role": 1})
    assert winner() == {"value": "datacenter", "scope": "datacenter", "source": f"datacenter {device_a.datacenter_id}",
                        "overrides": ["global", "tenant"]}
    Role.objects.filter(pk=role.pk).update(defaults={"k": "role", "only_role": 1})
    assignment.variables = {"k": "assignment"}
    assignment.save()
    assert winner()["value"] == "assignment" and winner()["scope"] == "role_assignment"
    Variable.objects.create(scope="device", device=device_a, key="k", value="device")
    got = winner()
    assert got["value"] == "device" and got["overrides"] == ["global", "tenant", "datacenter", "role_default",
                                                            "role_assignment"]
    # the same over REST and MCP
    data = api(operator_a).get(f"/api/devices/{device_a.pk}/variables/").json()
    row = {v["key"]: v for v in data["variables"]}
    assert row["k"]["scope"] == "device" and row["only_role"]["scope"] == "role_default"
    result, is_error = mcp(operator_a, "device_variables", {"device_id": device_a.pk})
    assert not is_error and {v["key"]: v["scope"] for v in result["variables"]} == {"k": "device",
                                                                                    "only_role": "role_default"}


# --- roles over REST: create, test, bad input ------------------------------------------------
def test_role_crud_and_test_over_rest(tenant_a, device_a, operator_a, admin_a):
    role = make_role(operator_a)
    assert role["tenant"] == tenant_a.pk and role["is_global"] is False
    assert [s["type"] for s in role["steps"]] == ["upload_templates", "run"]
    client = api(operator_a)
    # no secret yet: the test reports it, nothing runs
    result = client.post(f"/api/roles/{role['id']}/test/", {"device": device_a.pk}, format="json").json()
    assert result["ok"] is False and result["errors"][0]["kind"] == "undefined"
    assert "db_password" in result["errors"][0]["message"] and result["errors"][0]["line"] == 2
    resp = client.post("/api/secrets/", {"scope": "tenant", "tenant": tenant_a.pk, "name": "db_password",
                                         "value": "s3cr3t-Value-XYZ"}, format="json")
    assert resp.status_code == 200, resp.content
    assert "value" not in resp.json() and "s3cr3t" not in resp.content.decode()
    result = client.post(f"/api/roles/{role['id']}/test/", {"device": device_a.pk}, format="json").json()
    assert result["ok"] is True, result["errors"]
    assert result["files"][0]["content"] == "server web1 port=80\npassword=«secret:db_password»\n"
    assert result["files"][0]["mode"] == "0640"
    assert result["steps"][1]["commands"] == ["echo reload 80"]
    assert {"key": "port", "value": 80, "scope": "role_default", "source": "role web"} in result["variables"]
    assert result["secrets"] == ["db_password"]
    # update: a partial change keeps the lists
    resp = client.patch(f"/api/roles/{role['id']}/", {"description": "web server"}, format="json")
    assert resp.status_code == 200 and len(resp.json()["templates"]) == 1
    # delete needs the admin role; refused while assigned
    assert client.delete(f"/api/roles/{role['id']}/").status_code == 403
    assert client.post(f"/api/devices/{device_a.pk}/roles/", {"role": role["id"]}, format="json").status_code == 201
    assert api(admin_a).delete(f"/api/roles/{role['id']}/").status_code == 409
    assert client.delete(f"/api/devices/{device_a.pk}/roles/{role['id']}/").status_code == 204
    assert api(admin_a).delete(f"/api/roles/{role['id']}/").status_code == 204


@pytest.mark.parametrize("change, field", [
    ({"templates": [{"path": "/etc/x", "content": "ok\n{% if %}"}]}, "templates"),
    ({"templates": [{"path": "relative/x", "content": ""}]}, "templates"),
    ({"templates": [{"path": "/etc/x", "mode": "999", "content": ""}]}, "templates"),
    ({"steps": [{"type": "launch_rockets"}]}, "steps"),
    ({"steps": [{"type": "run", "args": {}}]}, "steps"),
    ({"steps": [{"type": "run", "args": {"command": "echo {{ x"}}]}, "steps"),
    ({"steps": [{"type": "ensure_service", "args": {"name": "x; rm -rf /"}}]}, "steps"),
    ({"defaults": {"port": "eighty"}, "parameters_schema": {"type": "object", "properties": {"port": {"type": "integer"}}}},
     "defaults"),
    ({"parameters_schema": {"type": "no-such-type"}}, "parameters_schema"),
    ({"defaults": {"device": 1}}, "defaults"),
    ({"defaults": ["not", "an", "object"]}, "defaults"),
    ({"name": "Bad Name"}, "name"),
])
def test_bad_roles_are_refused_with_field_errors_and_nothing_written(operator_a, change, field):
    from inventory.configuration.models import Role, RoleStep, RoleTemplate

    before = (Role.objects.count(), RoleTemplate.objects.count(), RoleStep.objects.count())
    body = {"name": "bad", "templates": [{"path": "/etc/good", "content": "fine"}],
            "steps": [{"type": "upload_templates"}], **change}
    resp = api(operator_a).post("/api/roles/", body, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json(), resp.json()
    assert (Role.objects.count(), RoleTemplate.objects.count(), RoleStep.objects.count()) == before
    # the same over MCP: INVALID_PARAMS, nothing written
    result, is_error = mcp(operator_a, "role_save", body)
    assert is_error and result["error"]["code"] == "INVALID_PARAMS", result
    assert (Role.objects.count(), RoleTemplate.objects.count(), RoleStep.objects.count()) == before


@pytest.mark.parametrize("model, values, field", [
    ("RoleTemplate", {"path": "etc/relative", "content": "x"}, "path"),
    ("RoleTemplate", {"path": "/etc/x", "mode": "999", "content": "x"}, "mode"),
    ("RoleTemplate", {"path": "/etc/x", "content": "{{ broken"}, "content"),
    ("RoleStep", {"type": "no_such_step"}, "type"),
])
def test_a_plain_save_of_a_role_part_runs_the_models_rules(operator_a, model, values, field):
    from django.core.exceptions import ValidationError

    from inventory.configuration import models as config

    role = config.Role.objects.get(pk=make_role(operator_a, name="plain")["id"])
    before = getattr(config, model).objects.count()
    with pytest.raises(ValidationError) as exc:
        getattr(config, model)(role=role, **values).save()
    assert field in exc.value.message_dict
    assert getattr(config, model).objects.count() == before


def test_dependency_cycles_are_refused(operator_a):
    client = api(operator_a)
    a = make_role(operator_a, name="a")
    b = make_role(operator_a, name="b", dependencies=[a["id"]])
    c = make_role(operator_a, name="c", dependencies=[b["id"]])
    resp = client.patch(f"/api/roles/{a['id']}/", {"dependencies": [c["id"]]}, format="json")
    assert resp.status_code == 400 and "cycle" in str(resp.json()["dependencies"])
    resp = client.patch(f"/api/roles/{a['id']}/", {"dependencies": [a["id"]]}, format="json")
    assert resp.status_code == 400 and "cycle" in str(resp.json()["dependencies"])
    assert client.get(f"/api/roles/{a['id']}/").json()["dependencies"] == []


def test_plan_order_dependencies_first_each_role_once(tenant_a, device_a, operator_a):
    from inventory.configuration.planning import device_plan_roles

    base = make_role(operator_a, name="base")
    db = make_role(operator_a, name="db", dependencies=[base["id"]])
    app = make_role(operator_a, name="app", dependencies=[db["id"], base["id"]])
    client = api(operator_a)
    for role, position in ((app, 1), (base, 0)):
        assert client.post(f"/api/devices/{device_a.pk}/roles/", {"role": role["id"], "position": position},
                           format="json").status_code == 201
    assert [r.name for r, _a in device_plan_roles(device_a)] == ["base", "db", "app"]
    rows = client.get(f"/api/devices/{device_a.pk}/roles/").json()
    assert [r["role_name"] for r in rows] == ["base", "app"]


# --- tenancy ---------------------------------------------------------------------------------
def test_other_tenants_roles_variables_secrets_are_invisible_and_unusable(tenant_a, tenant_b, device_a, operator_a,
                                                                         operator_b):
    from inventory.configuration.models import Secret, Variable
    from inventory.models import Device

    role_b = make_role(operator_b, name="b-role")
    device_b = Device.objects.create(tenant=tenant_b, name="b-box")
    var_b = Variable.objects.create(scope="tenant", tenant=tenant_b, key="k", value="b-only")
    secret_b = Secret.objects.create(scope="device", device=device_b, name="token", value="b-secret-value")
    a = api(operator_a)
    assert role_b["id"] not in [r["id"] for r in a.get("/api/roles/").json()["results"]]
    for path in (f"/api/roles/{role_b['id']}/", f"/api/variables/{var_b.pk}/", f"/api/secrets/{secret_b.pk}/",
                 f"/api/devices/{device_b.pk}/variables/", f"/api/devices/{device_b.pk}/roles/"):
        assert a.get(path).status_code == 404, path
    assert a.patch(f"/api/roles/{role_b['id']}/", {"description": "x"}, format="json").status_code == 404
    assert a.delete(f"/api/secrets/{secret_b.pk}/").status_code == 404
    assert var_b.pk not in [v["id"] for v in a.get("/api/variables/").json()["results"]]
    assert secret_b.pk not in [v["id"] for v in a.get("/api/secrets/").json()["results"]]
    # B's role on A's device: refused (does not exist for A)
    resp = a.post(f"/api/devices/{device_a.pk}/roles/", {"role": role_b["id"]}, format="json")
    assert resp.status_code == 400 and "role" in resp.json()
    # A role test of B's role, or of A's role on B's device: 404 / 400
    mine = make_role(operator_a, name="mine")
    assert a.post(f"/api/roles/{role_b['id']}/test/", {"device": device_a.pk}, format="json").status_code == 404
    assert a.post(f"/api/roles/{mine['id']}/test/", {"device": device_b.pk}, format="json").status_code == 400
    # setting values in B's scopes
    for body in ({"scope": "tenant", "tenant": tenant_b.pk, "key": "x", "value": 1},
                 {"scope": "device", "device": device_b.pk, "key": "x", "value": 1}):
        assert a.post("/api/variables/", body, format="json").status_code == 400
    # MCP: the same
    for name, args in (("role_get", {"id": role_b["id"]}), ("variable_delete", {"id": var_b.pk}),
                       ("secret_delete", {"id": secret_b.pk}), ("device_variables", {"device_id": device_b.pk}),
                       ("role_test", {"role_id": role_b["id"], "device_id": device_a.pk})):
        result, is_error = mcp(operator_a, name, args)
        assert is_error and result["error"]["code"] in ("NOT_FOUND", "FORBIDDEN"), (name, result)
    result, is_error = mcp(operator_a, "device_assign_role", {"device_id": device_a.pk, "role_id": role_b["id"]})
    assert is_error and result["error"]["code"] == "INVALID_PARAMS"
    listed, _ = mcp(operator_a, "role_list", {})
    assert role_b["id"] not in [r["id"] for r in listed["items"]]
    listed, _ = mcp(operator_a, "secret_list", {})
    assert secret_b.pk not in [s["id"] for s in listed["items"]]
    # the model refuses a cross-tenant assignment whatever the surface
    from django.core.exceptions import ValidationError

    from inventory.configuration.models import Role, RoleAssignment

    with pytest.raises(ValidationError):
        RoleAssignment.objects.create(device=device_a, role=Role.objects.get(pk=role_b["id"]))


def test_global_roles_are_usable_but_read_only_for_tenant_users(tenant_a, device_a, operator_a, admin_a, superuser):
    from inventory.configuration.models import Role

    nginx = Role.objects.get(name="nginx", tenant__isnull=True)
    a = api(admin_a)
    names = [r["name"] for r in a.get("/api/roles/?global=1").json()["results"]]
    assert {"base-hardening", "nginx", "postgresql"} <= set(names)
    assert a.get(f"/api/roles/{nginx.pk}/").json()["dependencies"] == [Role.objects.get(name="base-hardening").pk]
    assert a.patch(f"/api/roles/{nginx.pk}/", {"description": "mine now"}, format="json").status_code == 403
    assert a.delete(f"/api/roles/{nginx.pk}/").status_code == 403
    assert a.post("/api/roles/", {"name": "g", "tenant": None}, format="json").status_code == 403
    result, is_error = mcp(admin_a, "role_save", {"id": nginx.pk, "description": "x"})
    assert is_error and result["error"]["code"] == "FORBIDDEN"
    result, is_error = mcp(admin_a, "role_delete", {"id": nginx.pk})
    assert is_error and result["error"]["code"] == "FORBIDDEN"
    assert Role.objects.get(pk=nginx.pk).description != "x"
    # usable: assign it to a device of the tenant
    assert a.post(f"/api/devices/{device_a.pk}/roles/", {"role": nginx.pk}, format="json").status_code == 201
    # global variables / secrets: superusers only
    assert a.post("/api/variables/", {"scope": "global", "key": "ntp", "value": "pool"}, format="json").status_code == 403
    s = api(superuser)
    assert s.post("/api/variables/", {"scope": "global", "key": "ntp", "value": "pool"}, format="json").status_code == 200
    assert s.patch(f"/api/roles/{nginx.pk}/", {"description": "edited by a superuser"}, format="json").status_code == 200
    assert [v["key"] for v in a.get("/api/variables/?scope=global").json()["results"]] == ["ntp"]


# --- secrets ---------------------------------------------------------------------------------
def test_secrets_write_only_generate_and_rotation(tenant_a, device_a, operator_a, settings):
    from inventory.configuration.models import Secret

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    client = api(operator_a)
    resp = client.post("/api/secrets/", {"scope": "device", "device": device_a.pk, "name": "api_token",
                                         "generate": True, "length": 40, "alphabet": "abcdef0123456789"}, format="json")
    assert resp.status_code == 200, resp.content
    row = Secret.objects.get(name="api_token")
    assert len(row.value) == 40 and set(row.value) <= set("abcdef0123456789")
    assert row.value not in resp.content.decode() and row.changed_by == operator_a
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM configuration_secret WHERE id = %s", [row.pk])
        stored = cursor.fetchone()[0]
    assert row.value not in stored and stored.startswith("gAAAA")
    listed = client.get("/api/secrets/").json()["results"]
    assert listed[0]["name"] == "api_token" and "value" not in listed[0] and listed[0]["changed_by"] == operator_a.username
    assert row.value not in str(client.get(f"/api/secrets/{row.pk}/").content)
    result, is_error = mcp(operator_a, "secret_list", {})
    assert not is_error and row.value not in str(result) and result["items"][0]["name"] == "api_token"
    # setting it again replaces the value (same row)
    client.post("/api/secrets/", {"scope": "device", "device": device_a.pk, "name": "api_token", "value": "v2-value"},
                format="json")
    assert Secret.objects.get(pk=row.pk).value == "v2-value"
    # bad input
    assert client.post("/api/secrets/", {"scope": "device", "device": device_a.pk, "name": "x"},
                       format="json").status_code == 400
    assert client.post("/api/secrets/", {"scope": "device", "device": device_a.pk, "name": "x", "value": "a",
                                         "generate": True}, format="json").status_code == 400
    assert client.post("/api/secrets/", {"scope": "device", "name": "x", "value": "abc"}, format="json").status_code == 400
    # rotation keeps them decryptable
    settings.FIELD_ENCRYPTION_KEYS = f"{new},{old}"
    call_command("rotate_field_keys", stdout=open(os.devnull, "w"))
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert Secret.objects.get(pk=row.pk).value == "v2-value"
    # the audit log has the change but not the value
    from auditlog.models import LogEntry

    entries = LogEntry.objects.filter(object_repr__contains="api_token")
    assert entries.exists() and all("v2-value" not in str(e.changes) for e in entries)


def test_mcp_secret_set_value_is_redacted_in_the_mcp_audit(tenant_a, device_a, operator_a):
    from mcp_gateway.models import McpCall

    result, is_error = mcp(operator_a, "secret_set", {"scope": "tenant", "scope_id": tenant_a.pk, "name": "db_password",
                                                       "value": "Very-Secret-Mcp-Value"})
    assert not is_error, result
    assert "Very-Secret-Mcp-Value" not in str(result)
    call = McpCall.objects.filter(tool="secret_set").latest("id")
    assert "Very-Secret-Mcp-Value" not in str(call.arguments)


# --- YAML and shipped roles ------------------------------------------------------------------
def test_yaml_export_import_round_trip(tenant_a, device_a, operator_a):
    role = make_role(operator_a, name="exported", description="multi\nline")
    client = api(operator_a)
    text = client.get(f"/api/roles/{role['id']}/export/").content.decode()
    assert "kind: role" in text and "name: exported" in text
    resp = client.post("/api/roles/import/", {"document": text.replace("name: exported", "name: imported")},
                       format="json")
    assert resp.status_code == 201, resp.content
    copy = resp.json()
    for key in ("description", "defaults", "templates", "steps"):
        assert copy[key] == role[key], key
    # importing again replaces the same-named role
    resp = client.post("/api/roles/import/", {"document": text.replace("name: exported", "name: imported")
                       .replace("port: 80", "port: 81")}, format="json")
    assert resp.json()["id"] == copy["id"] and resp.json()["defaults"] == {"port": 81}
    # bad documents
    for bad in ("- just a list", "kind: role\nname: x\nunknown: 1", "kind: role\nname: [", "kind: blueprint\nname: x",
                "kind: role\nname: x\ndependencies: [nope]", "kind: role\nname: x\ndefaults: &a {k: 1}\ndescription: *a"):
        resp = client.post("/api/roles/import/", {"document": bad}, format="json")
        assert resp.status_code == 400, (bad, resp.content)
    result, is_error = mcp(operator_a, "role_get", {"id": role["id"], "format": "yaml"})
    assert not is_error and result["document"] == text


def test_shipped_roles_render_for_a_device(tenant_a, device_a, operator_a):
    from inventory.configuration.models import Role
    from inventory.configuration.planning import preview
    from inventory.configuration.shipped import shipped_files

    assert len(shipped_files()) == 3
    client = api(operator_a)
    base = Role.objects.get(name="base-hardening", tenant__isnull=True)
    client.post(f"/api/devices/{device_a.pk}/roles/", {"role": base.pk, "variables": {
        "admin_users": [{"name": "alice", "ssh_key": "ssh-ed25519 AAAAC3 alice"}]}}, format="json")
    for name in ("base-hardening", "nginx", "postgresql"):
        role = Role.objects.get(name=name, tenant__isnull=True)
        result = preview(role, device_a)
        if name == "postgresql":  # needs its secret
            assert not result["ok"] and "db_password" in result["errors"][0]["message"]
            client.post("/api/secrets/", {"scope": "device", "device": device_a.pk, "name": "db_password",
                                          "generate": True}, format="json")
            result = preview(role, device_a)
        assert result["ok"], (name, result["errors"])
        assert result["files"] and all(f["content"] for f in result["files"])
    sshd = preview(base, device_a)["files"][0]["content"]
    assert "PermitRootLogin no" in sshd and "AllowUsers alice" in sshd
    pg = preview(Role.objects.get(name="postgresql"), device_a)
    assert "«secret:db_password»" in " ".join(c for s in pg["steps"] for c in s["commands"])
    # the schema guards the variables: a wrong type fails the test
    client.post(f"/api/devices/{device_a.pk}/roles/", {"role": base.pk, "variables": {"ssh_port": "22"}},
                format="json")
    result = preview(base, device_a)
    assert not result["ok"] and result["errors"][0]["kind"] == "schema"


def test_step_type_registry_is_extensible(tenant_a, device_a, operator_a):
    from inventory.configuration import steps

    def expand(step):
        return [steps.Operation.file("/etc/mesh.conf", step.render(step.args["config"], "config"), mode="0600"),
                steps.Operation.shell("systemctl restart mesh")]

    steps.register("join_mesh_test", expand, template_args=("config",),
                   schema={"type": "object", "properties": {"config": {"type": "string"}}, "required": ["config"]})
    try:
        with pytest.raises(ValueError):
            steps.register("join_mesh_test", expand, schema={})
        role = make_role(operator_a, name="meshy", steps=[{"type": "join_mesh_test", "args": {"config": "peer={{ device.name }}"}}])
        result = api(operator_a).post(f"/api/roles/{role['id']}/test/", {"device": device_a.pk}, format="json").json()
        assert result["files"][-1] == {"kind": "file", "path": "/etc/mesh.conf", "mode": "0600", "owner": "", "group": "",
                                       "content": "peer=web1", "step": "join_mesh_test"}
        assert result["steps"][0]["commands"] == ["systemctl restart mesh"]
        resp = api(operator_a).post("/api/roles/", {"name": "bad-mesh", "steps": [{"type": "join_mesh_test", "args": {}}]},
                                    format="json")
        assert resp.status_code == 400
    finally:
        steps._TYPES.pop("join_mesh_test", None)
