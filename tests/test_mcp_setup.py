"""MCP client setup (config endpoint, `manage.py mcp config|init`), stdio, SSE, audit endpoint, admin."""

from __future__ import annotations

import json
import stat
import sys

import pytest
from django.core.management import CommandError, call_command

from tests import servers
from tests.servers import ROOT
from tests.test_mcp_support import api_key, call, mcp_client, rest, run


def test_config_endpoint(client, settings):
    settings.PUBLIC_URL = "https://inv.example.com"
    r = client.get("/api/mcp/config")
    assert r.status_code == 200
    data = r.json()
    assert data["url"] == "https://inv.example.com/mcp" and data["transport"] == "streamable-http"
    assert data["auth"]["resource_metadata"] == "https://inv.example.com/.well-known/oauth-protected-resource/mcp"
    assert set(data["clients"]) == {"claude", "claude-code", "cursor", "windsurf", "vscode"}
    assert data["clients"]["vscode"] == {"servers": {"inventory": {"type": "http", "url": "https://inv.example.com/mcp"}}}
    assert data["clients"]["windsurf"]["mcpServers"]["inventory"]["serverUrl"] == "https://inv.example.com/mcp"
    assert "Bearer" not in json.dumps(data["clients"])  # no secrets in the public document
    assert client.post("/api/mcp/config").status_code == 405


def test_mcp_config_command(capsys, settings):
    settings.PUBLIC_URL = "https://inv.example.com"
    call_command("mcp", "config", "--client", "cursor", "--api-key", "inv_abc")
    out = json.loads(capsys.readouterr().out)
    assert out == {"mcpServers": {"inventory": {"url": "https://inv.example.com/mcp",
                                                "headers": {"Authorization": "Bearer inv_abc"}}}}
    with pytest.raises(CommandError):
        call_command("mcp", "config", "--client", "notepad")


@pytest.mark.parametrize("client_name,root,rel_path", [
    ("cursor", "mcpServers", ".cursor/mcp.json"),
    ("windsurf", "mcpServers", ".codeium/windsurf/mcp_config.json"),
    ("claude-code", "mcpServers", ".claude.json"),
    ("claude", "mcpServers", ".config/Claude/claude_desktop_config.json"),
])
def test_mcp_init_merges_and_backs_up(tmp_path, settings, client_name, root, rel_path, make_user):
    if sys.platform != "linux" and client_name == "claude":
        pytest.skip("path differs per OS")
    settings.PUBLIC_URL = "https://inv.example.com"
    secret = api_key(make_user("init_user"))
    target = tmp_path / rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    existing = {"theme": "dark", root: {"other": {"command": "other-server"}}}
    target.write_text(json.dumps(existing))
    call_command("mcp", "init", client_name, "--home", str(tmp_path), "--api-key", secret)
    data = json.loads(target.read_text())
    assert data["theme"] == "dark" and data[root]["other"] == {"command": "other-server"}
    ours = data[root]["inventory"]
    assert secret in json.dumps(ours)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    backups = list(target.parent.glob(target.name + ".bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == existing
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600


def test_mcp_init_vscode_new_file_and_refuses_garbage(tmp_path, settings):
    settings.PUBLIC_URL = "https://inv.example.com"
    path = tmp_path / "ws/.vscode/mcp.json"
    call_command("mcp", "init", "vscode", "--path", str(path))
    assert json.loads(path.read_text()) == {"servers": {"inventory": {"type": "http", "url": "https://inv.example.com/mcp"}}}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError):
        call_command("mcp", "init", "cursor", "--path", str(bad))
    assert bad.read_text() == "{not json"  # untouched


def test_mcp_init_vscode_key_as_input_jsonc_stdin_env_and_checked(tmp_path, settings, make_user, monkeypatch):
    import io

    settings.PUBLIC_URL = "https://inv.example.com"
    key = api_key(make_user("vs_user"))
    path = tmp_path / "ws/.vscode/mcp.json"
    path.parent.mkdir(parents=True)
    path.write_text('// my servers\n{\n  // keep me\n  "servers": {"other": {"type": "stdio", "command": "x",},},\n'
                    '  "inputs": [{"type": "promptString", "id": "other-key", "password": true},],\n}\n')
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    call_command("mcp", "init", "vscode", "--path", str(path), "--api-key-stdin")
    text = path.read_text()
    assert key not in text and text.startswith("// my servers\n")
    from mcp_gateway.clients import strip_jsonc

    data = json.loads(strip_jsonc(text))
    assert data["servers"]["other"] == {"type": "stdio", "command": "x"}
    assert data["servers"]["inventory"] == {"type": "http", "url": "https://inv.example.com/mcp",
                                            "headers": {"Authorization": "Bearer ${input:inventory-api-key}"}}
    assert {"type": "promptString", "id": "inventory-api-key", "password": True,
            "description": "API key for inventory (https://inv.example.com/mcp)"} in data["inputs"]
    assert {"type": "promptString", "id": "other-key", "password": True} in data["inputs"]
    # again, from an environment variable, with --home (the user-level file): one input, not two
    monkeypatch.setenv("MY_KEY", key)
    call_command("mcp", "init", "vscode", "--home", str(tmp_path), "--api-key-env", "MY_KEY")
    user_file = tmp_path / ".config/Code/User/mcp.json"
    call_command("mcp", "init", "vscode", "--home", str(tmp_path), "--api-key-env", "MY_KEY")
    data = json.loads(user_file.read_text())
    assert [i["id"] for i in data["inputs"]] == ["inventory-api-key"] and key not in user_file.read_text()
    # an invalid key: refused before anything is written
    before = path.read_text()
    for args in (["--api-key", "inv_not_a_key"], ["--api-key-env", "UNSET_VAR_X"]):
        with pytest.raises(CommandError):
            call_command("mcp", "init", "vscode", "--path", str(path), *args)
    assert path.read_text() == before
    fresh = tmp_path / "fresh/mcp.json"
    with pytest.raises(CommandError):
        call_command("mcp", "init", "cursor", "--path", str(fresh), "--api-key", "inv_not_a_key")
    assert not fresh.exists()


def test_config_names_each_clients_file(client):
    data = client.get("/api/mcp/config").json()
    assert set(data["files"]) == set(data["clients"])
    assert ".vscode/mcp.json" in data["files"]["vscode"] and ".cursor/mcp.json" in data["files"]["cursor"]


def _stdio_params(key, *extra):
    from mcp.client.stdio import StdioServerParameters

    env = {**servers.server_env(), "INVENTORY_API_KEY": key}
    return StdioServerParameters(command=sys.executable, args=["manage.py", "mcp", "stdio", *extra], env=env,
                                 cwd=str(ROOT))


@pytest.mark.django_db(transaction=True)
def test_stdio_serves_the_same_tools(make_user, tenant_a, tenant_b):
    from mcp import Client

    from inventory.models import Device
    from mcp_gateway.models import McpCall

    user = make_user("stdio_user", {tenant_a: "operator"})
    Device.objects.create(tenant=tenant_b, name="not-mine")
    key = api_key(user)

    async def body():
        async with Client(_stdio_params(key), mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_save" in names and "device_delete" not in names
            data, is_error = await call(client, "device_save", {"name": "via-stdio"})
            assert not is_error, data
            listed, _ = await call(client, "device_list")
            assert [d["name"] for d in listed["items"]] == ["via-stdio"]

    run(body)
    row = McpCall.objects.get(tool="device_save")
    assert row.auth_kind == "stdio" and row.transport == "stdio" and row.username == "stdio_user"


@pytest.mark.django_db(transaction=True)
def test_stdio_refuses_bad_key():
    import subprocess

    env = {**servers.server_env(), "INVENTORY_API_KEY": "inv_wrong"}
    proc = subprocess.run([sys.executable, "manage.py", "mcp", "stdio"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "not a valid" in proc.stderr
    env.pop("INVENTORY_API_KEY")
    proc = subprocess.run([sys.executable, "manage.py", "mcp", "stdio"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "INVENTORY_API_KEY" in proc.stderr


def test_stdio_bridge_to_remote(mcp_server, make_user, tenant_a):
    from mcp import Client

    key = api_key(make_user("bridged", {tenant_a: "operator"}))

    async def body():
        async with Client(_stdio_params(key, "--url", f"{mcp_server.url}/mcp"), mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_save" in names
            data, is_error = await call(client, "device_save", {"name": "bridged-dev"})
            assert not is_error and data["name"] == "bridged-dev"
            data, is_error = await call(client, "device_get", {"id": 999999})
            assert is_error and data["error"]["code"] == "NOT_FOUND"

    run(body)


def test_legacy_sse_transport(mcp_server, make_user, tenant_a):
    import httpx2 as httpx
    from mcp import Client
    from mcp.client.sse import sse_client

    key = api_key(make_user("sse_user", {tenant_a: "operator"}))

    async def body():
        async with Client(sse_client(f"{mcp_server.url}/mcp/sse", headers={"Authorization": f"Bearer {key}"}),
                          mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "device_save" in names
            data, is_error = await call(client, "device_save", {"name": "sse-dev"})
            assert not is_error, data

    run(body)
    assert httpx.get(f"{mcp_server.url}/mcp/sse").status_code == 401


def test_audit_endpoint_filters_and_tenant_scope(mcp_server, make_user, tenant_a, tenant_b):
    from mcp_gateway.models import McpCall

    admin_a = make_user("aud_admin_a", {tenant_a: "admin"})
    op_a = make_user("aud_op_a", {tenant_a: "operator"})
    admin_b = make_user("aud_admin_b", {tenant_b: "admin"})
    key_admin_a, key_op_a, key_admin_b = api_key(admin_a), api_key(op_a), api_key(admin_b)

    async def body():
        async with mcp_client(mcp_server.url, key_op_a) as client:
            await call(client, "device_save", {"name": "x1", "facts": {"password": "pw"}})
            await call(client, "device_get", {"id": 999999})
        async with mcp_client(mcp_server.url, key_admin_b) as client:
            await call(client, "device_save", {"name": "b1"})

    run(body)
    assert McpCall.objects.count() == 3
    url = mcp_server.url
    r = rest(url, key_admin_a, "GET", "/api/mcp/audit/logs?limit=50")
    assert r.status_code == 200, r.text
    items = r.json()["results"]
    assert {i["user"] for i in items} == {"aud_op_a"} and len(items) == 2  # nothing of tenant B
    assert r.json()["count"] == 2 and r.json()["next"] is None and r.json()["previous"] is None
    page = rest(url, key_admin_a, "GET", "/api/mcp/audit/logs?limit=1").json()
    assert page["count"] == 2 and len(page["results"]) == 1 and "offset=1" in page["next"]
    assert items[-1]["arguments"]["facts"]["password"] == "***"
    r = rest(url, key_admin_a, "GET", "/api/mcp/audit/logs?outcome=error")
    assert [i["tool"] for i in r.json()["results"]] == ["device_get"]
    r = rest(url, key_admin_a, "GET", "/api/mcp/audit/logs?tool=device_save&user=aud_op_a&since=2020-01-01")
    assert [i["tool"] for i in r.json()["results"]] == ["device_save"]
    r = rest(url, key_admin_a, "GET", "/api/mcp/audit/logs?since=2999-01-01T00:00:00Z")
    assert r.json()["results"] == []
    # operators see their own calls only; tenant B's admin sees B's
    r = rest(url, key_op_a, "GET", "/api/mcp/audit/logs")
    assert {i["user"] for i in r.json()["results"]} == {"aud_op_a"}
    r = rest(url, key_admin_b, "GET", "/api/mcp/audit/logs")
    assert [i["user"] for i in r.json()["results"]] == ["aud_admin_b"]
    # bad input: 400 with field messages
    for query, field in (("limit=0", "limit"), ("limit=abc", "limit"), ("outcome=maybe", "outcome"),
                         ("since=yesterday", "since"), ("colour=red", "colour")):
        r = rest(url, key_admin_a, "GET", f"/api/mcp/audit/logs?{query}")
        assert r.status_code == 400, (query, r.text)
        assert field in json.dumps(r.json()), (query, r.text)
    import httpx2 as httpx

    assert httpx.get(f"{url}/api/mcp/audit/logs").status_code == 401


@pytest.mark.django_db
def test_admin_dashboard_button_and_audit_admin(client, make_user, tenant_a, tenant_b):
    from mcp_gateway.models import McpCall

    admin_a = make_user("dash_admin", {tenant_a: "admin"}, is_staff=True)
    McpCall.objects.create(tool="device_get", outcome="ok", auth_kind="api_key", tenant=tenant_a, username="x")
    McpCall.objects.create(tool="secret_tool_b", outcome="ok", auth_kind="api_key", tenant=tenant_b, username="y")
    client.force_login(admin_a)
    page = client.get("/admin/").content.decode()
    assert 'id="mcp-server-button"' in page and "mcpServers" in page and "/mcp" in page
    assert 'id="mcp-file-vscode"' in page and ".vscode/mcp.json" in page
    listing = client.get("/admin/mcp_gateway/mcpcall/").content.decode()
    assert "device_get" in listing and "secret_tool_b" not in listing
    other = McpCall.objects.get(tool="secret_tool_b")
    assert client.get(f"/admin/mcp_gateway/mcpcall/{other.pk}/change/").status_code in (302, 404)
    assert client.get("/admin/mcp_gateway/toolgrouppolicy/add/").status_code == 200
    # tenant admins set tool groups for their tenant, not for others
    from mcp_gateway.models import ToolGroupPolicy

    r = client.post("/admin/mcp_gateway/toolgrouppolicy/add/",
                    {"tenant": tenant_a.pk, "client_id": "", "enabled_groups": ["inventory", "ipam"]})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert ToolGroupPolicy.objects.get(tenant=tenant_a).enabled_groups == ["inventory", "ipam"]
    r = client.post("/admin/mcp_gateway/toolgrouppolicy/add/",
                    {"tenant": tenant_b.pk, "client_id": "", "enabled_groups": ["inventory"]})
    assert r.status_code == 200 and not ToolGroupPolicy.objects.filter(tenant=tenant_b).exists()
    operator = make_user("dash_op", {tenant_a: "operator"}, is_staff=True)
    client.force_login(operator)
    assert client.get("/admin/mcp_gateway/toolgrouppolicy/add/").status_code == 403



@pytest.mark.django_db
def test_purge_audit(capsys):
    from datetime import timedelta

    from django.utils import timezone

    from mcp_gateway.models import McpCall

    old = McpCall.objects.create(tool="old", outcome="ok", auth_kind="api_key")
    McpCall.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=400))
    McpCall.objects.create(tool="new", outcome="ok", auth_kind="api_key")
    call_command("mcp", "purge-audit", "--days", "180")
    assert list(McpCall.objects.values_list("tool", flat=True)) == ["new"]
    with pytest.raises(CommandError):
        call_command("mcp", "purge-audit", "--days", "0")
