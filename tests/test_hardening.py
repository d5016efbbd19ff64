"""Issue 24 (hardening): bad input ends in a 4xx, never a 500, on every surface.

Faults (outages, the outbox), header checks, secrets and scan allowlists have their own files
(tests/test_hardening_*.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.test_api_support import world  # noqa: F401

pytestmark = pytest.mark.django_db


def key_client(user, **kwargs) -> APIClient:
    from oauth.models import ApiKey

    _key, raw = ApiKey.create(user, "hardening", **kwargs)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


# --- item 6: a reader in no tenant gets an empty list ------------------------------------
@pytest.mark.parametrize("path", ["/api/devices/", "/api/ip-addresses/", "/api/networks/", "/api/jobs/"])
def test_user_in_no_tenant_lists_nothing(world, make_user, path):
    lonely = make_user("lonely")  # may log in and read, member of no tenant
    client = key_client(lonely, scopes=["inventory:read"])
    resp = client.get(path)
    assert resp.status_code == 200, resp.content
    assert resp.json()["count"] == 0 and resp.json()["results"] == []
    session = APIClient()
    session.force_login(lonely)
    resp = session.get(path, HTTP_ACCEPT="application/json")
    assert resp.status_code == 200 and resp.json()["count"] == 0


# --- item 7: deeply nested JSON is a 400 on every parser ---------------------------------
DEEP = "[" * 10000


def test_deep_json_refused_by_registration():
    resp = APIClient().post("/oauth/register/", DEEP, content_type="application/json")
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"] == "invalid_client_metadata"
    deep_object = '{"client_name": ' * 5000 + '"x"' + "}" * 5000
    resp = APIClient().post("/oauth/register/", deep_object, content_type="application/json")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_client_metadata"


def test_deep_json_refused_by_rest(world, make_user):
    user = make_user("deep", {world["a"]["tenant"]: "admin"})
    client = key_client(user)
    for path in ("/api/devices/", "/api/jobs/scan/", f"/api/jobs/access/{world['a']['device'].pk}/"):
        resp = client.post(path, DEEP, content_type="application/json")
        assert resp.status_code in (400, 405), (path, resp.content)
    resp = client.patch(f"/api/devices/{world['a']['device'].pk}/", '{"facts": ' + DEEP + "}",
                        content_type="application/json")
    assert resp.status_code == 400, resp.content


def test_deep_json_refused_by_mcp_config_merge(tmp_path):
    from mcp_gateway.clients import merge_into

    target = tmp_path / "mcp.json"
    target.write_text(DEEP)
    with pytest.raises(ValueError, match="not valid JSON"):
        merge_into(target, "cursor", url="http://127.0.0.1:8000/mcp")


def test_deep_json_refused_by_admin_json_field(world, superuser):
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    device = world["a"]["device"]
    page = client.get(f"/admin/inventory/device/{device.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items()
            if not isinstance(value, (list, tuple))}
    data.update({"name": device.name, "tenant": device.tenant_id, "status": device.status, "facts": DEEP})
    for formset in page.context["inline_admin_formsets"]:
        mgmt = formset.formset.management_form
        for name, field in mgmt.fields.items():
            data[f"{mgmt.prefix}-{name}"] = mgmt.initial.get(name, field.initial) or 0
    resp = client.post(f"/admin/inventory/device/{device.pk}/change/", data)
    assert resp.status_code == 200  # the form again, with an error on facts
    assert "facts" in resp.context["adminform"].form.errors


# --- item 8: OPTIONS never fails ---------------------------------------------------------
def test_options_on_every_jobs_endpoint(world, make_user):
    user = make_user("opts", {world["a"]["tenant"]: "admin"})
    client = key_client(user)
    device = world["a"]["device"]
    for path in ("/api/jobs/", "/api/jobs/1/", "/api/jobs/1/cancel/", "/api/jobs/scan/", "/api/jobs/command/",
                 "/api/jobs/provision/", "/api/jobs/discovered/", "/api/jobs/discovered/1/promote/",
                 f"/api/jobs/access/{device.pk}/", "/api/jobs/access/1/", f"/api/jobs/access/{device.pk}/approve-host-key/",
                 f"/api/jobs/access/{world['b']['device'].pk}/"):
        resp = client.options(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.content[:300])


# --- item 9: integers the database cannot hold are refused -------------------------------
@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=99999999999999999999999",
                                   "limit=9223372036854775808&offset=1"])
def test_rest_offset_beyond_bigint(world, make_user, query):
    user = make_user("big", {world["a"]["tenant"]: "viewer"})
    client = key_client(user)
    for path in ("/api/devices/", "/api/networks/", "/api/jobs/", "/api/jobs/discovered/", "/api/mcp/audit/logs"):
        resp = client.get(f"{path}?{query}")
        if "limit=" in query:  # an over-large limit is clamped to the maximum page, or refused
            assert resp.status_code in (200, 400), (path, resp.content)
        else:
            assert resp.status_code == 400 and "offset" in resp.json(), (path, resp.content)


def test_rest_integer_query_parameters_have_maximums_in_schema(world, superuser):
    client = APIClient()
    client.force_login(superuser)
    schema = client.get("/api/schema/?format=json").json()
    unbounded = []
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                schema_ = param.get("schema", {})
                if schema_.get("type") == "integer" and not ("maximum" in schema_ or "enum" in schema_):
                    unbounded.append(f"{method} {path} {param['name']}")
    assert unbounded == []
    resp = client.get(f"/api/jobs/1/?log_after={2**63}")
    assert resp.status_code in (400, 404)


def test_mcp_integer_beyond_bigint_is_invalid_params(world, make_user):
    from inventory.tenancy import Principal
    from mcp_gateway.registry import registry
    from mcp_gateway.server import CallerEnv, execute

    user = make_user("bigmcp", {world["a"]["tenant"]: "admin"})
    env = CallerEnv(principal=Principal(user, via="api_key"), ip="127.0.0.1")
    for name, args in (("device_list", {"offset": 2**63}), ("device_list", {"offset": 2**70, "limit": 5}),
                       ("network_list", {"offset": 2**63}), ("device_get", {"id": 2**63}),
                       ("job_list", {"offset": 2**64})):
        tool = registry.get(name)
        if tool is None:
            continue
        result, is_error = execute(tool, args, env)
        assert is_error and result["error"]["code"] in ("INVALID_PARAMS", "NOT_FOUND"), (name, result)
    result, is_error = execute(registry.get("device_list"), {"offset": 2**63 - 1}, env)
    assert not is_error and result["items"] == [], result


def test_options_on_every_documented_path(world, make_user):
    """OPTIONS (DRF's metadata) on every path of the OpenAPI document, with a real and an absent
    id: never a server error."""
    import re

    user = make_user("opts_all", {world["a"]["tenant"]: "admin"})
    client = key_client(user)
    schema = client.get("/api/schema/?format=json").json()
    checked = 0
    for path in schema["paths"]:
        for value in (world["a"]["device"].pk, 999999):
            resp = client.options(re.sub(r"\{[^}]+\}", str(value), path))
            assert resp.status_code < 500, (path, value, resp.status_code, resp.content[:300])
            checked += 1
    assert checked >= 80
