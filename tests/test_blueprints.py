"""Blueprints without machines: documents validated on save (REST, model, admin refuse the same
input with the step and field), parameters checked against the blueprint's schema, plans (dry
runs change nothing), confirmation, sources and tenancy (private, official, community;
publishing copies only the document), secret parameters masked and sealed.

The runs themselves (a real worker over SSH: failure mid-way and resume) are in
tests/test_blueprints_ssh.py; webserver-cluster on three real machines with a real mesh in
tests/test_blueprints_e2e.py."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.test_jobs_support import api

pytestmark = pytest.mark.django_db

SECRET = "Bp-Secret-Param-7c1e9"


def doc(**overrides) -> dict:
    base = {
        "name": "app-stack", "version": "1.0.0", "title": "App stack", "description": "Test blueprint.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["tag"], "properties": {
            "tag": {"type": "string", "minLength": 1},
            "count": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
            "token": {"type": "string", "writeOnly": True},
            "flavour": {"type": "string", "enum": ["small", "large"], "default": "small"}}},
        "steps": [
            {"id": "nodes", "action": "select_devices", "args": {"tag": "{{ params.tag }}", "count": "{{ params.count }}"}},
            {"id": "flavour", "action": "set_variable",
             "args": {"key": "flavour", "value": "{{ params.flavour }}", "scope": "device",
                      "devices": "{{ steps.nodes.devices }}"}},
            {"id": "token", "action": "set_secret", "args": {"name": "app_token", "value": "{{ params.token }}"}},
            {"id": "result", "action": "output", "args": {"values": {"nodes": "{{ steps.nodes.devices }}",
                                                                     "count": "{{ steps.nodes.count }}"}}},
        ],
    }
    base.update(overrides)
    return base


def tagged(tenant, names, tag="web"):
    from inventory.models import Device, Tag

    t, _ = Tag.objects.get_or_create(tenant=tenant, name=tag)
    out = []
    for name in names:
        d = Device.objects.create(tenant=tenant, name=name)
        d.tags.add(t)
        out.append(d)
    return out


def test_official_blueprints_are_installed_read_only_and_valid(operator_a, tenant_a):
    from inventory.blueprints.models import Blueprint

    assert set(Blueprint.objects.filter(source="official").values_list("name", flat=True)) == {
        "webserver-cluster", "database-replica-set", "baseline"}
    client = api(operator_a)
    r = client.get("/api/blueprints/?source=official")
    assert r.status_code == 200 and r.json()["count"] == 3, r.content
    web = next(b for b in r.json()["results"] if b["name"] == "webserver-cluster")
    r = client.get(f"/api/blueprints/{web['id']}/")
    assert r.status_code == 200
    params = r.json()["parameters"]["properties"]
    assert params["count"]["default"] == 3 and params["count"]["description"]
    assert "select_devices" in r.json()["yaml"]
    # official blueprints are read-only for tenants
    assert client.delete(f"/api/blueprints/{web['id']}/").status_code == 403
    r = client.put(f"/api/blueprints/{web['id']}/", {"document": r.json()["document"]}, format="json")
    assert r.status_code == 403
    assert client.get("/api/blueprints/?query=mesh").json()["count"] >= 2


@pytest.mark.parametrize("change, field_text", [
    (lambda d: d["steps"].append({"id": "oops", "action": "format_disk", "args": {}}),
     "steps[4] (oops).action: unknown action 'format_disk'"),
    (lambda d: d["steps"][0]["args"].update(count="{{ params.missing }}"),
     "steps[0] (nodes).args.count: unknown parameter params.missing"),
    (lambda d: d["steps"][1]["args"].update(value="{{ steps.result.nodes }}"),
     "steps.result is a later step"),
    (lambda d: d["steps"][1]["args"].update(value="{{ steps.flavour.key }}"),
     "steps.flavour is this step itself (a cycle)"),
    (lambda d: d["steps"][0]["args"].update(colour="red"), "unknown argument(s) colour for select_devices"),
    (lambda d: d["steps"][2]["args"].pop("name"), "set_secret needs name"),
    (lambda d: d["steps"][0]["args"].update(tag="{{ params.tag "), "steps[0] (nodes).args.tag: template error"),
    (lambda d: d.update(version="1.0"), "version"),
    (lambda d: d["steps"].append({"id": "nodes", "action": "output", "args": {"values": {}}}),
     "'nodes' is used by an earlier step"),
    (lambda d: d["parameters"]["properties"]["count"].update(default="three"), "parameters.properties.count.default"),
])
def test_bad_documents_are_refused_with_the_step_and_field(operator_a, tenant_a, change, field_text):
    from django.core.exceptions import ValidationError

    from inventory.blueprints.models import Blueprint

    bad = doc()
    change(bad)
    client = api(operator_a)
    r = client.post("/api/blueprints/", {"document": yaml.safe_dump(bad)}, format="json")
    assert r.status_code == 400, r.content
    assert any(field_text in m for m in r.json()["document"]), r.json()
    # the model refuses it the same way (the one door: admin, MCP, imports go through it)
    with pytest.raises(ValidationError) as caught:
        Blueprint(source="private", tenant=tenant_a, document=bad).save()
    assert any(field_text in m for m in caught.value.message_dict["document"])
    assert not Blueprint.objects.filter(source="private").exists()


def test_document_as_json_text_and_not_a_mapping(operator_a, tenant_a):
    client = api(operator_a)
    r = client.post("/api/blueprints/", {"document": json.dumps(doc())}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["source"] == "private" and r.json()["tenant"] == tenant_a.pk
    r = client.post("/api/blueprints/", {"document": "- just\n- a list\n"}, format="json")
    assert r.status_code == 400 and "mapping" in r.json()["document"][0]
    r = client.post("/api/blueprints/", {"document": "a: &x 1\nb: *x\n"}, format="json")
    assert r.status_code == 400 and "aliases" in r.json()["document"][0]


def test_parameters_are_checked_per_field_and_nothing_changes(operator_a, tenant_a):
    from inventory.configuration.models import Secret, Variable

    tagged(tenant_a, ["n1", "n2"])
    client = api(operator_a)
    assert client.post("/api/blueprints/", {"document": doc()}, format="json").status_code == 201
    for params, field, text in [
        ({"tag": "web", "count": "two"}, "count", "integer"),
        ({"tag": "web", "count": 9}, "count", "maximum"),
        ({"count": 1}, "tag", "required"),
        ({"tag": "web", "flavour": "huge"}, "flavour", "small"),
        ({"tag": "web", "colour": "red"}, "colour", "Unknown parameter"),
    ]:
        r = client.post("/api/blueprints/use/", {"name": "app-stack", "params": params, "dry_run": True}, format="json")
        assert r.status_code == 400, (params, r.content)
        assert field in r.json()["params"] and text in " ".join(r.json()["params"][field]), r.json()
    # a plan that cannot be made names the step and the field
    r = client.post("/api/blueprints/use/", {"name": "app-stack", "params": {"tag": "web", "count": 3},
                                             "dry_run": True}, format="json")
    assert r.status_code == 400 and "step nodes (select_devices) args.count: found 2 device(s)" in r.json()["plan"][0]
    r = client.post("/api/blueprints/use/", {"name": "app-stack", "params": {"tag": "db"}, "dry_run": True},
                    format="json")
    assert r.status_code == 400 and "no device tagged 'db'" in r.json()["plan"][0]
    r = client.post("/api/blueprints/use/", {"name": "nope", "params": {}, "dry_run": True}, format="json")
    assert r.status_code == 404
    assert not Variable.objects.exists() and not Secret.objects.exists()


def test_a_template_referencing_a_missing_value_fails_the_plan(operator_a, tenant_a):
    tagged(tenant_a, ["n1"])
    bad = doc()
    bad["steps"][1]["args"]["value"] = "{{ steps.nodes.nothing_here }}"
    client = api(operator_a)
    assert client.post("/api/blueprints/", {"document": bad}, format="json").status_code == 201
    r = client.post("/api/blueprints/use/", {"name": "app-stack", "params": {"tag": "web"}, "dry_run": True},
                    format="json")
    assert r.status_code == 400 and "step flavour (set_variable) args.value" in r.json()["plan"][0], r.json()
    assert "nothing_here" in r.json()["plan"][0]


def test_webserver_cluster_dry_run_plans_everything_and_changes_nothing(operator_a, tenant_a):
    from inventory.configuration.models import Role, RoleAssignment, Variable
    from inventory.mesh.models import Mesh, MeshPeer

    tagged(tenant_a, ["web1", "web2", "web3", "web4"])
    before = (Role.objects.count(), RoleAssignment.objects.count(), Variable.objects.count(), Mesh.objects.count())
    r = api(operator_a).post("/api/blueprints/use/", {"name": "webserver-cluster", "params": {"count": 3},
                                                      "dry_run": True}, format="json")
    assert r.status_code == 200, r.content
    plan = r.json()["plan"]
    steps = {s["id"]: s for s in plan["steps"]}
    assert steps["web"]["outputs"]["devices"] == ["web1", "web2", "web3"]
    assert [c["op"] for c in steps["upstreams"]["changes"]] == ["create_role"]
    assert steps["mesh"]["changes"][0]["op"] == "create_mesh"
    assert sorted(c["target"] for c in steps["join"]["changes"] if c["op"] == "add_peer") == [
        "web1 in mesh web-mesh", "web2 in mesh web-mesh", "web3 in mesh web-mesh"]
    assert len([c for c in steps["join"]["changes"] if c["op"] == "install_mesh_config"]) == 3
    assert steps["join"]["outputs"]["addresses"]["web1"].startswith("«pending")
    assert [c["target"] for c in steps["assign_nginx"]["changes"]] == ["nginx on web1", "nginx on web2", "nginx on web3"]
    assert [c["target"] for c in steps["provision"]["changes"]] == ["web1", "web2", "web3"]
    assert steps["mesh_up"]["checks"][0]["target"] == "web-mesh"
    assert plan["outputs"]["servers"] == ["web1", "web2", "web3"]
    assert plan["changes"] > 10 and plan["confirmation_required"] is False
    after = (Role.objects.count(), RoleAssignment.objects.count(), Variable.objects.count(), Mesh.objects.count())
    assert before == after and not MeshPeer.objects.exists()


def test_database_replica_set_dry_run(operator_a, tenant_a):
    from inventory.configuration.models import Secret
    from inventory.models import Device

    for name in ("db1", "db2", "db3"):
        Device.objects.create(tenant=tenant_a, name=name)
    r = api(operator_a).post("/api/blueprints/use/", {
        "name": "database-replica-set", "params": {"primary": "db1", "replicas": ["db2", "db3"]}, "dry_run": True},
        format="json")
    assert r.status_code == 200, r.content
    plan = r.json()["plan"]
    steps = {s["id"]: s for s in plan["steps"]}
    assert steps["primary"]["outputs"]["devices"] == ["db1"] and steps["replicas"]["outputs"]["devices"] == ["db2", "db3"]
    assert steps["replication_secret"]["changes"] == [{"op": "generate_secret", "target": "replication_password (tenant)"}]
    assert [c["target"] for c in steps["join"]["changes"] if c["op"] == "add_peer"] == [
        "db1 in mesh db-mesh", "db2 in mesh db-mesh", "db3 in mesh db-mesh"]
    assert [c["target"] for c in steps["assign_primary"]["changes"]] == ["postgresql on db1"]
    assert [c["target"] for c in steps["assign_replicas"]["changes"]] == ["postgresql-replica on db2",
                                                                          "postgresql-replica on db3"]
    assert steps["assign_replicas"]["changes"][0]["variables"]["primary_host"] == "«pending: overlay address of db1»"
    assert plan["outputs"]["primary"] == "db1" and plan["outputs"]["replicas"] == ["db2", "db3"]
    assert not Secret.objects.exists()


def test_confirmation_for_wide_plans(operator_a, tenant_a):
    from inventory.blueprints.models import BlueprintRun
    from inventory.models import Device, Network

    Network.objects.create(tenant=tenant_a, name="lab", subnet="127.88.0.0/24")
    wide = {"name": "many", "version": "0.1.0", "parameters": {"type": "object", "properties": {
        "n": {"type": "integer", "default": 4}}},
            "steps": [{"id": "nodes", "action": "select_devices",
                       "args": {"create": {"pattern": "node-{n}", "count": "{{ params.n }}", "network": "lab"}}}]}
    client = api(operator_a)
    assert client.post("/api/blueprints/", {"document": wide}, format="json").status_code == 201
    r = client.post("/api/blueprints/use/", {"name": "many", "dry_run": True}, format="json")
    plan = r.json()["plan"]
    assert plan["confirmation_required"] and "creates 4 devices" in plan["confirmation_reasons"][0]
    assert [c["op"] for c in plan["steps"][0]["changes"]] == ["create_device"] * 4 and r.json()["confirm"]
    r2 = client.post("/api/blueprints/use/", {"name": "many"}, format="json")
    assert r2.status_code == 409 and "needs confirmation" in r2.json()["detail"]
    r3 = client.post("/api/blueprints/use/", {"name": "many", "confirm": "0" * 32}, format="json")
    assert r3.status_code == 409
    r4 = client.post("/api/blueprints/use/", {"name": "many", "params": {"n": 5}, "confirm": r.json()["confirm"]},
                     format="json")
    assert r4.status_code == 409, "a token confirms that plan only"
    assert not Device.objects.exists() and not BlueprintRun.objects.exists()
    r5 = client.post("/api/blueprints/use/", {"name": "many", "confirm": r.json()["confirm"]}, format="json")
    assert r5.status_code == 202, r5.content
    run = BlueprintRun.objects.get(pk=r5.json()["run_id"])
    assert run.status == "queued" and run.job.kind == "blueprint" and run.job.tenant_id == tenant_a.pk
    assert client.get(f"/api/blueprint-runs/{run.pk}/").json()["plan"]["changes"] == 4


def test_viewer_cannot_use_and_operator_cannot_publish(viewer_a, operator_a, tenant_a):
    tagged(tenant_a, ["n1"])
    client = api(operator_a)
    bp = client.post("/api/blueprints/", {"document": doc()}, format="json").json()
    r = api(viewer_a).post("/api/blueprints/use/", {"name": "app-stack", "params": {"tag": "web"}, "dry_run": True},
                           format="json")
    assert r.status_code == 403
    assert api(viewer_a).post("/api/blueprints/", {"document": doc(name="x")}, format="json").status_code == 403
    r = client.post(f"/api/blueprints/{bp['id']}/publish/", {"changelog": "first"}, format="json")
    assert r.status_code == 403, r.content
    assert client.delete(f"/api/blueprints/{bp['id']}/").status_code == 403  # deletes: tenant admins


def test_tenancy_private_community_import_and_publishing_leaks_nothing(make_user, tenant_a, tenant_b, superuser):
    from inventory.blueprints.models import Blueprint
    from inventory.configuration.models import Secret, Variable
    from inventory.models import Device

    admin_a = make_user("adm_a", {tenant_a: "admin"})
    admin_b = make_user("adm_b", {tenant_b: "admin"})
    a, b = api(admin_a), api(admin_b)
    # tenant B: devices, a variable and a secret its blueprint uses
    Device.objects.create(tenant=tenant_b, name="b-secret-host-17")
    Variable.objects.create(scope="tenant", tenant=tenant_b, key="b_private_var", value="b-var-value-42")
    Secret.objects.create(scope="tenant", tenant=tenant_b, name="b_secret", value="b-secret-value-99")
    private = b.post("/api/blueprints/", {"document": doc(name="b-stack")}, format="json").json()
    assert a.get(f"/api/blueprints/{private['id']}/").status_code == 404
    assert "b-stack" not in a.get("/api/blueprints/").content.decode()
    r = a.post("/api/blueprints/use/", {"name": "b-stack", "params": {"tag": "web"}, "dry_run": True}, format="json")
    assert r.status_code == 404
    # B publishes it: a copy of the document, author shown
    r = b.post(f"/api/blueprints/{private['id']}/publish/", {"changelog": "First release."}, format="json")
    assert r.status_code == 201, r.content
    community = r.json()
    assert community["source"] == "community" and community["author"] == "Tenant B" and community["tenant"] is None
    assert b.post(f"/api/blueprints/{private['id']}/publish/", {}, format="json").status_code == 400  # same version
    seen = a.get(f"/api/blueprints/{community['id']}/")
    assert seen.status_code == 200 and seen.json()["changelog"] == "First release."
    text = seen.content.decode() + a.get("/api/blueprints/?source=community").content.decode() + json.dumps(
        list(Blueprint.objects.filter(source="community").values()), default=str)
    for leak in ("b-secret-host-17", "b_private_var", "b-var-value-42", "b_secret", "b-secret-value-99"):
        assert leak not in text
    # read-only for A (and for B too: the copy is the community's)
    assert a.put(f"/api/blueprints/{community['id']}/", {"document": doc(name="b-stack")}, format="json").status_code == 403
    assert a.delete(f"/api/blueprints/{community['id']}/").status_code == 403
    # A imports it as a private copy
    r = a.post(f"/api/blueprints/{community['id']}/import/", {"name": "my-stack"}, format="json")
    assert r.status_code == 201 and r.json()["tenant"] == tenant_a.pk and r.json()["origin"] == "community:b-stack@1.0.0"
    assert b.get(f"/api/blueprints/{r.json()['id']}/").status_code == 404
    # unlisting: superusers only; then it is gone from the catalog
    assert b.post(f"/api/blueprints/{community['id']}/listed/", {"listed": False}, format="json").status_code == 403
    r = api(superuser).post(f"/api/blueprints/{community['id']}/listed/", {"listed": False}, format="json")
    assert r.status_code == 200 and r.json()["listed"] is False
    assert a.get(f"/api/blueprints/{community['id']}/").status_code == 404
    # runs of B invisible to A
    from inventory.blueprints.models import BlueprintRun

    run = BlueprintRun.objects.create(tenant=tenant_b, blueprint_name="b-stack", source="private", version="1.0.0",
                                      document=doc(name="b-stack"))
    assert a.get(f"/api/blueprint-runs/{run.pk}/").status_code == 404
    assert a.get("/api/blueprint-runs/").json()["count"] == 0


def test_secret_parameters_are_masked_and_sealed(operator_a, tenant_a):
    from auditlog.models import LogEntry
    from django.db import connection

    from inventory.blueprints.models import BlueprintRun

    tagged(tenant_a, ["n1"])
    client = api(operator_a)
    assert client.post("/api/blueprints/", {"document": doc()}, format="json").status_code == 201
    body = {"name": "app-stack", "params": {"tag": "web", "token": SECRET}}
    r = client.post("/api/blueprints/use/", {**body, "dry_run": True}, format="json")
    assert r.status_code == 200 and SECRET not in r.content.decode()
    assert r.json()["params"]["token"] == "********"
    assert {"op": "set_secret", "target": "app_token (tenant)"} in r.json()["plan"]["steps"][2]["changes"]
    r = client.post("/api/blueprints/use/", body, format="json")
    assert r.status_code == 202 and SECRET not in r.content.decode()
    run = BlueprintRun.objects.get(pk=r.json()["run_id"])
    assert run.params["token"] == "********"
    from inventory.blueprints.runner import revealed_params

    assert revealed_params(run)["token"] == SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT CAST(params AS TEXT), sealed_params, CAST(plan AS TEXT) FROM blueprints_blueprintrun")
        raw = " ".join(map(str, cursor.fetchone()))
    assert SECRET not in raw
    assert SECRET not in client.get(f"/api/blueprint-runs/{run.pk}/").content.decode()
    assert SECRET not in json.dumps(list(LogEntry.objects.values("changes", "changes_text")), default=str)


def test_admin_catalog_use_page_and_runs(admin_a, tenant_a, client):
    from inventory.blueprints.models import Blueprint

    tagged(tenant_a, ["web1", "web2", "web3"])
    client.force_login(admin_a)
    html = client.get("/admin/blueprints/blueprint/?source__exact=official").content.decode()
    assert "webserver-cluster" in html and "database-replica-set" in html
    web = Blueprint.objects.get(name="webserver-cluster")
    page = client.get(f"/admin/blueprints/blueprint/{web.pk}/change/").content.decode()
    assert "Plan / run" in page and "listen_port" in page
    use = f"/admin/blueprints/blueprint/{web.pk}/use/"
    form = client.get(use).content.decode()
    assert 'name="p_count"' in form and 'name="p_listen_port"' in form
    # bad parameter from the form: the field error, nothing planned
    r = client.post(use, {"tenant": tenant_a.pk, "p_count": "0", "p_tag": "web", "plan": "Plan"})
    assert r.status_code == 200 and "Ensure this value is greater than or equal to 1" in r.content.decode()
    r = client.post(use, {"tenant": tenant_a.pk, "p_count": "3", "p_tag": "web", "p_listen_port": "80", "plan": "Plan"})
    text = r.content.decode()
    assert r.status_code == 200 and "add_peer: web2 in mesh web-mesh" in text and 'name="run"' in text
    r = client.post(use, {"tenant": tenant_a.pk, "p_count": "3", "p_tag": "web", "p_listen_port": "80", "run": "Run"})
    assert r.status_code == 302 and "/admin/blueprints/blueprintrun/" in r["Location"], r.content.decode()[:2000]
    run_page = client.get(r["Location"]).content.decode()
    assert "select_devices" in run_page and "planned: create_role web-upstreams" in run_page
    # a private blueprint from the admin: bad document refused with the step
    r = client.post("/admin/blueprints/blueprint/add/", {"tenant": tenant_a.pk,
                                                         "document_text": yaml.safe_dump(doc(steps=[{"id": "x", "action": "nope"}]))})
    assert r.status_code == 200 and "unknown action" in r.content.decode()
    r = client.post("/admin/blueprints/blueprint/add/", {"tenant": tenant_a.pk, "document_text": yaml.safe_dump(doc())})
    assert r.status_code == 302 and Blueprint.objects.filter(source="private", tenant=tenant_a).count() == 1


def test_select_devices_creates_missing_devices_with_addresses(operator_a, tenant_a):
    """The apply side of select_devices' create (the job runs the same engine): devices named by
    the pattern, tagged, with an address from the network; existing ones are reused."""
    from inventory.blueprints.engine import Engine
    from inventory.models import Device, Network
    from inventory.tenancy import Principal

    Network.objects.create(tenant=tenant_a, name="lab", subnet="127.89.0.0/29")
    Device.objects.create(tenant=tenant_a, name="node-1")
    document = {"name": "grow", "version": "1.0.0", "steps": [
        {"id": "nodes", "action": "select_devices",
         "args": {"create": {"pattern": "node-{n}", "count": 3, "network": "lab", "tags": ["grown"]}}}]}
    engine = Engine(Principal(operator_a), tenant_a, document, {}, apply=True)
    result = engine.step(0)
    assert [c["target"] for c in result["changes"]] == ["node-2", "node-3"]
    assert result["outputs"]["devices"] == ["node-1", "node-2", "node-3"]
    created = Device.objects.filter(name__in=["node-2", "node-3"]).order_by("name")
    assert [list(d.tags.values_list("name", flat=True)) for d in created] == [["grown"], ["grown"]]
    assert [d.addresses.get().address for d in created] == ["127.89.0.1", "127.89.0.2"]
    assert result["outputs"]["addresses"]["node-3"] == "127.89.0.2"
    again = Engine(Principal(operator_a), tenant_a, document, {}).plan()
    assert again["changes"] == 0


def test_custom_tool_of_kind_blueprint(operator_a, tenant_a):
    """A custom MCP tool declared as a preset use_blueprint: its definition is checked against the
    blueprint's parameters; its Test is the dry run (the tool itself is served by the gateway as
    any custom tool, with the gateway's dry_run and confirmation)."""
    from inventory.mesh.models import Mesh
    from mcp_gateway.custom.models import CustomTool
    from mcp_gateway.custom.provider import Row, as_tool

    tagged(tenant_a, ["web1", "web2"])
    tool = {"name": "web_cluster", "description": "A web cluster of N servers.", "kind": "blueprint",
            "parameters": {"type": "object", "properties": {"servers": {"type": "integer", "minimum": 1}},
                           "required": ["servers"]},
            "definition": {"blueprint": "webserver-cluster", "source": "official",
                           "preset": {"tag": "web", "listen_port": 8080}, "params": {"servers": "count"}}}
    client = api(operator_a)
    bad = client.post("/api/mcp/tools/", {**tool, "definition": {**tool["definition"], "preset": {"colour": 1}}},
                      format="json")
    assert bad.status_code == 400 and "unknown parameters of webserver-cluster: colour" in str(bad.json())
    bad = client.post("/api/mcp/tools/", {**tool, "definition": {**tool["definition"], "params": {"servers": "nope"}}},
                      format="json")
    assert bad.status_code == 400, bad.content
    r = client.post("/api/mcp/tools/", tool, format="json")
    assert r.status_code == 201, r.content
    result = client.post(f"/api/mcp/tools/{r.json()['id']}/test/", {"params": {"servers": 2}}, format="json")
    assert result.status_code == 200, result.content
    plan = result.json()["result"]["plan"]
    assert plan["steps"][0]["outputs"]["devices"] == ["web1", "web2"] and plan["outputs"]["listen_port"] == 8080
    assert not Mesh.objects.exists()
    obj = CustomTool.objects.get(pk=r.json()["id"])
    served = as_tool(Row(obj.pk, obj.tenant_id, obj.name, obj.title, obj.description, obj.kind, obj.parameters,
                         obj.definition, tuple(obj.allowed_roles), frozenset(), obj.version))
    # over MCP the gateway adds dry_run (the plan, from the tool's impact) and confirm_token
    assert "servers" in served.input_schema["properties"] and served.destructive and served.impact is not None
    from mcp_gateway.server import mcp_tool

    assert {"servers", "dry_run", "confirm_token"} <= set(mcp_tool(served).input_schema["properties"])


def test_a_run_cancelled_before_it_started_can_be_resumed(operator_a, tenant_a):
    from inventory.blueprints.models import BlueprintRun

    tagged(tenant_a, ["n1"])
    client = api(operator_a)
    assert client.post("/api/blueprints/", {"document": doc()}, format="json").status_code == 201
    started = client.post("/api/blueprints/use/", {"name": "app-stack", "params": {"tag": "web", "token": "tok-123456"}}, format="json")
    assert started.status_code == 202, started.content
    again = client.post("/api/blueprints/use/", {"name": "app-stack", "params": {"tag": "web", "token": "tok-123456"}}, format="json")
    assert again.status_code == 409 and "already running" in again.json()["detail"]
    job_id = started.json()["job_id"]
    assert client.post(f"/api/jobs/{job_id}/cancel/", format="json").status_code in (200, 202)
    run = client.get(f"/api/blueprint-runs/{started.json()['run_id']}/").json()
    assert run["status"] == "cancelled" and run["can_resume"] is True
    r = client.post(f"/api/blueprint-runs/{run['id']}/resume/", format="json")
    assert r.status_code == 202 and r.json()["status"] == "queued" and len(r.json()["jobs"]) == 2
    assert BlueprintRun.objects.get(pk=run["id"]).job_id != job_id


def test_community_versions_use_and_wait_for_a_job(make_user, tenant_a, tenant_b):
    """Every tenant may use a community blueprint (its newest version unless one is named); a
    private blueprint of the caller's tenant with the same name comes first."""
    from inventory.blueprints import services
    from inventory.blueprints.engine import Engine
    from inventory.jobs.models import Job
    from inventory.tenancy import Principal

    admin_a = make_user("adm_a", {tenant_a: "admin"})
    admin_b = make_user("adm_b", {tenant_b: "admin"})
    tagged(tenant_a, ["a1"])
    b = api(admin_b)
    mine = b.post("/api/blueprints/", {"document": doc(name="shared-stack")}, format="json").json()
    assert b.post(f"/api/blueprints/{mine['id']}/publish/", {"changelog": "one"}, format="json").status_code == 201
    newer = doc(name="shared-stack", version="1.1.0", title="Shared stack, newer")
    assert b.put(f"/api/blueprints/{mine['id']}/", {"document": newer}, format="json").status_code == 200
    assert b.post(f"/api/blueprints/{mine['id']}/publish/", {"changelog": "two"}, format="json").status_code == 201
    pa = Principal(admin_a)
    assert services.find(pa, "shared-stack").version == "1.1.0"
    assert services.find(pa, "shared-stack", version="1.0.0").changelog == "one"
    plan = api(admin_a).post("/api/blueprints/use/", {"name": "shared-stack", "version": "1.0.0", "dry_run": True,
                                                      "params": {"tag": "web", "token": "tok-abcdef"}}, format="json")
    assert plan.status_code == 200, plan.content
    assert plan.json()["blueprint"]["source"] == "community" and plan.json()["tenant"]["id"] == tenant_a.pk
    assert plan.json()["plan"]["outputs"]["nodes"] == ["a1"]
    # B's own private copy comes first for B
    assert services.find(Principal(admin_b), "shared-stack").source == "private"

    job = Job.objects.create(tenant=tenant_a, kind="command", status="succeeded", target="x")
    waiting = {"name": "waits", "version": "1.0.0", "steps": [
        {"id": "w", "action": "wait_for", "args": {"job": job.pk, "timeout": 5}}]}
    result = Engine(pa, tenant_a, waiting, {}, apply=True).step(0)
    assert result["outputs"] == {"job": job.pk, "status": "succeeded"}
    other = Job.objects.create(tenant=tenant_b, kind="command", status="succeeded", target="y")
    waiting["steps"][0]["args"]["job"] = other.pk
    with pytest.raises(Exception, match=f"no job {other.pk}"):
        Engine(pa, tenant_a, waiting, {}, apply=True).step(0)
