"""The MCP tool registry: tools are data.

A :class:`Tool` says what it is called, what it does, which tool group it belongs to, which
tenancy action it needs (that action gives its scope: view→inventory:read, add/change/manage→
inventory:write, delete→inventory:delete, execute→jobs:execute), its MCP annotations, its input
and output JSON Schemas and its handler. Modules listed in ``settings.MCP_TOOL_MODULES`` register
tools when imported; the gateway (Streamable HTTP, SSE and stdio alike) lists and calls whatever
is registered, in registration order.

Writing a tool module (e.g. ``inventory.jobs.mcp_tools``)::

    from mcp_gateway.registry import NotFound, Tool, ToolContext, register

    def job_get(ctx: ToolContext, args: dict) -> dict:
        job = Job.objects.restrict(ctx.principal, "view").filter(pk=args["id"]).first()
        if job is None:
            raise NotFound(f"No job with id {args['id']}.")
        return JobSerializer(job, context=ctx.serializer_context).data

    register(Tool(
        name="job_get", title="Get a job", description="…",
        group="discovery", action="view",
        input_schema={"type": "object", "properties": {"id": {"type": "integer"}},
                      "required": ["id"], "additionalProperties": False},
        output_schema=None,          # or a JSON Schema (root type "object") the result matches
        handler=job_get,
        read_only=True, idempotent=True,
    ))

Handler contract:
- ``handler(ctx, args) -> dict``: a plain synchronous function. It runs in a worker thread,
  inside ``transaction.atomic()`` (unless ``atomic=False``; ``read_only`` tools run in autocommit:
  under READ COMMITTED a transaction would only add two round trips), with the django-auditlog actor set to
  the caller and the audit correlation id set to the call. Arguments have already been checked
  against ``input_schema`` (JSON Schema: types, required, enums, additionalProperties).
- ``ctx.principal`` is the caller's :class:`~inventory.tenancy.Principal`, already narrowed to the
  tenants where the tool's group is enabled (for this OAuth client); use it with
  ``Model.objects.restrict(ctx.principal, action)`` and ``ctx.principal.can(action, obj)``.
  ``ctx.serializer_context`` is ``{"principal": ctx.principal, "base_url": PUBLIC_URL}`` for DRF
  serializers (``url`` values are absolute, as in REST).
- Return a JSON-serialisable dict (it becomes ``structuredContent`` and, as JSON, the text
  content). Results must match ``output_schema`` when one is declared.
- Fail by raising :class:`ToolError` (or a subclass: :class:`InvalidParams` with per-field
  ``details``, :class:`NotFound`, :class:`Forbidden`, :class:`Conflict`), or let the services'
  exceptions through: :func:`tool_error` (the one mapping) turns DRF and Django
  ``ValidationError`` into INVALID_PARAMS, ``ObjectDoesNotExist``/``Http404`` NOT_FOUND,
  ``PermissionDenied`` FORBIDDEN, a 409 ``APIException`` or ``IntegrityError`` CONFLICT; anything
  else INTERNAL_ERROR (logged; never leaked). A failed call rolls its transaction back.
- ``renames``: service/serializer field name -> tool argument name (``{"network": "network_id"}``),
  applied once to the field errors of a failed call (handlers never rename errors themselves).
- ``secret_fields``: argument names redacted in the audit log (names like password, secret,
  token or key are always redacted).
- ``open_world=True`` for tools that touch real machines or networks (scans, SSH commands).
- ``visible``: optional ``(principal) -> bool`` deciding whether ``tools/list`` shows the tool
  (default: ``principal.can(action)`` in at least one tenant where the group is enabled).
- ``impact``: optional ``(ctx, args) -> mcp_gateway.confirm.Impact``, what the call would change,
  computed without writing. It is the text a confirmation shows and the ``dry_run`` answer;
  without one, ``dry_run`` runs the handler in a transaction that is rolled back. Every write
  tool takes ``dry_run`` and ``confirm_token`` (added by the gateway, never seen by handlers);
  see ``mcp_gateway/confirm.py``.
- ``follow``: optional, for tools that start (or read) a job: the gateway adds a ``wait``
  argument, and while waiting calls ``follow(ctx, args, result)`` about four times a second
  (``done``: stop; ``progress``/``total``/``message``: the progress notification; ``result``: the
  answer if the wait ends now). Without a progressToken and without ``wait`` the answer is the
  handler's, at once.

This module's public names (Tool, ToolContext, ToolError and its subclasses, tool_error,
register, tool, registry, GROUPS) are a stable API.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from inventory.tenancy import SCOPE_FOR_ACTION, Action, Principal

#: Known tool groups (tenant admins enable/disable them per tenant). Modules may add more.
GROUPS: dict[str, str] = {
    "inventory": "Devices, datacenters, relationships and search",
    "ipam": "Networks, IP pools and address allocation",
    "tenants": "Tenant management",
    "discovery": "Network discovery scans",
    "provisioning": "Provisioning jobs",
    "commands": "Remote commands",
    "jobs": "Job status and cancellation",
    "custom": "Custom tools declared by operators (query and command tools)",
}


class ToolError(Exception):
    """A tool failure reported to the client as an ``isError`` result."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, details: Any = None, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}
        if code:
            self.code = code

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidParams(ToolError):
    code = "INVALID_PARAMS"


class NotFound(ToolError):
    code = "NOT_FOUND"


class Forbidden(ToolError):
    code = "FORBIDDEN"


class Conflict(ToolError):
    code = "CONFLICT"


class Unauthorized(ToolError):
    code = "UNAUTHORIZED"


ERROR_CODES = ("INVALID_PARAMS", "NOT_FOUND", "FORBIDDEN", "CONFLICT", "UNAUTHORIZED", "INTERNAL_ERROR",
               "CONFIRMATION_REQUIRED", "CONFIRMATION_DECLINED", "CONFIRMATION_INVALID")


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    group: str
    action: str
    handler: Callable[["ToolContext", dict], dict]
    input_schema: dict
    output_schema: dict | None = None
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    atomic: bool = True
    secret_fields: frozenset[str] = frozenset()
    #: known secret values the arguments may contain (e.g. a device's password typed into a
    #: command), masked in the audit row and the confirmation whatever the call's outcome:
    #: (arguments, principal or None) -> iterable of str
    secret_values: Callable[[dict, Principal | None], object] | None = None
    visible: Callable[[Principal], bool] | None = None
    #: field name in services/serializers -> argument name, for the details of INVALID_PARAMS
    renames: dict[str, str] = field(default_factory=dict)
    #: ``(ctx, args) -> Impact``: what the call would do, computed without writing (confirmation
    #: text and ``dry_run`` answer). Tools without one: ``dry_run`` runs the handler and rolls back.
    impact: Callable[["ToolContext", dict], Any] | None = None
    #: ``(ctx, args, result) -> {"done", "progress", "total", "message", "result"}``: tools that
    #: start or read a job. The gateway adds ``wait`` (seconds) to the schema and, while waiting,
    #: polls this and sends ``notifications/progress`` to a client that gave a progressToken.
    follow: Callable[["ToolContext", dict, dict], dict] | None = None
    #: (custom tool id, version) for a declared custom tool; None for a built-in
    custom: tuple[int, int] | None = None

    def __post_init__(self):
        Action(self.action)  # raises ValueError for an unknown action
        if self.input_schema.get("type") != "object":
            raise ValueError(f"{self.name}: input_schema must have type 'object'")
        if self.output_schema is not None and self.output_schema.get("type") != "object":
            raise ValueError(f"{self.name}: output_schema must have type 'object'")

    @property
    def scope(self) -> str:
        return str(SCOPE_FOR_ACTION[Action(self.action)])


def tool_error(exc: Exception, tool: Tool | None = None) -> ToolError:
    """The error the client sees for an exception raised by a handler (the one mapping), with
    field errors under the tool's argument names (``tool.renames``)."""
    import logging

    from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.db import IntegrityError
    from django.http import Http404
    from rest_framework.exceptions import APIException
    from rest_framework.exceptions import NotFound as DRFNotFound
    from rest_framework.exceptions import PermissionDenied as DRFPermissionDenied
    from rest_framework.exceptions import ValidationError as DRFValidationError

    renames = tool.renames if tool is not None else {}

    def fields(detail):
        if isinstance(detail, dict):
            return {renames.get(k, k): v for k, v in detail.items()}
        return {"non_field_errors": detail} if isinstance(detail, list) else detail

    if isinstance(exc, ToolError):
        if isinstance(exc, InvalidParams) and renames:
            exc.details = fields(exc.details)
        return exc
    if isinstance(exc, DRFValidationError):
        return InvalidParams("Invalid arguments.", fields(exc.detail))
    if isinstance(exc, DjangoValidationError):
        return InvalidParams("Invalid arguments.", fields(exc.message_dict if hasattr(exc, "error_dict") else exc.messages))
    if isinstance(exc, (ObjectDoesNotExist, Http404, DRFNotFound)):
        return NotFound(str(exc) or "Not found.")
    if isinstance(exc, (PermissionDenied, DRFPermissionDenied)):
        return Forbidden(str(exc) or "You may not do that.")
    if isinstance(exc, APIException):  # e.g. inventory.services.common.Conflict (409)
        code = {400: "INVALID_PARAMS", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                409: "CONFLICT", 503: "UNAVAILABLE"}.get(exc.status_code)
        if code:
            detail = exc.detail if isinstance(exc.detail, (dict, list)) else {}
            return ToolError(str(exc.detail) if not isinstance(exc.detail, (dict, list)) else "Request refused.",
                             fields(detail) if detail else {}, code=code)
    logger = logging.getLogger("mcp_gateway.server")
    if isinstance(exc, IntegrityError):
        logger.warning("MCP tool hit a database constraint: %s", exc)
        return Conflict("The change conflicts with existing data (e.g. a duplicate name).")
    logger.exception("MCP tool failed")
    return ToolError("Internal error.", code="INTERNAL_ERROR")


@dataclass
class ToolContext:
    """What a handler gets besides its arguments."""

    principal: Principal  # narrowed to the tenants where the tool's group is enabled
    tool: Tool
    call_id: str = ""  # audit row id (McpCall.call_id) and django-auditlog correlation id
    base_principal: Principal | None = None  # before group narrowing (e.g. for tenant creation)
    transport: str = "http"  # "http", "sse" or "stdio"
    extra: dict = field(default_factory=dict)

    @property
    def serializer_context(self) -> dict:
        from django.conf import settings

        return {"principal": self.principal, "base_url": settings.PUBLIC_URL}


class Registry:
    """Built-in tools (registered by modules) plus tool sources: callables that list the tools a
    principal may see and find one by name (custom tools, :mod:`mcp_gateway.custom.provider`)."""

    def __init__(self):
        self._tools: dict[str, Tool] = {}
        self._sources: list[tuple[Callable, Callable]] = []
        self._loaded = False
        self._loading = False
        self._lock = threading.RLock()

    def register(self, tool: Tool, *, replace: bool = False) -> Tool:
        # Load the configured modules first, so the order is settings.MCP_TOOL_MODULES' whatever
        # module happens to be imported first (a module imported during load() is not re-run).
        self.load()
        if tool.name in self._tools and not replace:
            raise ValueError(f"MCP tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        GROUPS.setdefault(tool.group, tool.group.capitalize())
        return tool

    def unregister(self, name: str) -> None:
        self._tools.pop(name, None)

    def load(self) -> None:
        """Import every module in settings.MCP_TOOL_MODULES (once)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded or self._loading:
                return
            from django.conf import settings

            self._loading = True
            try:
                for module in getattr(settings, "MCP_TOOL_MODULES", ()):
                    importlib.import_module(module)
            finally:
                self._loading = False
            self._loaded = True

    def all(self) -> list[Tool]:
        self.load()
        return list(self._tools.values())

    def get(self, name: str) -> Tool | None:
        self.load()
        return self._tools.get(name)

    def add_source(self, tools_for: Callable[[Principal], list[Tool]], find: Callable[[str], Tool | None]) -> None:
        """``tools_for(principal)`` → tools it may see; ``find(name)`` → the tool or None (visibility
        is checked by the gateway). Built-in names always win."""
        if (tools_for, find) not in self._sources:
            self._sources.append((tools_for, find))

    def dynamic(self, principal: Principal) -> list[Tool]:
        return [t for tools_for, _find in self._sources for t in tools_for(principal) if t.name not in self._tools]

    def find(self, name: str) -> Tool | None:
        """A built-in or a source's tool by name."""
        tool = self.get(name)
        if tool is not None:
            return tool
        for _tools_for, find in self._sources:
            tool = find(name)
            if tool is not None:
                return tool
        return None

    def groups(self) -> dict[str, str]:
        self.load()
        return dict(GROUPS)


registry = Registry()


def register(tool: Tool, *, replace: bool = False) -> Tool:
    return registry.register(tool, replace=replace)


def tool(**kwargs) -> Callable[[Callable], Callable]:
    """Decorator form: ``@tool(name=..., title=..., group=..., action=..., input_schema=...)``.
    ``description`` defaults to the function's docstring."""

    def decorate(fn):
        kwargs.setdefault("description", (fn.__doc__ or "").strip())
        register(Tool(handler=fn, **kwargs))
        return fn

    return decorate
