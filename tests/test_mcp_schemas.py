"""Tool schemas every client reads: 0 portability warnings (our mirror of the Inspector's check,
and the MCP Inspector CLI itself), bounded integers, numeric-string ids, absolute URLs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import ROOT
from tests.test_mcp_support import MODES, api_key, call, mcp_client, mcp_server, run  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

INSPECTOR_VERSION = "2.12.0"


def inspector() -> str | None:
    """The Inspector CLI installed by .ci/run (var/node), or MCP_INSPECTOR."""
    path = os.environ.get("MCP_INSPECTOR") or str(ROOT / "var" / "node" / "node_modules" / ".bin" / "mcp-inspector")
    return path if Path(path).exists() and shutil.which("node") else None


def test_portable_rewrites_keep_the_meaning():
    import jsonschema

    from mcp_gateway.portable import lint, portable, unbounded_integers

    schema = {"type": "object", "properties": {
        "a": {"type": ["integer", "null"], "description": "A."},
        "b": {"enum": ["x", "y", None], "type": ["string", "null"]},
        "c": {},
        "offset": {"type": "integer", "minimum": 0},
        "d": {"type": "array", "items": {"type": "integer"}},
    }, "additionalProperties": False}
    out = portable(schema, inputs=True)
    assert lint(schema) and not lint(out), lint(out)
    assert unbounded_integers(schema) and not unbounded_integers(out)
    assert out["properties"]["offset"]["maximum"] == 2**31 - 1
    assert out["properties"]["a"]["description"] == "A."
    ok = {"a": None, "b": "x", "c": [1], "offset": 5, "d": [1]}
    jsonschema.validate(ok, out)
    for bad in ({"a": "1"}, {"b": "z"}, {"offset": 2**63}, {"d": [2**60]}, {"e": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, out)
    assert lint({"anyOf": [{"type": "string"}, {}]})  # the mirror finds what it should


@pytest.mark.parametrize("mode", MODES)
def test_tools_list_is_portable_and_bounded(mcp_server, superuser, tenant_a, mode):
    from mcp_gateway.portable import lint, unbounded_integers

    key = api_key(superuser)

    async def body():
        async with mcp_client(mcp_server.url, key, mode) as client:
            return (await client.list_tools()).tools

    tools = run(body)
    assert len(tools) > 30 and "tenant_delete" in {t.name for t in tools}
    warnings = {t.name: lint(t.input_schema) + (lint(t.output_schema) if t.output_schema else []) for t in tools}
    assert {n: w for n, w in warnings.items() if w} == {}
    unbounded = {t.name: unbounded_integers(t.input_schema) for t in tools}
    assert {n: u for n, u in unbounded.items() if u} == {}


def test_inspector_cli_reports_no_portability_warnings(mcp_server, superuser):
    cli = inspector()
    if cli is None:
        if os.environ.get("CI"):
            pytest.fail("the MCP Inspector CLI is missing: .ci/run installs it into var/node")
        pytest.skip("MCP Inspector CLI not installed (bash .ci/run installs it)")
    key = api_key(superuser)
    for era in ("modern", "auto"):
        proc = subprocess.run(
            [cli, "--cli", f"{mcp_server.url}/mcp", "--transport", "http", "--header", f"Authorization: Bearer {key}",
             "--method", "tools/list", "--strict", "--protocol-era", era],
            capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
        assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
        assert "tenant_delete" in proc.stdout
        assert "Warning:" not in proc.stderr and "Error:" not in proc.stderr, proc.stderr[-3000:]
        assert "portability" not in proc.stderr, proc.stderr[-3000:]


def test_numeric_string_ids_bounds_and_absolute_urls(mcp_server, make_user, tenant_a, tenant_b, settings):
    from inventory.models import Device

    admin = make_user("s_admin", {tenant_a: "admin"})
    key = api_key(admin)
    device = Device.objects.create(tenant=tenant_a, name="web1")
    theirs = Device.objects.create(tenant=tenant_b, name="theirs")

    async def body():
        async with mcp_client(mcp_server.url, key) as client:
            got, err = await call(client, "device_get", {"id": str(device.pk)})
            assert not err and got["id"] == device.pk, got
            assert got["url"].startswith("http://") and got["url"].endswith(f"/api/devices/{device.pk}/"), got["url"]
            listed, err = await call(client, "device_list", {"limit": "5", "fields": ["id", "url"]})
            assert not err and listed["limit"] == 5 and listed["items"][0]["url"].startswith("http"), listed
            # another tenant's id as a string: not found, as an integer would be
            got, err = await call(client, "device_get", {"id": str(theirs.pk)})
            assert err and got["error"]["code"] == "NOT_FOUND"
            # not a number, out of range: INVALID_PARAMS naming what was expected / the bound
            got, err = await call(client, "device_get", {"id": "web1"})
            assert err and got["error"]["details"]["id"] == ["Expected integer, got string."], got
            got, err = await call(client, "device_get", {"id": "0"})
            assert err and "at least 1" in got["error"]["details"]["id"][0], got
            got, err = await call(client, "device_list", {"offset": 2**63})
            assert err and got["error"]["code"] == "INVALID_PARAMS" and str(2**31 - 1) in got["error"]["details"]["offset"][0]
            got, err = await call(client, "device_list", {"offset": str(2**63)})
            assert err and got["error"]["code"] == "INVALID_PARAMS"
            got, err = await call(client, "device_save", {"id": device.pk, "datacenter_id": "x"})
            assert err and got["error"]["details"]["datacenter_id"] == ["Expected integer or null, got string."], got

    run(body)
