"""The MCP server (low-level ``mcp.server.Server``) over the tool registry.

Every transport (Streamable HTTP, SSE, stdio) uses :func:`build_server`. The caller's identity
arrives as a :class:`CallerEnv`: on HTTP the auth gate (``mcp_gateway.auth``) puts it in the ASGI
scope's state; on stdio the server is built with a fixed one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import anyio
import jsonschema
import mcp_types as types
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import close_old_connections, transaction
from django.http import Http404
from mcp.server import NotificationOptions, Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server._otel import OpenTelemetryMiddleware  # the SDK names it as the way to opt out
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from rest_framework.exceptions import NotFound as DRFNotFound

from inventory.runtime import threads
from inventory.outages import RETRY_AFTER, unavailable
from inventory.outages import message as outage_message
from inventory.tenancy import Principal

from . import audit, confirm, list_changes, resources
from .policy import GroupPolicy
from .portable import portable
from .registry import Forbidden, InvalidParams, Tool, ToolContext, ToolError, Unauthorized, registry, tool_error

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
        input_schema=effective_schema(tool),
        output_schema=portable(tool.output_schema) if tool.output_schema is not None else None,
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


META_PROPERTIES = {
    confirm.DRY_RUN: {"type": "boolean", "default": False,
                      "description": "Only say what the call would do (validated), writing nothing."},
    confirm.CONFIRM_TOKEN: {"type": "string", "minLength": 1, "maxLength": 100,
                            "description": "The token of a CONFIRMATION_REQUIRED answer: runs the call it was "
                                           "issued for (same arguments), once."},
}


WAIT = "wait"


def wait_property() -> dict:
    return {"type": "integer", "minimum": 0, "maximum": settings.MCP_JOB_WAIT_MAX,
            "description": f"Seconds to wait for the job (progress notifications go to a client that sent a "
                           f"progressToken). Default {settings.MCP_JOB_WAIT_DEFAULT} with a progressToken, "
                           f"else 0 (answer at once)."}


_effective: dict[str, tuple[dict, dict]] = {}


def effective_schema(tool: Tool) -> dict:
    """The input schema clients see and arguments are checked against: write tools also take
    ``dry_run`` and ``confirm_token``, job tools ``wait``; in the portable form
    (:mod:`mcp_gateway.portable`: no type arrays, every schema typed, integers bounded)."""
    hit = _effective.get(tool.name)
    if hit is not None and hit[0] is tool.input_schema:
        return hit[1]
    extra = {} if tool.read_only else dict(META_PROPERTIES)
    if tool.follow is not None:
        extra[WAIT] = wait_property()
    schema = tool.input_schema
    if extra:
        schema = {**schema, "properties": {**schema.get("properties", {}), **extra}}
    schema = portable(schema, inputs=True)
    _effective[tool.name] = (tool.input_schema, schema)
    return schema


def _is_integer(prop: dict) -> bool:
    return prop.get("type") == "integer" or any(
        isinstance(b, dict) and b.get("type") == "integer" for b in prop.get("anyOf", ()))


_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")


def _numeric_strings(schema: dict, args: dict) -> dict:
    """Integer arguments given as numeric strings ("2002") become integers, then are validated
    like any integer (assistants often send ids as strings)."""
    props = schema.get("properties", {})
    out = None
    for name, value in args.items():
        prop = props.get(name)
        if not isinstance(prop, dict):
            continue
        if _is_integer(prop) and isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            out = out if out is not None else dict(args)
            out[name] = int(value.strip())
        elif (prop.get("type") == "array" and isinstance(value, list)
              and _is_integer(prop.get("items") or {})):
            converted = [int(v.strip()) if isinstance(v, str) and _INTEGER.fullmatch(v.strip()) else v for v in value]
            if converted != value:
                out = out if out is not None else dict(args)
                out[name] = converted
    return out if out is not None else args


def validate_arguments(tool: Tool, args) -> dict:
    """Check arguments against the tool's input schema; per-field messages like DRF's. Returns
    the arguments the handler gets (numeric-string integers converted, gateway arguments out)."""
    if not isinstance(args, dict):
        raise InvalidParams("Arguments must be a JSON object.", {"non_field_errors": ["Expected an object."]})
    schema = effective_schema(tool)
    hit = _validators.get(tool.name)
    if hit is not None and hit[0] is tool.input_schema:
        validator = hit[1]
    else:
        validator = jsonschema.validators.validator_for(schema)(schema)
        _validators[tool.name] = (tool.input_schema, validator)
    args = _numeric_strings(schema, args)
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
    if tool.read_only and tool.follow is None:
        return args
    return {k: v for k, v in args.items() if k not in META_PROPERTIES and k != WAIT}


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
    if err.validator == "anyOf" and err.context:  # nullable fields: say what the typed branch refused
        beyond_type = [e for e in err.context if e.validator != "type"]
        if beyond_type:
            return _message(beyond_type[0])
        types = [b.get("type") for b in err.validator_value if isinstance(b, dict)]
        if all(isinstance(t, str) for t in types):
            got = type(err.instance).__name__.replace('str', 'string').replace('NoneType', 'null')
            return f"Expected {' or '.join(types)}, got {got}."
    if err.validator in ("minimum", "maximum"):
        word = "least" if err.validator == "minimum" else "most"
        return f"Must be at {word} {err.validator_value} (got {err.instance})."
    return err.message


def _jsonable(data):
    return json.loads(json.dumps(data, default=str))


@dataclass
class Call:
    """One tools/call as it goes through the gateway."""

    tool: Tool
    args: dict
    env: CallerEnv
    call_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    ctx: ToolContext | None = None
    clean: dict = field(default_factory=dict)  # the arguments without dry_run / confirm_token
    impact: confirm.Impact | None = None
    traced: list = field(default_factory=list)  # tenants the shared lookup saw (services.common.tenant_trace)


class Pending(Exception):
    """The call needs a confirmation first (raised by :func:`_run`, handled in :func:`call_tool`)."""

    def __init__(self, call: Call):
        super().__init__(call.tool.name)
        self.call = call


def _prepare(call: Call) -> None:
    tool, env = call.tool, call.env
    principal = env.principal
    if env.credential is not None:  # stdio: the key is checked on every call
        principal = _stdio_principal(env.credential)
    call.principal = principal
    if principal is None or not principal.is_authenticated:
        raise Unauthorized("The credential is missing, invalid, expired or revoked.")
    missing = principal.missing_scopes(tool.action)
    if missing:
        raise Forbidden(f"This call needs the scope {', '.join(missing)}.", {"required_scopes": missing})
    policy = GroupPolicy(principal)
    if not policy.visible(tool):
        raise Forbidden(f"You may not use {tool.name}: your role does not allow it or the "
                        f"'{tool.group}' tool group is disabled.")
    call.clean = validate_arguments(tool, call.args)
    call.ctx = ToolContext(principal=policy.narrow(tool.group), tool=tool, call_id=str(call.call_id),
                           base_principal=principal, transport=env.transport)


def _handle(call: Call, *, token: str | None = None, rollback: bool = False):
    """The handler, in the call's transaction; a confirmation token is used inside it (a failed
    call leaves the token unused), ``rollback`` undoes everything (dry runs)."""
    from auditlog.cid import correlation_id

    from inventory.auditing import audit_context
    from inventory.services.common import tenant_trace

    tool, ctx = call.tool, call.ctx
    cid = correlation_id.set(str(call.call_id))
    try:
        with audit_context(call.principal.user, remote_addr=call.env.ip), tenant_trace() as traced:
            call.traced = traced
            if rollback or token is not None or (tool.atomic and not tool.read_only):
                with transaction.atomic():
                    if token is not None:
                        confirm.consume(token, tool=tool, principal=call.principal, args=call.args,
                                        call_id=call.call_id)
                        ctx.extra["confirmed"] = True  # the user said yes to this call's impact
                    result = tool.handler(ctx, call.clean)
                    if rollback:
                        transaction.set_rollback(True)
                return result
            return tool.handler(ctx, call.clean)
    finally:
        correlation_id.reset(cid)


def _dry_run(call: Call) -> dict:
    tool = call.tool
    if tool.impact is not None:
        impact = tool.impact(call.ctx, call.clean)
        return {**impact.result, "dry_run": True, "impact": impact.as_dict()}
    result = _jsonable(_handle(call, rollback=True) or {})
    return {**result, "dry_run": True} if isinstance(result, dict) else {"result": result, "dry_run": True}


def _run(call: Call, token: str | None = None) -> dict:
    """Prepare and run a call (sync, in a worker thread); raises :class:`Pending` when it must be
    confirmed first (nothing written yet)."""
    _prepare(call)
    tool = call.tool
    if call.args.get(confirm.DRY_RUN) and not tool.read_only:
        return _dry_run(call)
    token = token or call.args.get(confirm.CONFIRM_TOKEN)
    if token is None and not tool.read_only:
        impact = tool.impact(call.ctx, call.clean) if tool.impact is not None else None
        if confirm.requires_confirmation(tool, call.principal, impact):
            if impact is None:
                _handle(call, rollback=True)  # refuse bad input before asking anything
                impact = confirm.generic_impact(tool, call.clean, call.principal)
            call.impact = impact
            raise Pending(call)
    return _handle(call, token=token)


def _finish(call: Call, result, error: ToolError | None, outcome: str | None = None) -> tuple[dict, bool]:
    """Audit the call (one McpCall row per tools/call) and shape its answer."""
    ctx = call.ctx
    if error is not None:
        result, is_error = error.as_dict(), True
    else:
        result, is_error = _jsonable(result if result is not None else {}), False
    outcome = outcome or ("error" if is_error else "ok")
    tenant_id = (ctx.extra.get("tenant_id") or (call.traced[0] if call.traced else None)) if ctx else None
    if tenant_id is None and call.impact is not None:
        tenant_id = call.impact.tenant_id
    principal = call.principal if call.principal is not None else call.env.principal
    audit.record(
        call_id=call.call_id, principal=principal,
        tool_name=call.tool.name, arguments=call.args, secret_fields=call.tool.secret_fields,
        secret_values=audit.secret_values_of(call.tool, call.args, principal), outcome=outcome,
        error_code=error.code if error else "", error_message=error.message if error else "",
        duration_ms=(time.perf_counter() - call.started) * 1000, ip=call.env.ip, user_agent=call.env.user_agent,
        transport=call.env.transport, tenant_id=tenant_id, custom=call.tool.custom,
    )
    return result, is_error


#: JSON-RPC error code of a dependency outage (implementation-defined server error range)
UNAVAILABLE = -32001


def _raise_if_unavailable(exc: Exception) -> None:
    dependency = unavailable(exc)
    if dependency:
        logger.warning("MCP request failed: %s unreachable (%s)", dependency, type(exc).__name__)
        raise MCPError(UNAVAILABLE, outage_message(dependency), {"dependency": dependency, "retry_after": RETRY_AFTER}) from None


def _attempt(call: Call, token: str | None = None):
    """:func:`_run` then :func:`_finish`; a call needing confirmation comes back as ``Pending``
    (unaudited yet: the path chosen decides its row)."""
    try:
        result = _run(call, token)
    except Pending as pending:
        return pending
    except Exception as exc:  # noqa: BLE001 - every failure becomes an isError result
        if unavailable(exc):
            raise  # an outage: a JSON-RPC error (call_tool), nothing to audit into a database that is down
        return _finish(call, None, tool_error(exc, call.tool))
    return _finish(call, result, None)


def execute(tool: Tool, args, env: CallerEnv) -> tuple[dict, bool]:
    """Run one tool call (sync, in a worker thread). Returns (structured content, is_error).
    A call that needs confirmation answers CONFIRMATION_REQUIRED with a token (no elicitation here)."""
    outcome = _attempt(Call(tool, args, env))
    if isinstance(outcome, Pending):
        return _ask_token(outcome.call)
    return outcome


def _ask_token(call: Call) -> tuple[dict, bool]:
    token = confirm.ask(tool=call.tool, principal=call.principal, args=call.args, impact=call.impact,
                        path=confirm.PATHS.TOKEN, call_id=call.call_id)
    return _finish(call, None, confirm.required_error(call.tool, call.impact, token), outcome="pending")


def _declined(call: Call, token: str) -> tuple[dict, bool]:
    confirm.decline(token, call_id=call.call_id)
    return _finish(call, None, confirm.declined_error(call.impact), outcome="declined")


def _client_elicits(ctx) -> bool:
    session = getattr(ctx, "session", None)
    caps = getattr(session, "client_capabilities", None) if session is not None else None
    elicitation = getattr(caps, "elicitation", None) if caps is not None else None
    return elicitation is not None and (getattr(elicitation, "form", None) is not None
                                        or getattr(elicitation, "url", None) is None)


def _modern(ctx) -> bool:
    return str(getattr(ctx, "protocol_version", "")) >= "2026-07-28"


async def follow_job(ctx, call: Call, outcome):
    """Wait up to ``wait`` seconds for the job a call started (or read), sending increasing
    ``notifications/progress`` when the client gave a progressToken; then the finished job, or
    the answer as it stands."""
    result, is_error = outcome
    if is_error or call.tool.follow is None or call.ctx is None or result.get("dry_run"):
        return outcome
    token = progress_token_from_params(getattr(ctx, "params", None))
    wait = call.args.get(WAIT)
    if wait is None:
        wait = settings.MCP_JOB_WAIT_DEFAULT if token is not None else 0
    wait = max(0, min(int(wait), settings.MCP_JOB_WAIT_MAX))
    if not wait:
        return outcome
    session = getattr(ctx, "session", None)
    deadline = anyio.current_time() + wait
    sent = -1.0
    while True:
        try:
            snap = await run_sync(call.tool.follow, call.ctx, call.clean, result)
        except (ObjectDoesNotExist, Http404, DRFNotFound, ToolError):  # the job went away: answer what we have
            return result, False
        except Exception:  # noqa: BLE001 - e.g. a busy database: look again until the time is up
            logger.warning("following %s: could not read the job", call.tool.name, exc_info=True)
            snap = {"done": False, "progress": sent if sent >= 0 else 0, "result": result}
        progress = float(snap.get("progress") or 0)
        if token is not None and session is not None and progress > sent:
            try:
                await session.report_progress(progress, snap.get("total"), snap.get("message"))
            except Exception:  # noqa: BLE001 - a client gone away does not fail the call
                logger.info("could not send progress", exc_info=True)
            sent = progress
        if snap.get("done") or anyio.current_time() >= deadline:
            return _jsonable(snap.get("result", result)), False
        await anyio.sleep(min(settings.MCP_JOB_POLL_INTERVAL, max(0.0, deadline - anyio.current_time())))


async def call_with_confirmation(ctx, params, tool: Tool, env: CallerEnv):
    """A tools/call, asking for confirmation the way this client can (see mcp_gateway.confirm)."""
    args = params.arguments or {}
    state = getattr(params, "request_state", None)
    call = Call(tool, args, env)
    if state is not None:  # 2026-07-28 retry carrying the answer (state sealed by the SDK boundary)
        try:
            token = json.loads(state)["t"]
        except (ValueError, KeyError, TypeError):
            raise MCPError(INVALID_PARAMS, "Invalid or expired requestState") from None
        answer = (getattr(params, "input_responses", None) or {}).get(confirm.INPUT_KEY)
        if not confirm.accepted(answer):
            return await run_sync(_declined_after_prepare, call, token)
        return await follow_job(ctx, call, await run_sync(_attempt, call, token))
    outcome = await run_sync(_attempt, call)
    if not isinstance(outcome, Pending):
        return await follow_job(ctx, call, outcome)
    call = outcome.call
    session = getattr(ctx, "session", None)
    if _client_elicits(ctx) and _modern(ctx):
        token = await run_sync(lambda: confirm.ask(tool=tool, principal=call.principal, args=args,
                                                   impact=call.impact, path=confirm.PATHS.INPUT_REQUIRED,
                                                   call_id=call.call_id))
        await run_sync(_finish, call, None, None, "pending")
        return types.InputRequiredResult(
            input_requests={confirm.INPUT_KEY: types.ElicitRequest(params=types.ElicitRequestFormParams(
                message=confirm.form_message(tool, call.impact), requested_schema=confirm.form_schema(call.impact)))},
            request_state=json.dumps({"t": token}),
        )
    if _client_elicits(ctx) and session is not None and getattr(session, "can_send_request", False):
        token = await run_sync(lambda: confirm.ask(tool=tool, principal=call.principal, args=args,
                                                   impact=call.impact, path=confirm.PATHS.ELICITATION,
                                                   call_id=call.call_id))
        try:
            with anyio.fail_after(confirm.ttl()):
                answer = await session.elicit_form(confirm.form_message(tool, call.impact),
                                                   confirm.form_schema(call.impact),
                                                   related_request_id=getattr(ctx, "request_id", None))
        except Exception:  # noqa: BLE001 - no answer (timeout, client error): nothing is written
            logger.info("no answer to the confirmation of %s", tool.name, exc_info=True)
            answer = None
        if not confirm.accepted(answer):
            return await run_sync(_declined, call, token)
        call = Call(tool, args, env)
        return await follow_job(ctx, call, await run_sync(_attempt, call, token))
    return await run_sync(_ask_token, call)


def _declined_after_prepare(call: Call, token: str) -> tuple[dict, bool]:
    try:
        _prepare(call)
    except Exception as exc:  # noqa: BLE001
        if unavailable(exc):
            raise
        return _finish(call, None, tool_error(exc, call.tool))
    return _declined(call, token)


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


def request_state_keys() -> list[bytes]:
    """``MCP_REQUEST_STATE_KEYS`` (newest first), else one derived from SECRET_KEY."""
    keys = [k.encode() for k in getattr(settings, "MCP_REQUEST_STATE_KEYS", []) if k]
    if keys:
        return keys
    return [hashlib.sha256(b"mcp-request-state:" + settings.SECRET_KEY.encode()).hexdigest().encode()]


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
            outcome = await call_with_confirmation(ctx, params, tool, env)
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise
        if isinstance(outcome, types.InputRequiredResult):
            return outcome
        return result_of(*outcome)

    def principal_of(env: CallerEnv):
        if env.credential is not None:
            return _stdio_principal(env.credential)
        return env.principal

    async def list_resources(ctx, params) -> types.ListResourcesResult:
        env = env_getter(ctx)
        cursor = getattr(params, "cursor", None) if params is not None else None
        return await run_sync(lambda: resources.list_page(principal_of(env), cursor))

    async def list_resource_templates(ctx, params) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=resources.templates())

    async def read_resource(ctx, params) -> types.ReadResourceResult:
        env = env_getter(ctx)
        return await run_sync(lambda: resources.read(principal_of(env), str(params.uri)))

    async def subscribe(ctx, params) -> types.EmptyResult:
        env = env_getter(ctx)
        uri = str(params.uri)
        if env.transport not in ("sse", "stdio"):
            raise MCPError(INVALID_REQUEST, "Subscriptions need a session that carries notifications: use stdio "
                                            "(manage.py mcp stdio) or the SSE transport (/mcp/sse).")
        if await run_sync(lambda: resources.version(principal_of(env), uri)) is None:
            resources.resolve(uri)
            raise MCPError(resources.RESOURCE_NOT_FOUND, f"No such resource (or it is not visible to you): {uri}")
        resources.subscriptions.subscribe(ctx.session, uri, lambda: principal_of(env), run_sync)
        return types.EmptyResult()

    async def unsubscribe(ctx, params) -> types.EmptyResult:
        resources.subscriptions.unsubscribe(ctx.session, str(params.uri))
        return types.EmptyResult()

    async def list_prompts(ctx, params) -> types.ListPromptsResult:
        return resources.prompt_list()

    async def get_prompt(ctx, params) -> types.GetPromptResult:
        env = env_getter(ctx)
        await run_sync(lambda: resources._checked(principal_of(env)))
        return resources.prompt_get(params.name, params.arguments)

    def input_schema(name: str):
        tool = registry.get(name)
        return effective_schema(tool) if tool else None

    server = Server(
        getattr(settings, "MCP_SERVER_NAME", "inventory"),
        version="1.0.0",
        title="Infrastructure inventory",
        instructions=(
            "Multi-tenant infrastructure inventory: devices, datacenters, networks, IP pools and "
            "addresses. Use search or the *_list tools to find ids, then *_get/*_save/*_delete. "
            "List tools are paged (limit/offset) and return brief items unless you ask for fields. "
            "Destructive calls ask for confirmation first; every write tool takes dry_run. Job tools take "
            "wait (seconds) and send progress. Resources: inventory://devices|networks|pools|jobs/{id}, "
            "inventory://tenants/{id}/summary; prompts: investigate_ip, audit_tenant, plan_provisioning, explain_job."
        ),
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )
    # 2026-07-28 multi-round-trip state (confirmations) is sealed with keys every worker shares
    server.middleware.append(RequestStateBoundary(RequestStateSecurity(
        keys=request_state_keys(), ttl=confirm.ttl()), default_audience=mcp_resource()))
    if not settings.MCP_OPENTELEMETRY:  # the SDK's documented opt-out
        server.middleware = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    return server
