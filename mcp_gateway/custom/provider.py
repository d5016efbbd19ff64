"""Custom tools as registry tools: listed and called like built-ins, for exactly the callers allowed.

The enabled rows are read from the shared cache (generation ``customtools``, bumped on commit by
every change), so a tool created through one worker is listed by every worker on its next request.
Each row becomes a :class:`~mcp_gateway.registry.Tool` (built once per row version) whose handler
runs the built-in tool or service with the caller's principal narrowed to the tool's tenant and
allowed roles: a custom tool never reaches further than its caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from inventory.runtime.caching import cached
from inventory.tenancy import ROLE_FOR_ACTION, ROLE_RANK, Action, Principal, Role

from ..registry import Conflict, InvalidParams, Tool, ToolContext
from ..schema import with_error

logger = logging.getLogger(__name__)

GENERATION = "customtools"
GROUP = "custom"


@dataclass(frozen=True)
class Row:
    id: int
    tenant_id: int | None
    name: str
    title: str
    description: str
    kind: str
    parameters: dict
    definition: dict
    roles: tuple[str, ...]
    group_ids: frozenset[int]
    version: int


def rows() -> list[Row]:
    """Every enabled custom tool (a small table), from the shared cache until one changes."""

    def build():
        from .models import CustomTool

        found = []
        for tool in CustomTool.objects.filter(enabled=True).prefetch_related("groups").order_by("name"):
            found.append(Row(tool.id, tool.tenant_id, tool.name, tool.title, tool.description, tool.kind,
                             tool.parameters, tool.definition, tuple(tool.allowed_roles),
                             frozenset(g.pk for g in tool.groups.all()), tool.version))
        return found, 3600

    return cached("inv:customtools", (GENERATION,), build)


# --- who may use a row ------------------------------------------------------------------------
def _user_groups(principal: Principal) -> frozenset[int]:
    if "_group_ids" not in principal.__dict__:
        principal.__dict__["_group_ids"] = frozenset(principal.user.groups.values_list("pk", flat=True))
    return principal.__dict__["_group_ids"]


def allowed_tenants(principal: Principal, row: Row, action: str) -> frozenset[int] | None:
    """Tenants the principal may use the row in (``None``: every tenant, an unnarrowed superuser)."""
    if not principal.is_authenticated or not principal.allows_action(action):
        return frozenset()
    if row.group_ids and not principal.is_superuser and not (row.group_ids & _user_groups(principal)):
        return frozenset()
    need = ROLE_RANK[ROLE_FOR_ACTION[Action(action)]]
    if principal.is_superuser and principal.tenant_ids is None and row.tenant_id is None \
            and Role.ADMIN in row.roles:
        return None
    tenants = frozenset(t for t, role in principal.roles.items()
                        if role in row.roles and ROLE_RANK[Role(role)] >= need
                        and (row.tenant_id is None or t == row.tenant_id))
    return tenants


def narrowed(principal: Principal, tenants: frozenset[int] | None) -> Principal:
    if tenants is None:
        return principal
    roles = {t: r for t, r in principal.roles.items() if t in tenants}
    narrow = Principal(principal.user, scopes=principal.scopes, tenant_ids=roles, via=principal.via,
                       credential=principal.credential, client_id=principal.client_id,
                       client_name=principal.client_name)
    narrow.__dict__["roles"] = roles  # already known: spare the query
    return narrow


# --- rows as tools ----------------------------------------------------------------------------
_built: dict[tuple[int, int], tuple[Row, Tool]] = {}


def as_tool(row: Row) -> Tool:
    """The tool of a row, built once per row version (and rebuilt if the row differs)."""
    key = (row.id, row.version)
    hit = _built.get(key)
    if hit is not None and hit[0] == row:
        return hit[1]
    if len(_built) > 2000:
        _built.clear()
    tool = _build(row)
    _built[key] = (row, tool)
    return tool


def _build(row: Row) -> Tool:
    from .models import ACTION_FOR_KIND, ToolKind

    action = ACTION_FOR_KIND[ToolKind(row.kind)]
    common = dict(
        name=row.name, title=row.title or row.name.replace("_", " ").capitalize(),
        description=row.description + f"\n\nCustom tool #{row.id} v{row.version}"
        + (" (global)." if row.tenant_id is None else "."),
        group=GROUP, action=action, input_schema=row.parameters,
        visible=lambda principal: allowed_tenants(principal, row, action) != frozenset(),
        custom=(row.id, row.version),
    )
    if row.kind == ToolKind.QUERY:
        from .kinds import query_target

        target = query_target(row.definition)
        return Tool(**common, handler=_query_handler(row, target), output_schema=target.output_schema,
                    read_only=True, idempotent=True)
    if row.kind == ToolKind.BLUEPRINT:
        return Tool(**common, handler=_blueprint_handler(row), impact=_blueprint_impact(row), destructive=True,
                    open_world=True)
    return Tool(**common, handler=_command_handler(row), output_schema=with_error(COMMAND_OUTPUT),
                destructive=row.definition.get("destructive", True), open_world=True,
                secret_values=_command_secret_values(row))


def _context(ctx: ToolContext, row: Row, action: str, tool: Tool | None = None) -> ToolContext:
    tenants = allowed_tenants(ctx.principal, row, action)
    principal = narrowed(ctx.principal, tenants)
    if row.tenant_id is not None:
        ctx.extra["tenant_id"] = row.tenant_id
    return ToolContext(principal=principal, tool=tool or ctx.tool, call_id=ctx.call_id,
                       base_principal=ctx.base_principal, transport=ctx.transport, extra=ctx.extra)


def _query_handler(row: Row, target: Tool):
    from .kinds import _check_arguments, query_arguments

    def handler(ctx: ToolContext, args: dict) -> dict:
        built = query_arguments(row.definition, args)
        try:
            _check_arguments(target, built)
        except ValidationError as exc:  # a parameter value the list tool refuses
            raise InvalidParams("Invalid arguments.", {"non_field_errors": exc.messages}) from None
        return target.handler(_context(ctx, row, Action.VIEW, target), built)

    return handler


COMMAND_OUTPUT = {
    "type": "object",
    "properties": {
        "jobs": {"type": "array", "items": {"type": "object", "properties": {
            "job_id": {"type": "integer"}, "device_id": {"type": "integer"}, "device": {"type": "string"},
            "status": {"type": "string"}}, "required": ["job_id", "device_id"]}},
        "count": {"type": "integer"},
    },
    "required": ["jobs", "count"],
}


def _command_handler(row: Row):
    from inventory.jobs.services import start_command

    from .kinds import render_command, select_devices

    def handler(ctx: ToolContext, args: dict) -> dict:
        inner = _context(ctx, row, Action.EXECUTE)
        devices = select_devices(inner.principal, row.definition, args)
        limit = row.definition["max_devices"]
        if len(devices) > limit:
            raise Conflict(f"{row.name} would run on more than {limit} devices; narrow the selection.",
                           {"max_devices": limit})
        jobs = []
        for device in devices:
            command, template = render_command(row.definition, args, device)
            data = {"device": device.pk, "command": command}
            if row.definition.get("timeout"):
                data["timeout"] = row.definition["timeout"]
            job = start_command(inner.principal, data, template=template)
            jobs.append({"job_id": job.pk, "device_id": device.pk, "device": device.name, "status": job.status})
        return {"jobs": jobs, "count": len(jobs)}

    return handler


def _command_secret_values(row: Row):
    """The known secrets of the devices a call would run on (as ``command_execute`` declares its
    device's): a password typed into a parameter is masked in the call's audit row and in the
    confirmation asked before it."""
    from inventory.jobs.masking import device_secrets

    from .kinds import select_devices

    def secret_values(args: dict, principal=None) -> set[str]:
        if principal is None:
            return set()
        inner = narrowed(principal, allowed_tenants(principal, row, Action.EXECUTE))
        found: set[str] = set()
        for device in select_devices(inner, row.definition, args)[: row.definition["max_devices"]]:
            found |= device_secrets(device)
        return found

    return secret_values


def _blueprint_handler(row: Row):
    from .kinds import blueprint_call

    def handler(ctx: ToolContext, args: dict) -> dict:
        from inventory.blueprints import services

        inner = _context(ctx, row, Action.EXECUTE)
        call = blueprint_call(row.definition, args)
        # dry_run: the admin's and REST's Test of the tool (over MCP the gateway answers dry runs)
        return services.use(inner.principal, call.pop("name"), call.pop("params"), tenant=row.tenant_id,
                            dry_run=bool(args.get("dry_run")), confirmed=bool(ctx.extra.get("confirmed")), **call)

    return handler


def _blueprint_impact(row: Row):
    """The plan of the preset use_blueprint (as ``use_blueprint``'s impact)."""

    def impact(ctx: ToolContext, args: dict):
        from inventory.blueprints.mcp_tools import plan_impact

        return plan_impact(_blueprint_handler(row)(ctx, {**args, "dry_run": True}))

    return impact


def preview_command(principal: Principal, row: Row, args: dict) -> dict:
    """What a command tool would run, without running it (the REST/admin "Test")."""
    from .kinds import render_command, select_devices

    inner = narrowed(principal, allowed_tenants(principal, row, Action.EXECUTE))
    devices = select_devices(inner, row.definition, args)
    limit = row.definition["max_devices"]
    return {"would_run": [{"device_id": d.pk, "device": d.name, "command": render_command(row.definition, args, d)[0]}
                          for d in devices[:limit]],
            "count": min(len(devices), limit), "too_many": len(devices) > limit}


# --- what the gateway asks ------------------------------------------------------------------
def tools_for(principal: Principal) -> list[Tool]:
    """The custom tools the principal may see (before tool-group narrowing)."""
    if principal is None or not principal.is_authenticated:
        return []
    return [tool for tool in map(_tool_or_none, rows()) if tool is not None and tool.visible(principal)]


def find(name: str) -> Tool | None:
    """The custom tool of that name, whoever may see it (the gateway checks visibility)."""
    return next((_tool_or_none(row) for row in rows() if row.name == name), None)


def _tool_or_none(row: Row) -> Tool | None:
    try:
        return as_tool(row)
    except ValidationError:  # e.g. the list tool it was declared over is gone
        logger.warning("custom tool %s (#%s) no longer fits its kind; not served", row.name, row.id)
        return None
