"""The tool registry, serializer → JSON Schema, and the call pipeline, in process."""

from __future__ import annotations

import jsonschema
import pytest
from rest_framework import serializers

from inventory.tenancy import Principal
from mcp_gateway.registry import Forbidden, Tool, registry, register
from mcp_gateway.schema import serializer_schema, with_error
from mcp_gateway.server import CallerEnv, execute, mcp_tool, validate_arguments


def _tool(name, handler, **kw):
    return Tool(name=name, title=name, description="test tool", group="inventory", action=kw.pop("action", "view"),
                handler=handler, input_schema=kw.pop("input_schema", {"type": "object", "properties": {}}), **kw)


@pytest.fixture
def temp_tools():
    names = []

    def add(tool):
        register(tool)
        names.append(tool.name)
        return tool

    yield add
    for name in names:
        registry.unregister(name)


def test_tool_definition_is_checked():
    with pytest.raises(ValueError):
        _tool("bad_action", lambda ctx, a: {}, action="fly")
    with pytest.raises(ValueError):
        _tool("bad_schema", lambda ctx, a: {}, input_schema={"type": "array"})
    with pytest.raises(ValueError):
        register(registry.get("device_get"))  # names are unique


def test_registered_tools_have_valid_schemas_scopes_and_annotations():
    tools = registry.all()
    names = [t.name for t in tools]
    assert names == [t.name for t in registry.all()]  # deterministic order
    assert names[0] == "search"
    for tool in tools:
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        if tool.output_schema:
            jsonschema.Draft202012Validator.check_schema(tool.output_schema)
        described = mcp_tool(tool)
        assert described.annotations.title == tool.title
        assert tool.scope in ("inventory:read", "inventory:write", "inventory:delete", "jobs:execute")
        if tool.name.endswith(("_list", "_get")) or tool.name == "search":
            assert tool.read_only and tool.scope == "inventory:read"
        if tool.name.endswith("_delete"):
            assert tool.destructive and tool.scope == "inventory:delete"
        if tool.group in ("inventory", "ipam", "tenants"):
            assert not tool.open_world


def test_serializer_change_changes_the_tool_schema():
    """Adding a field to a serializer changes the generated tool together with REST."""
    from inventory.api.serializers import DatacenterSerializer
    from inventory.models import Datacenter
    from mcp_gateway.tools.factories import Resource, save_tool

    class Extended(DatacenterSerializer):
        rack_count = serializers.IntegerField(min_value=0, max_value=500, required=False, help_text="Racks.")

        class Meta(DatacenterSerializer.Meta):
            fields = [*DatacenterSerializer.Meta.fields, "rack_count"]

    tool = save_tool(Resource(name="dcx", model=Datacenter, serializer=Extended, group="inventory"),
                     description="x")
    prop = tool.input_schema["properties"]["rack_count"]
    assert prop == {"type": "integer", "minimum": 0, "maximum": 500, "description": "Racks."}
    assert "tenant_id" in tool.input_schema["properties"] and "tenant" not in tool.input_schema["properties"]
    assert "id" in tool.output_schema["properties"] and "created" not in tool.input_schema["properties"]


def test_schema_of_field_kinds():
    class S(serializers.Serializer):
        a = serializers.CharField(max_length=5)
        b = serializers.IntegerField(allow_null=True, required=False)
        c = serializers.ChoiceField(choices=["x", "y"], default="x")
        d = serializers.ListField(child=serializers.IPAddressField(protocol="ipv4"))
        e = serializers.DateTimeField(read_only=True)
        f = serializers.JSONField(required=False)

    schema = serializer_schema(S, mode="input")
    assert schema["required"] == ["a", "d"] and schema["additionalProperties"] is False
    assert schema["properties"]["b"]["type"] == ["integer", "null"]
    assert schema["properties"]["c"] == {"enum": ["x", "y"], "default": "x"}
    assert schema["properties"]["d"]["items"] == {"type": "string", "format": "ipv4"}
    assert "e" not in schema["properties"] and schema["properties"]["f"] == {}
    out = with_error(serializer_schema(S, mode="output") | {"required": ["a"]})
    jsonschema.validate({"a": "x", "e": "2026-01-01T00:00:00Z"}, out)
    jsonschema.validate({"error": {"code": "NOT_FOUND", "message": "gone", "details": {}}}, out)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"e": "x"}, out)


def test_argument_validation_messages():
    tool = registry.get("device_save")
    with pytest.raises(Exception) as exc:
        validate_arguments(tool, {"name": 3, "addresses": [{"type": "ipv4"}], "zzz": 1})
    details = exc.value.details
    assert details["name"] == ["Expected string, got int."]
    assert details["addresses.0.ip"] == ["This field is required."]
    assert details["zzz"] == ["Unknown field."]
    with pytest.raises(Exception):
        validate_arguments(tool, ["not", "an", "object"])


@pytest.mark.django_db
def test_internal_errors_do_not_leak_and_roll_back(temp_tools, make_user, tenant_a):
    from inventory.models import Datacenter
    from mcp_gateway.models import McpCall

    user = make_user("u1", {tenant_a: "operator"})

    def boom(ctx, args):
        Datacenter.objects.create(tenant=tenant_a, name="written-then-rolled-back")
        raise RuntimeError("db password is hunter2")

    def refuse(ctx, args):
        raise Forbidden("nope", {"why": "test"})

    temp_tools(_tool("test_boom", boom, action="add"))
    temp_tools(_tool("test_refuse", refuse))
    env = CallerEnv(principal=Principal(user, via="api_key"), ip="127.0.0.1", user_agent="pytest")
    result, is_error = execute(registry.get("test_boom"), {}, env)
    assert is_error and result == {"error": {"code": "INTERNAL_ERROR", "message": "Internal error.", "details": {}}}
    assert not Datacenter.objects.filter(name="written-then-rolled-back").exists()
    result, is_error = execute(registry.get("test_refuse"), {}, env)
    assert is_error and result["error"] == {"code": "FORBIDDEN", "message": "nope", "details": {"why": "test"}}
    row = McpCall.objects.get(tool="test_boom")
    assert row.outcome == "error" and row.error_code == "INTERNAL_ERROR" and "hunter2" not in row.error_message
    # no principal: UNAUTHORIZED, audited
    result, is_error = execute(registry.get("test_refuse"), {}, CallerEnv(principal=None))
    assert is_error and result["error"]["code"] == "UNAUTHORIZED"


def test_opentelemetry_spans_only_when_configured(settings):
    """The SDK wraps every message in an OpenTelemetry span by default; with no SDK installed
    those are no-ops that cost CPU, so the server drops that middleware unless asked to keep it."""
    from mcp.server._otel import OpenTelemetryMiddleware

    from mcp_gateway.server import build_server

    assert not any(isinstance(m, OpenTelemetryMiddleware) for m in build_server().middleware)
    settings.MCP_OPENTELEMETRY = True
    assert any(isinstance(m, OpenTelemetryMiddleware) for m in build_server().middleware)


@pytest.mark.django_db
def test_audit_row_names_the_tenant_of_the_object_looked_up(make_user, tenant_a, tenant_b):
    """The tenant of a call comes from the shared lookup (get_for / save_model / delete_object),
    not from each handler: reads, creations, deletions and service-backed tools alike."""
    from inventory.models import Datacenter, Device
    from mcp_gateway.models import McpCall

    user = make_user("both", {tenant_a: "admin", tenant_b: "admin"})
    env = CallerEnv(principal=Principal(user, via="api_key"), ip="127.0.0.1", user_agent="pytest")
    device = Device.objects.create(tenant=tenant_b, name="in-b")
    dc = Datacenter.objects.create(tenant=tenant_b, name="dc-b")
    calls = [("device_get", {"id": device.pk}), ("device_get_relationships", {"id": device.pk}),
             ("datacenter_save", {"name": "new", "tenant_id": tenant_b.pk}), ("datacenter_delete", {"id": dc.pk})]
    for name, args in calls:
        result, is_error = execute(registry.get(name), args, env)
        if is_error and result["error"]["code"] == "CONFIRMATION_REQUIRED":  # the delete asks first
            result, is_error = execute(registry.get(name), {**args, "confirm_token": result["error"]["details"]["confirm_token"]}, env)
        assert not is_error, result
    # the delete's question and its confirmed call both name B
    assert list(McpCall.objects.order_by("created", "id").values_list("tool", "tenant_id")) == [
        (name, tenant_b.pk) for name, _args in calls] + [("datacenter_delete", tenant_b.pk)]
