"""The MCP server (low-level ``mcp.server.Server``) over the tool registry.

Every transport (Streamable HTTP, SSE, stdio) uses :func:`build_server`. The caller's identity
arrives as a :class:`CallerEnv`: on HTTP the auth gate (``mcp_gateway.auth``) puts it in the ASGI
scope's state; on stdio the server is built with a fixed one.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import jsonschema
import mcp_types as types
from django.conf import settings
from django.db import close_old_connections, transaction
from mcp.server import NotificationOptions, Server
from mcp.server._otel import OpenTelemetryMiddleware  # the SDK names it as the way to opt out
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from inventory.runtime import threads
from inventory.outages import RETRY_AFTER, unavailable
from inventory.outages import message as outage_message
from inventory.tenancy import Principal

from . import audit, list_changes
from .policy import GroupPolicy
from .registry import Forbidden, InvalidParams, Tool, ToolContext, Unauthorized, registry, tool_error

logger = logging.getLogger(__name__)

async def run_sync(fn, *args):
    """Run ORM work in a worker thread of the web process, with Django's connection hygiene around it."""

    def job():
        close_old_connections()
        try:
            return fn(*args)
        finally:
            close_old_connections()

    return await threads.run_sync(job)


@dataclass
class CallerEnv:
    principal: Principal | None
    transport: str = "http"
    ip: str | None = None
    user_agent: str = ""
    #: stdio: the raw API key, re-checked on every call (a revoked key stops working at once)
    credential: str | None = None
    extra: dict = field(default_factory=dict)


def mcp_resource() -> str:
    return settings.PUBLIC_URL.rstrip("/") + "/mcp"


def authenticate(raw: str, *, resource: str | None = "default") -> Principal | None:
    """Bearer string → Principal (API key, or OAuth token bound to the MCP resource)."""
    from oauth.credentials import authenticate_bearer

    if not raw:
        return None
    principal = authenticate_bearer(raw, resource=mcp_resource() if resource == "default" else resource)
    if principal is None or not principal.is_authenticated:
        return None
    return principal


def _stdio_principal(key: str) -> Principal | None:
    principal = authenticate(key, resource=None)
    if principal is not None:
        principal.via = "stdio"
    return principal


# --- tool description ---------------------------------------------------------------------
_mcp_tools: dict[str, tuple[Tool, types.Tool]] = {}


def mcp_tool(tool: Tool) -> types.Tool:
    """The wire description of a tool (built once per registered tool)."""
    hit = _mcp_tools.get(tool.name)
    if hit is not None and hit[0] is tool:
        return hit[1]
    cached = types.Tool(
        name=tool.name,
        title=tool.title,
        description=f"{tool.description}\n\nScope: {tool.scope}. Group: {tool.group}.",
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=types.ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive if not tool.read_only else False,
            idempotent_hint=tool.idempotent,
            open_world_hint=tool.open_world,
        ),
    )
    _mcp_tools[tool.name] = (tool, cached)
    return cached


def visible_tools(principal: Principal, *, listing: bool = False) -> list[Tool]:
    """Built-in and custom tools the principal may call; ``listing``: what ``tools/list`` shows
    (in progressive mode only the core set, the rest through ``tool_search``)."""
    if principal is None or not principal.is_authenticated:
        return []
    policy = GroupPolicy(principal)
    tools = [t for t in [*registry.all(), *registry.dynamic(principal)] if policy.visible(t)]
    if listing:
        from .tools.catalog import listed

        tools = listed(principal, tools)
    return tools


def listed_tools(env: "CallerEnv") -> list[Tool]:
    """What ``tools/list`` shows this caller (stdio: its key checked again)."""
    principal = _stdio_principal(env.credential) if env.credential is not None else env.principal
    return visible_tools(principal, listing=True) if principal is not None else []


def listed_names(env: "CallerEnv") -> list[str]:
    return [t.name for t in listed_tools(env)]


def visible_tool(name: str, env: "CallerEnv") -> Tool | None:
    """A tool that is not built in (a custom tool) by name, if the caller may see it; else None, so
    that another tenant's tool answers as an unknown one."""
    principal = _stdio_principal(env.credential) if env.credential is not None else env.principal
    if principal is None or not principal.is_authenticated:
        return None
    tool = registry.find(name)
    return tool if tool is not None and GroupPolicy(principal).visible(tool) else None


# --- calling ------------------------------------------------------------------------------
_validators: dict[str, tuple[dict, jsonschema.protocols.Validator]] = {}


def validate_arguments(tool: Tool, args) -> None:
    """Check arguments against the tool's input schema; per-field messages like DRF's."""
    if not isinstance(args, dict):
        raise InvalidParams("Arguments must be a JSON object.", {"non_field_errors": ["Expected an object."]})
    hit = _validators.get(tool.name)
    if hit is not None and hit[0] is tool.input_schema:
        validator = hit[1]
    else:
        validator = jsonschema.validators.validator_for(tool.input_schema)(tool.input_schema)
        _validators[tool.name] = (tool.input_schema, validator)
    errors: dict[str, list[str]] = {}
    for err in validator.iter_errors(args):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else "non_field_errors"
            errors.setdefault(".".join([*path, missing]), []).append("This field is required.")
        elif err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            for name in extra:
                errors.setdefault(".".join([*path, name]), []).append("Unknown field.")
        else:
            errors.setdefault(".".join(path) or "non_field_errors", []).append(_message(err))
    for path, value in _integers(args, ()):
        if not -BIGINT <= value < BIGINT:  # whatever the schema says, the database holds no more
            errors.setdefault(".".join(path), []).append(f"Ensure this value is between {-BIGINT} and {BIGINT - 1}.")
    if errors:
        raise InvalidParams("Invalid arguments.", errors)


BIGINT = 2**63


def _integers(value, path):
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _integers(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _integers(item, (*path, str(index)))


def _message(err) -> str:
    if err.validator == "type":
        expected = err.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"Expected {expected}, got {type(err.instance).__name__.replace('str', 'string').replace('NoneType', 'null')}."
    if err.validator == "enum":
        return f"{err.instance!r} is not one of: {', '.join(map(str, err.validator_value))}."
    return err.message


def _jsonable(data):
    return json.loads(json.dumps(data, default=str))


def execute(tool: Tool, args, env: CallerEnv) -> tuple[dict, bool]:
    """Run one tool call (sync, in a worker thread). Returns (structured content, is_error)."""
    from auditlog.cid import correlation_id

    from inventory.auditing import audit_context
    from inventory.services.common import tenant_trace

    started = time.perf_counter()
    call_id = uuid.uuid4()
    principal = env.principal
    ctx, traced = None, []
    try:
        if env.credential is not None:  # stdio: the key is checked on every call
            principal = _stdio_principal(env.credential)
        if principal is None or not principal.is_authenticated:
            raise Unauthorized("The credential is missing, invalid, expired or revoked.")
        missing = principal.missing_scopes(tool.action)
        if missing:
            raise Forbidden(f"This call needs the scope {', '.join(missing)}.", {"required_scopes": missing})
        policy = GroupPolicy(principal)
        if not policy.visible(tool):
            raise Forbidden(f"You may not use {tool.name}: your role does not allow it or the "
                            f"'{tool.group}' tool group is disabled.")
        validate_arguments(tool, args)
        ctx = ToolContext(principal=policy.narrow(tool.group), tool=tool, call_id=str(call_id),
                          base_principal=principal, transport=env.transport)
        token = correlation_id.set(str(call_id))
        try:
            with audit_context(principal.user, remote_addr=env.ip), tenant_trace() as traced:
                if tool.atomic and not tool.read_only:
                    with transaction.atomic():
                        result = tool.handler(ctx, args)
                else:
                    result = tool.handler(ctx, args)
        finally:
            correlation_id.reset(token)
        result, is_error, error = _jsonable(result if result is not None else {}), False, None
    except Exception as exc:  # noqa: BLE001 - every failure becomes an isError result
        if unavailable(exc):
            raise  # an outage: a JSON-RPC error (call_tool), nothing to audit into a database that is down
        error = tool_error(exc, tool)
        result, is_error = error.as_dict(), True
    audit.record(
        call_id=call_id, principal=principal, tool_name=tool.name, arguments=args,
        secret_fields=tool.secret_fields, secret_values=_secret_values(tool, args), outcome="error" if is_error else "ok",
        error_code=error.code if error else "", error_message=error.message if error else "",
        duration_ms=(time.perf_counter() - started) * 1000, ip=env.ip, user_agent=env.user_agent,
        transport=env.transport, tenant_id=(ctx.extra.get("tenant_id") or (traced[0] if traced else None)) if ctx else None,
        custom=tool.custom,
    )
    return result, is_error


#: JSON-RPC error code of a dependency outage (implementation-defined server error range)
UNAVAILABLE = -32001


def _raise_if_unavailable(exc: Exception) -> None:
    dependency = unavailable(exc)
    if dependency:
        logger.warning("MCP request failed: %s unreachable (%s)", dependency, type(exc).__name__)
        raise MCPError(UNAVAILABLE, outage_message(dependency), {"dependency": dependency, "retry_after": RETRY_AFTER}) from None


def _secret_values(tool: Tool, args) -> set:
    if tool.secret_values is None or not isinstance(args, dict):
        return set()
    try:
        return set(tool.secret_values(args) or ())
    except Exception:  # noqa: BLE001 - e.g. bad arguments: the call failed anyway; audit what we can
        logger.warning("could not look up the secret values of a %s call", tool.name, exc_info=True)
        return set()


def result_of(structured: dict, is_error: bool) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(structured, ensure_ascii=False))],
        structured_content=structured,
        is_error=is_error,
    )


def env_from_context(ctx) -> CallerEnv:
    request = getattr(ctx, "request", None)
    if request is not None:
        env = request.scope.get("state", {}).get("mcp_env")
        if env is not None:
            return env
    return CallerEnv(principal=None)


def session_options(server: Server):
    """Initialization options of a transport that holds sessions (SSE, stdio): they are told when
    their tool list changes (:mod:`mcp_gateway.list_changes`)."""
    return server.create_initialization_options(NotificationOptions(tools_changed=True))


def build_server(env_getter: Callable[[object], CallerEnv] = env_from_context) -> Server:
    async def list_tools(ctx, params) -> types.ListToolsResult:
        env = env_getter(ctx)
        try:
            tools = await run_sync(listed_tools, env)
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise
        list_changes.watch(getattr(ctx, "session", None), env, [t.name for t in tools])
        return types.ListToolsResult(tools=[mcp_tool(t) for t in tools])

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = registry.get(params.name)
        env = env_getter(ctx)
        if tool is None:
            tool = await run_sync(visible_tool, params.name, env)
        if tool is None:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        try:
            structured, is_error = await run_sync(execute, tool, params.arguments or {}, env)
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise
        return result_of(structured, is_error)

    def input_schema(name: str):
        tool = registry.get(name)
        return tool.input_schema if tool else None

    server = Server(
        getattr(settings, "MCP_SERVER_NAME", "inventory"),
        version="1.0.0",
        title="Infrastructure inventory",
        instructions=(
            "Multi-tenant infrastructure inventory: devices, datacenters, networks, IP pools and "
            "addresses. Use search or the *_list tools to find ids, then *_get/*_save/*_delete. "
            "List tools are paged (limit/offset) and return brief items unless you ask for fields."
        ),
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    if not settings.MCP_OPENTELEMETRY:  # the SDK's documented opt-out
        server.middleware = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    return server
