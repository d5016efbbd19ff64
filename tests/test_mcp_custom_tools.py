"""Custom MCP tools: declarations over REST and the admin, served over MCP to exactly the callers
allowed, never reaching further than the caller; tool_search and progressive listing."""

from __future__ import annotations

import json

import anyio
import pytest

from tests.servers import UvicornServer
from tests.test_jobs_support import one_worker, ssh_server  # noqa: F401
from tests.test_mcp_support import api_key, call, confirmed, mcp_client, mcp_server, rest, run  # noqa: F401

PROD_WEB = {
    "name": "prod_web_servers", "title": "Production web servers",
    "description": "Devices tagged prod and web in one datacenter, with their addresses and OS.",
    "kind": "query",
    "parameters": {"type": "object", "properties": {"datacenter": {"type": "integer", "minimum": 1,
                                                                    "description": "Datacenter id."}},
                   "required": ["datacenter"]},
    "definition": {"over": "devices", "filters": {"tags": ["prod", "web"]}, "params": {"datacenter": "datacenter_id"},
                   "fields": ["name", "addresses", "os"], "limit": 20},
}
RESTART = {
    "name": "restart_nginx", "description": "Restart nginx on the web servers of one datacenter.",
    "kind": "command",
    "parameters": {"type": "object", "properties": {"datacenter": {"type": "integer"}, "service": {"type": "string"}},
                   "required": ["datacenter", "service"]},
    "definition": {"command": "echo restarting {{ service }} on {{ device.name }}", "selector": {"tags": ["web"]},
                   "params": {"datacenter": "datacenter_id"}, "max_devices": 5, "destructive": False},
}


def _inventory(tenant_a, tenant_b):
    from inventory.models import Datacenter, Device, Tag

    out = {}
    for tenant, prefix in ((tenant_a, "a"), (tenant_b, "b")):
        dc = Datacenter.objects.create(tenant=tenant, name=f"{prefix}-east")
        prod, web = Tag.objects.create(tenant=tenant, name="prod"), Tag.objects.create(tenant=tenant, name="web")
        for name, tags in ((f"{prefix}-web1", [prod, web]), (f"{prefix}-web2", [prod, web]),
                           (f"{prefix}-db1", [prod]), (f"{prefix}-stage", [web])):
            device = Device.objects.create(tenant=tenant, name=name, datacenter=dc, os="debian")
            device.tags.set(tags)
        out[prefix] = dc
    return out


# --- the model is the one door ------------------------------------------------------------
BAD = [
    ("name", {"name": "Bad Name"}),
    ("name", {"name": "device_list"}),  # a built-in
    ("parameters", {"parameters": {"type": "object", "properties": {"x": {"description": "no type"}}}}),
    ("parameters", {"parameters": {"type": "array"}}),
    ("parameters", {"parameters": {"type": "object", "properties": {}, "required": ["ghost"]}}),
    ("definition", {"definition": {**PROD_WEB["definition"], "over": "spaceships"}}),
    ("definition", {"definition": {**PROD_WEB["definition"], "filters": {"colour": "red"}}}),
    ("definition", {"definition": {**PROD_WEB["definition"], "params": {}}}),  # datacenter not mapped
    ("definition", {"definition": {**PROD_WEB["definition"], "fields": ["name", "password"]}}),
    ("definition", {"definition": {**PROD_WEB["definition"], "limit": 100000}}),
    ("definition", {"kind": "blueprint", "definition": {}}),
    ("definition", {**RESTART, "definition": {**RESTART["definition"], "command": "echo {% if %}"}}),
    ("definition", {**RESTART, "definition": {**RESTART["definition"], "selector": {}, "params": {}},
                    "parameters": {"type": "object", "properties": {}}}),  # would run everywhere
    ("roles", {"roles": ["viewer", "god"]}),
    ("roles", {**RESTART, "roles": ["viewer"]}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field,change", BAD, ids=[f"{f}-{i}" for i, (f, _c) in enumerate(BAD)])
def test_bad_declarations_are_refused_by_the_model_and_rest(field, change, tenant_a, make_user):
    from django.core.exceptions import ValidationError

    from mcp_gateway.custom.models import CustomTool
    from tests.test_jobs_support import api

    data = {**PROD_WEB, **change}
    with pytest.raises(ValidationError) as err:
        CustomTool(tenant=tenant_a, **{k: v for k, v in data.items()}).save()
    assert field in err.value.message_dict
    response = api(make_user("decl_op", {tenant_a: "operator"})).post("/api/mcp/tools/", data, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not CustomTool.objects.exists()


@pytest.mark.django_db
def test_tool_names_never_collide_and_tenant_never_moves(tenant_a, tenant_b):
    from django.core.exceptions import ValidationError

    from mcp_gateway.custom.models import CustomTool

    tool = CustomTool(tenant=tenant_a, **PROD_WEB)
    tool.save()
    assert tool.version == 1
    with pytest.raises(ValidationError) as err:
        CustomTool(tenant=tenant_b, **PROD_WEB).save()
    assert "name" in err.value.message_dict
    tool.tenant = tenant_b
    with pytest.raises(ValidationError) as err:
        tool.save()
    assert "tenant" in err.value.message_dict
    tool.refresh_from_db()
    tool.description = "changed"
    tool.save()
    assert tool.version == 2 and tool.tenant_id == tenant_a.pk


# --- REST: the one catalog -------------------------------------------------------------------
@pytest.mark.django_db
def test_rest_catalog_permissions_and_isolation(tenant_a, tenant_b, make_user, superuser):
    from mcp_gateway.custom.models import CustomTool
    from tests.test_jobs_support import api

    viewer, operator, admin = (make_user(f"cat_{r}", {tenant_a: r}) for r in ("viewer", "operator", "admin"))
    other = make_user("cat_other", {tenant_b: "admin"})
    assert api(viewer).post("/api/mcp/tools/", PROD_WEB, format="json").status_code == 403
    assert api(operator).post("/api/mcp/tools/", {**PROD_WEB, "tenant": None}, format="json").status_code == 403
    # another tenant's id is "does not exist"
    response = api(other).post("/api/mcp/tools/", {**PROD_WEB, "tenant": tenant_a.pk}, format="json")
    assert response.status_code == 400 and "tenant" in response.json()
    assert api(operator).post("/api/mcp/tools/", {**PROD_WEB, "colour": "red"}, format="json").status_code == 400
    assert not CustomTool.objects.exists()

    created = api(operator).post("/api/mcp/tools/", PROD_WEB, format="json")
    assert created.status_code == 201, created.content
    tool = created.json()
    assert tool["tenant"] == tenant_a.pk and tool["version"] == 1 and tool["builtin"] is False
    assert tool["annotations"]["readOnlyHint"] is True

    listing = api(viewer).get("/api/mcp/tools").json()  # Portoser's path, no slash
    names = {t["name"]: t for t in listing["results"]}
    assert names["prod_web_servers"]["builtin"] is False
    assert names["device_list"]["builtin"] is True and names["device_list"]["id"] is None
    assert "device_delete" not in names  # a viewer may not call it: not in their catalog
    assert listing["count"] == len(listing["results"])
    assert api(viewer).get("/api/mcp/tools/?builtin=false").json()["count"] == 1

    # tenant B sees nothing of A's tool
    other_names = {t["name"] for t in api(other).get("/api/mcp/tools/").json()["results"]}
    assert "prod_web_servers" not in other_names
    assert api(other).get(f"/api/mcp/tools/{tool['id']}/").status_code == 404
    assert api(other).patch(f"/api/mcp/tools/{tool['id']}/", {"enabled": False}, format="json").status_code == 404
    assert api(other).delete(f"/api/mcp/tools/{tool['id']}/").status_code == 404

    # change: version bump; built-ins are read-only
    changed = api(operator).patch(f"/api/mcp/tools/{tool['id']}/", {"description": "Prod web."}, format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    bad = api(operator).patch(f"/api/mcp/tools/{tool['id']}/", {"definition": {"over": "nowhere"}}, format="json")
    assert bad.status_code == 400 and "definition" in bad.json()
    assert CustomTool.objects.get().version == 2
    assert api(operator).get("/api/mcp/tools/device_list/").json()["builtin"] is True
    assert api(operator).patch("/api/mcp/tools/device_list/", {"enabled": False}, format="json").status_code == 405
    assert api(viewer).get("/api/mcp/tools/device_delete/").status_code == 404

    # delete needs a tenant admin
    assert api(operator).delete(f"/api/mcp/tools/{tool['id']}/").status_code == 403
    assert api(admin).delete(f"/api/mcp/tools/{tool['id']}/").status_code == 204

    # global tools: superusers only, read by everybody
    made = api(superuser).post("/api/mcp/tools/", {**PROD_WEB, "name": "all_web", "tenant": None}, format="json")
    assert made.status_code == 201, made.content
    assert "all_web" in {t["name"] for t in api(other).get("/api/mcp/tools/").json()["results"]}
    assert api(admin).patch(f"/api/mcp/tools/{made.json()['id']}/", {"enabled": False},
                            format="json").status_code == 403


@pytest.mark.django_db
def test_rest_test_endpoint_runs_queries_and_renders_commands(tenant_a, tenant_b, make_user):
    from tests.test_jobs_support import api

    dcs = _inventory(tenant_a, tenant_b)
    operator = make_user("test_op", {tenant_a: "operator"})
    query = api(operator).post("/api/mcp/tools/", PROD_WEB, format="json").json()
    result = api(operator).post(f"/api/mcp/tools/{query['id']}/test/", {"params": {"datacenter": dcs["a"].pk}},
                                format="json")
    assert result.status_code == 200, result.content
    assert sorted(d["name"] for d in result.json()["result"]["items"]) == ["a-web1", "a-web2"]
    bad = api(operator).post(f"/api/mcp/tools/{query['id']}/test/", {"params": {"datacenter": "x"}}, format="json")
    assert bad.status_code == 400 and bad.json()["datacenter"] == ["Expected integer, got string."]

    command = api(operator).post("/api/mcp/tools/", RESTART, format="json").json()
    preview = api(operator).post(f"/api/mcp/tools/{command['id']}/test/",
                                 {"params": {"datacenter": dcs["a"].pk, "service": "nginx; rm -rf /"}}, format="json")
    assert preview.status_code == 200, preview.content
    commands = {r["device"]: r["command"] for r in preview.json()["would_run"]}
    # every value is one shell word: the caller cannot inject a second command
    assert commands == {name: f"echo restarting 'nginx; rm -rf /' on {name}" for name in ("a-stage", "a-web1", "a-web2")}
    from inventory.jobs.models import Job

    assert not Job.objects.exists()


@pytest.mark.django_db
def test_tool_group_policies_over_rest(tenant_a, tenant_b, make_user):
    from mcp_gateway.models import ToolGroupPolicy
    from tests.test_jobs_support import api

    admin, operator = make_user("tg_admin", {tenant_a: "admin"}), make_user("tg_op", {tenant_a: "operator"})
    other = make_user("tg_other", {tenant_b: "admin"})
    body = {"tenant": tenant_a.pk, "mode": "opt_in", "enabled_groups": ["inventory", "custom"]}
    assert api(operator).post("/api/mcp/tool-groups/", body, format="json").status_code == 403
    assert api(other).post("/api/mcp/tool-groups/", body, format="json").status_code == 400  # A is not visible
    bad = api(admin).post("/api/mcp/tool-groups/", {**body, "enabled_groups": ["nope"]}, format="json")
    assert bad.status_code == 400 and "enabled_groups" in bad.json()
    assert not ToolGroupPolicy.objects.exists()
    made = api(admin).post("/api/mcp/tool-groups/", body, format="json")
    assert made.status_code == 201, made.content
    listing = api(admin).get("/api/mcp/tool-groups/").json()
    assert "custom" in {g["name"] for g in listing["groups"]} and listing["count"] == 1
    assert api(other).get("/api/mcp/tool-groups/").json()["count"] == 0
    assert api(other).get(f"/api/mcp/tool-groups/{made.json()['id']}/").status_code == 404
    changed = api(admin).patch(f"/api/mcp/tool-groups/{made.json()['id']}/",
                               {"mode": "opt_out", "disabled_groups": ["commands"]}, format="json")
    assert changed.status_code == 200, changed.content
    policy = ToolGroupPolicy.objects.get()
    assert policy.enables("inventory") and policy.enables("mesh_of_the_future") and not policy.enables("commands")


# --- MCP: listed for exactly the callers allowed ---------------------------------------------
def test_custom_tools_over_mcp(mcp_server, make_user, tenant_a, tenant_b):
    from django.contrib.auth.models import Group

    from mcp_gateway.custom.models import CustomTool
    from mcp_gateway.models import McpCall

    dcs = _inventory(tenant_a, tenant_b)
    viewer = make_user("m_viewer", {tenant_a: "viewer"})
    operator = make_user("m_operator", {tenant_a: "operator"})
    both = make_user("m_both", {tenant_a: "viewer", tenant_b: "viewer"})
    url = mcp_server.url
    op_key, viewer_key, both_key = api_key(operator), api_key(viewer), api_key(both)

    # registered over REST with an API key, as in Portoser's curl examples: no code
    for body in (PROD_WEB, RESTART):
        response = rest(url, op_key, "POST", "/api/mcp/tools/", json=body)
        assert response.status_code == 201, response.text
    catalog = rest(url, op_key, "GET", "/api/mcp/tools").json()
    assert {"prod_web_servers", "restart_nginx", "device_list"} <= {t["name"] for t in catalog["results"]}

    async def names(key):
        async with mcp_client(url, key) as client:
            return {t.name: t for t in (await client.list_tools()).tools}

    async def body():
        seen = await names(viewer_key)
        assert "prod_web_servers" in seen and "restart_nginx" not in seen
        tool = seen["prod_web_servers"]
        assert tool.annotations.read_only_hint and tool.annotations.idempotent_hint
        assert tool.input_schema["required"] == ["datacenter"]
        seen = await names(op_key)
        assert seen["restart_nginx"].annotations.open_world_hint is True
        assert seen["restart_nginx"].annotations.destructive_hint is False  # declared so

        async with mcp_client(url, viewer_key) as client:
            data, err = await call(client, "prod_web_servers", {"datacenter": dcs["a"].pk})
            assert not err, data
            assert sorted(d["name"] for d in data["items"]) == ["a-web1", "a-web2"]
            assert set(data["items"][0]) == {"id", "name", "addresses", "os"}
            data, err = await call(client, "prod_web_servers", {"datacenter": "east"})
            assert err and data["error"]["code"] == "INVALID_PARAMS" and "datacenter" in data["error"]["details"]
            data, err = await call(client, "prod_web_servers", {"datacenter": 1, "colour": "red"})
            assert err and "colour" in data["error"]["details"]
            with pytest.raises(Exception, match="Unknown tool"):
                await client.call_tool("restart_nginx", {"datacenter": dcs["a"].pk, "service": "nginx"})

        # a user of A and B calling A's tool sees A's rows only: B's datacenter is not one the
        # tool can name (REST's answer for an id it may not view), and no row of B comes back
        async with mcp_client(url, both_key) as client:
            data, err = await call(client, "prod_web_servers", {"datacenter": dcs["b"].pk})
            assert err and data["error"]["code"] == "INVALID_PARAMS", data
            assert "not visible" in str(data["error"]["details"]) and "b-web" not in str(data)
            data, err = await call(client, "prod_web_servers", {"datacenter": dcs["a"].pk})
            assert not err and data["items"] and all(i["name"].startswith("a-") for i in data["items"])

    run(body)
    row = McpCall.objects.filter(tool="prod_web_servers").first()
    tool = CustomTool.objects.get(name="prod_web_servers")
    assert row.custom_tool_id == tool.pk and row.tool_version == tool.version and row.tenant_id == tenant_a.pk

    # a global tool returns exactly what each caller may see
    CustomTool(tenant=None, name="all_prod", description="Every prod device you can see.", kind="query",
               definition={"over": "devices", "filters": {"tags": ["prod"]}, "fields": ["name"]}).save()

    async def global_tool():
        async with mcp_client(url, viewer_key) as client:
            data, _ = await call(client, "all_prod", {})
            assert sorted(d["name"] for d in data["items"]) == ["a-db1", "a-web1", "a-web2"]
        async with mcp_client(url, both_key) as client:
            data, _ = await call(client, "all_prod", {})
            assert len(data["items"]) == 6

    run(global_tool)

    # Django groups narrow it; disabling removes it everywhere
    ops = Group.objects.create(name="ops")
    tool.groups.set([ops])

    assert "prod_web_servers" not in run(names, viewer_key)
    viewer.groups.add(ops)
    assert "prod_web_servers" in run(names, viewer_key)
    tool.refresh_from_db()
    tool.enabled = False
    tool.save()

    async def disabled():
        assert "prod_web_servers" not in await names(viewer_key)
        async with mcp_client(url, viewer_key) as client:
            with pytest.raises(Exception, match="Unknown tool"):
                await client.call_tool("prod_web_servers", {"datacenter": dcs["a"].pk})
        response = rest(url, viewer_key, "GET", "/api/mcp/tools/?builtin=false").json()
        assert {t["name"]: t["enabled"] for t in response["results"]}["prod_web_servers"] is False

    run(disabled)


def test_custom_tools_respect_tool_groups(mcp_server, make_user, tenant_a, tenant_b):
    from mcp_gateway.custom.models import CustomTool
    from mcp_gateway.models import ToolGroupPolicy

    _inventory(tenant_a, tenant_b)
    viewer = make_user("g_viewer", {tenant_a: "viewer"})
    CustomTool(tenant=tenant_a, **PROD_WEB).save()
    ToolGroupPolicy.objects.create(tenant=tenant_a, mode="opt_in", enabled_groups=["inventory"])
    key = api_key(viewer)

    async def body():
        async with mcp_client(mcp_server.url, key) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_list" in names and "prod_web_servers" not in names

    run(body)


# --- command tools run through the jobs machinery, never beyond the caller ---------------------
def test_command_tool_runs_jobs_on_the_callers_devices_only(mcp_server, one_worker, ssh_server, make_user, tenant_a,
                                                            tenant_b):
    from inventory.jobs.models import Job
    from inventory.models import Datacenter, Tag
    from tests.test_jobs_support import make_device, wait_job

    ssh = ssh_server
    dc_a = Datacenter.objects.create(tenant=tenant_a, name="a-dc")
    dc_b = Datacenter.objects.create(tenant=tenant_b, name="b-dc")
    for tenant, dc, name in ((tenant_a, dc_a, "a-web"), (tenant_b, dc_b, "b-web")):
        device = make_device(tenant, ssh, name=name)
        device.datacenter = dc
        device.save()
        device.tags.set([Tag.objects.create(tenant=tenant, name="web")])
    operator = make_user("cmd_op", {tenant_a: "operator"})
    key = api_key(operator)
    assert rest(mcp_server.url, key, "POST", "/api/mcp/tools/", json=RESTART).status_code == 201

    async def body():
        async with mcp_client(mcp_server.url, key) as client:
            # declared "destructive": false, so it runs without asking (the default, true, asks first:
            # test_declared_destructive_command_asks_first)
            data, err = await call(client, "restart_nginx", {"datacenter": dc_a.pk, "service": "nginx"})
            assert not err, data
            assert data["count"] == 1 and data["jobs"][0]["device"] == "a-web"
            # B's datacenter: the selector finds nothing the caller may run jobs on
            data, err = await confirmed(client, "restart_nginx", {"datacenter": dc_b.pk, "service": "nginx"})
            assert not err and data == {"jobs": [], "count": 0}
            return (await confirmed(client, "restart_nginx", {"datacenter": dc_a.pk, "service": "nginx"}))[0]

    first = run(body)
    job = wait_job(first["jobs"][0]["job_id"])
    assert job.status == "succeeded", (job.error, job.result)
    assert "restarting nginx on a-web" in json.dumps(job.result)
    assert not Job.objects.filter(device__tenant=tenant_b).exists()


# --- live lists -------------------------------------------------------------------------------
def test_a_tool_created_through_one_worker_is_listed_by_every_worker(transactional_db, make_user, tenant_a):
    operator = make_user("live_op", {tenant_a: "operator"})
    key = api_key(operator)
    with UvicornServer(workers=2) as server:
        async def listed(n):
            found = []
            for _ in range(n):
                async with mcp_client(server.url, key) as client:
                    found.append({t.name for t in (await client.list_tools()).tools})
            return found

        before = run(listed, 10)  # both workers have built their lists
        assert all("prod_web_servers" not in names for names in before)
        assert rest(server.url, key, "POST", "/api/mcp/tools/", json=PROD_WEB).status_code == 201
        after = run(listed, 10)
        assert all("prod_web_servers" in names for names in after)


def test_sessions_are_told_when_their_list_changes(mcp_server, make_user, tenant_a):
    from mcp import Client
    from mcp.client.sse import sse_client

    from mcp_gateway.custom.models import CustomTool
    from tests.test_mcp_setup import _stdio_params

    operator = make_user("sess_op", {tenant_a: "operator"})
    key = api_key(operator)

    async def watch(transport, name):
        got = anyio.Event()

        async def on_message(message):
            if getattr(getattr(message, "root", message), "method", "") == "notifications/tools/list_changed":
                got.set()

        async with Client(transport, mode="legacy", message_handler=on_message) as client:
            assert name not in {t.name for t in (await client.list_tools()).tools}
            await anyio.to_thread.run_sync(
                lambda: CustomTool(tenant=tenant_a, **{**PROD_WEB, "name": name}).save())
            with anyio.fail_after(15):
                await got.wait()
            assert name in {t.name for t in (await client.list_tools()).tools}

    run(watch, sse_client(f"{mcp_server.url}/mcp/sse", headers={"Authorization": f"Bearer {key}"}), "via_sse")
    run(watch, _stdio_params(key), "via_stdio")


# --- tool_search and progressive mode ------------------------------------------------------------
def test_tool_search_and_progressive_mode(mcp_server, make_user, tenant_a, tenant_b):
    from mcp_gateway.custom.models import CustomTool
    from oauth.models import ApiKey

    _inventory(tenant_a, tenant_b)
    viewer = make_user("ts_viewer", {tenant_a: "viewer"})
    operator = make_user("ts_operator", {tenant_a: "operator"})
    CustomTool(tenant=tenant_a, name="check_links", description="Checks connectivity between the web servers.",
               kind="query", definition={"over": "devices", "filters": {"tags": ["web"]}}).save()
    CustomTool(tenant=tenant_a, **RESTART).save()
    viewer_key, op_key = api_key(viewer), api_key(operator)
    ApiKey.objects.filter(user=operator).update(tool_mode="progressive")

    async def body():
        async with mcp_client(mcp_server.url, viewer_key) as client:
            data, err = await call(client, "tool_search", {"query": "connectivity"})
            found = [t["name"] for t in data["tools"]]
            assert not err and "check_links" in found, found
            assert "mesh_check" not in found  # a job: viewers may not start it
            assert data["tools"][0]["inputSchema"]["type"] == "object"
            data, _ = await call(client, "tool_search", {"query": "restart nginx"})
            assert "restart_nginx" not in {t["name"] for t in data["tools"]}  # the viewer may not call it
            data, _ = await call(client, "tool_search", {"query": "device", "limit": 3})
            assert data["count"] == 3 and len(data["tools"]) == 3
            data, err = await call(client, "tool_search", {"query": "x", "limit": 1000})
            assert err and data["error"]["code"] == "INVALID_PARAMS"
            full = {t.name for t in (await client.list_tools()).tools}
            assert {"datacenter_list", "check_links", "tool_search"} <= full

        async with mcp_client(mcp_server.url, op_key) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            assert listed == {"search", "device_list", "device_get", "job_get", "tool_search"}
            data, _ = await call(client, "tool_search", {"query": "restart nginx"})
            assert data["tools"][0]["name"] == "restart_nginx"
            data, _ = await call(client, "tool_search", {"query": "mesh connectivity"})
            assert data["tools"][0]["name"] == "mesh_check", data["tools"][0]["name"]
            data, _ = await call(client, "tool_search", {"query": "connectivity", "group": "mesh"})
            assert {t["group"] for t in data["tools"]} == {"mesh"} and data["tools"][0]["name"] == "mesh_check"
            data, err = await call(client, "datacenter_list", {})  # not listed, still callable
            assert not err and data["count"] == 1

    run(body)


# --- admin ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_admin_pages_are_tenant_scoped_and_test_renders(client, make_user, tenant_a, tenant_b):
    from mcp_gateway.custom.models import CustomTool

    dcs = _inventory(tenant_a, tenant_b)
    operator = make_user("adm_op", {tenant_a: "operator"})
    mine = CustomTool(tenant=tenant_a, **PROD_WEB)
    mine.save()
    theirs = CustomTool(tenant=tenant_b, **{**PROD_WEB, "name": "b_secret_tool"})
    theirs.save()
    shared = CustomTool(tenant=None, **{**PROD_WEB, "name": "global_tool"})
    shared.save()
    client.force_login(operator)
    page = client.get("/admin/mcp_gateway/customtool/").content.decode()
    assert "prod_web_servers" in page and "global_tool" in page and "b_secret_tool" not in page
    assert client.get(f"/admin/mcp_gateway/customtool/{theirs.pk}/change/").status_code == 404
    assert client.get(f"/admin/mcp_gateway/customtool/{theirs.pk}/test/").status_code == 404
    # a global tool is read-only for a tenant operator
    assert client.post(f"/admin/mcp_gateway/customtool/{shared.pk}/change/",
                       {"name": "renamed", "description": "x", "kind": "query"}).status_code == 403
    shared.refresh_from_db()
    assert shared.name == "global_tool"
    # the add form offers only the caller's tenants
    add = client.get("/admin/mcp_gateway/customtool/add/").content.decode()
    assert "Tenant A" in add and "Tenant B" not in add
    # a bad declaration is refused with the model's message
    response = client.post("/admin/mcp_gateway/customtool/add/", {
        "tenant": tenant_a.pk, "name": "bad_one", "description": "x", "kind": "query",
        "parameters": "{}", "definition": json.dumps({"over": "spaceships"}), "roles": "[]", "enabled": "on"})
    assert response.status_code == 200 and "&#x27;over&#x27; must be one of" in response.content.decode()
    assert not CustomTool.objects.filter(name="bad_one").exists()
    # Test: runs the query as the caller
    change = client.get(f"/admin/mcp_gateway/customtool/{mine.pk}/change/").content.decode()
    assert f"/admin/mcp_gateway/customtool/{mine.pk}/test/" in change
    result = client.post(f"/admin/mcp_gateway/customtool/{mine.pk}/test/",
                         {"params": json.dumps({"datacenter": dcs["a"].pk})}).content.decode()
    assert "a-web1" in result and "b-web1" not in result
    refused = client.post(f"/admin/mcp_gateway/customtool/{mine.pk}/test/", {"params": '{"datacenter": "x"}'})
    assert "INVALID_PARAMS" in refused.content.decode()


def test_declared_destructive_command_asks_first(mcp_server, tenant_a, make_user):
    """A command tool is destructive unless declared otherwise: MCP asks for confirmation before
    any job starts."""
    from inventory.jobs.models import Job
    from inventory.models import Datacenter

    dc = Datacenter.objects.create(tenant=tenant_a, name="a-dc")
    key = api_key(make_user("cmd_ask", {tenant_a: "operator"}))
    definition = {k: v for k, v in RESTART["definition"].items() if k != "destructive"}
    assert rest(mcp_server.url, key, "POST", "/api/mcp/tools/",
                json={**RESTART, "name": "restart_asking", "definition": definition}).status_code == 201

    async def body():
        async with mcp_client(mcp_server.url, key) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert tools["restart_asking"].annotations.destructive_hint is True
            return await call(client, "restart_asking", {"datacenter": dc.pk, "service": "nginx"})

    data, err = run(body)
    assert err and data["error"]["code"] == "CONFIRMATION_REQUIRED" and data["error"]["details"]["confirm_token"], data
    assert not Job.objects.exists()


# --- secret() in command templates: resolved by the worker, stored and shown masked -------------
SECRET_TOOL = {
    "name": "db_checksum", "description": "Checksum the database password on the web servers.",
    "kind": "command",
    "parameters": {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]},
    "definition": {"command": "printf %s {{ secret('db_password') }} | sha256sum; echo {{ label }}",
                   "selector": {"tags": ["web"]}, "max_devices": 2, "destructive": False},
}


def test_command_tool_secret_is_resolved_by_the_worker_and_stored_nowhere(mcp_server, one_worker, ssh_server,
                                                                          make_user, tenant_a):
    import hashlib

    from auditlog.models import LogEntry
    from django.db import connection

    from inventory.configuration.models import Secret
    from inventory.jobs.models import Job, JobLogLine
    from inventory.models import Tag
    from mcp_gateway.models import McpCall
    from tests.test_jobs_support import make_device, wait_job

    value = "Db-Pass'word $(rm -rf /) 42"  # a quote and shell syntax: still one word on the command line
    device = make_device(tenant_a, ssh_server, name="a-web")
    device.tags.set([Tag.objects.create(tenant=tenant_a, name="web")])
    Secret.objects.create(scope="device", device=device, name="db_password", value=value)
    key = api_key(make_user("secret_op", {tenant_a: "operator"}))
    created = rest(mcp_server.url, key, "POST", "/api/mcp/tools/", json=SECRET_TOOL)
    assert created.status_code == 201, created.text
    tool_id = created.json()["id"]
    bad = rest(mcp_server.url, key, "POST", "/api/mcp/tools/", json={
        **SECRET_TOOL, "name": "db_missing",
        "definition": {**SECRET_TOOL["definition"], "command": "echo {{ secret('nope') }}"}})
    assert bad.status_code == 201, bad.text  # a secret's name is checked per device, when it runs

    preview = rest(mcp_server.url, key, "POST", f"/api/mcp/tools/{tool_id}/test/", json={"params": {"label": "x"}})
    assert preview.status_code == 200, preview.text
    assert preview.json()["would_run"][0]["command"] == "printf %s '«secret:db_password»' | sha256sum; echo x"

    async def body():
        async with mcp_client(mcp_server.url, key) as client:
            missing, err = await call(client, "db_missing", {"label": "x"})
            assert err and missing["error"]["code"] == "INVALID_PARAMS", missing
            assert "nope" in json.dumps(missing["error"])
            return await call(client, "db_checksum", {"label": "run1"})

    data, err = run(body)
    assert not err, data
    job = wait_job(data["jobs"][0]["job_id"])
    assert job.status == "succeeded", (job.error, job.result)
    # it ran with the secret: the checksum of the real value came back
    assert hashlib.sha256(value.encode()).hexdigest() in job.result["stdout"]
    assert "run1" in job.result["stdout"]
    assert job.params["command"] == "printf %s '«secret:db_password»' | sha256sum; echo run1"
    assert job.sealed and "template" in job.run_params()
    with connection.cursor() as cursor:  # the sealed column is ciphertext
        cursor.execute("SELECT sealed, CAST(params AS TEXT) FROM jobs_job WHERE id = %s", [job.pk])
        sealed_raw, params_raw = cursor.fetchone()
    assert "db_password" not in sealed_raw and value not in params_raw
    api_answers = "".join(rest(mcp_server.url, key, "GET", p).text for p in (
        "/api/jobs/", f"/api/jobs/{job.pk}/", "/api/mcp/tools/", "/api/mcp/audit/logs"))
    surfaces = {
        "job": json.dumps(job.params) + json.dumps(job.result) + job.error,
        "log": "".join(JobLogLine.objects.filter(job=job).values_list("message", flat=True)),
        "preview": preview.text,
        "api": api_answers,
        "mcp audit": "".join(json.dumps(c.arguments) + c.error_message for c in McpCall.objects.all()),
        "auditlog": "".join(json.dumps(e.changes) + str(e.additional_data) for e in LogEntry.objects.all()),
        "server log": mcp_server.output(),
    }
    assert "«secret:db_password»" in surfaces["log"]
    for name, text in surfaces.items():
        assert value not in text and "Db-Pass" not in text, name
    assert McpCall.objects.filter(tool="db_checksum", outcome="ok").exists()
