"""MCP tools of the configuration layer (names fixed by issue 20).

role_list, role_get, role_save, role_delete, role_test, device_assign_role, device_remove_role,
variable_list, variable_set, variable_delete, device_variables, secret_list, secret_set,
secret_delete. Schemas come from the serializers (mcp_gateway.schema); rules from services.py;
DRF errors become INVALID_PARAMS / NOT_FOUND / FORBIDDEN / CONFLICT in the gateway. Secret values
are never in a result, and ``value`` is redacted in the MCP audit log (secret_fields).
"""

from __future__ import annotations

from django.conf import settings

from inventory.tenancy import Action
from mcp_gateway.registry import GROUPS, Tool, ToolContext, register
from mcp_gateway.schema import serializer_schema, with_error

from . import services
from .models import Role, ScopeLevel, Secret, Variable
from .serializers import (RoleAssignmentSerializer, RoleBriefSerializer, RoleSerializer, SecretSerializer,
                          VariableSerializer)
from .views import effective_view, import_role

GROUP = "configuration"
GROUPS.setdefault(GROUP, "Roles, variables and secrets (configuration management)")
ID = {"type": "integer", "minimum": 1}


def _obj(properties: dict, required=()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _page_args() -> dict:
    return {"limit": {"type": "integer", "minimum": 1, "maximum": settings.MCP_LIST_MAX_LIMIT,
                      "default": settings.MCP_LIST_DEFAULT_LIMIT, "description": "Page size."},
            "offset": {"type": "integer", "minimum": 0, "default": 0, "description": "Items to skip (paging)."}}


def _page(qs, serializer_class, ctx: ToolContext, args: dict) -> dict:
    limit, offset = args.get("limit", settings.MCP_LIST_DEFAULT_LIMIT), args.get("offset", 0)
    count = qs.count()
    rows = list(qs[offset:offset + limit])
    return {"items": serializer_class(rows, many=True, context=ctx.serializer_context).data, "count": count,
            "limit": limit, "offset": offset, "has_more": offset + len(rows) < count}


def _list_output(item: dict) -> dict:
    return with_error({"type": "object", "properties": {
        "items": {"type": "array", "items": item}, "count": {"type": "integer"}, "limit": {"type": "integer"},
        "offset": {"type": "integer"}, "has_more": {"type": "boolean"}},
        "required": ["items", "count", "limit", "offset", "has_more"]})


def _out(serializer_class) -> dict:
    return serializer_schema(serializer_class(context={"principal": None}), mode="output")


def _in(serializer_class, partial=False) -> dict:
    return serializer_schema(serializer_class(context={"principal": None}), mode="input", partial=partial)


REF = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
ARRAY = {"type": "array", "items": {"type": "object"}}
ROLE_TEST_OUT = with_error({"type": "object", "properties": {
    "role": REF, "device": REF, "ok": {"type": "boolean", "description": "No rendering error."},
    "files": {**ARRAY, "description": "Each template rendered: path, mode, owner, group, content, step."},
    "steps": {**ARRAY, "description": "Each step: commands, files, only_if, unless, error."},
    "variables": {**ARRAY, "description": "key, value, scope, source."},
    "secrets": {"type": "array", "items": {"type": "string"}, "description": "Secret names used (masked)."},
    "errors": {**ARRAY, "description": "kind (syntax|undefined|schema|sandbox|size|timeout|error), template, "
                                       "line, message."},
    "compare_job_id": {"type": "integer"}, "message": {"type": "string"}},
    "required": ["role", "device", "ok", "files", "steps", "variables", "errors"]})
EFFECTIVE_OUT = with_error({"type": "object", "properties": {
    "device": REF, "roles": ARRAY,
    "variables": {**ARRAY, "description": "key, value, scope (the winning one), source, overrides."},
    "secrets": {**ARRAY, "description": "name, scope, id (never the value)."},
    "precedence": {"type": "array", "items": {"type": "string"}}},
    "required": ["device", "roles", "variables", "secrets"]})
REMOVED = with_error({"type": "object", "properties": {
    "removed": {"type": "boolean"}, "device_id": {"type": "integer"}, "role_id": {"type": "integer"},
    "display": {"type": "string"}}, "required": ["removed", "device_id", "role_id"]})
DELETED = with_error({"type": "object", "properties": {"deleted": {"type": "boolean"}, "id": {"type": "integer"},
                                                         "display": {"type": "string"}}, "required": ["deleted", "id"]})


# --- roles -----------------------------------------------------------------------------------
def role_list(ctx, args):
    qs = Role.objects.restrict(ctx.principal, Action.VIEW)
    if args.get("name"):
        qs = qs.filter(name=args["name"])
    if args.get("global") is not None:
        qs = qs.filter(tenant__isnull=args["global"])
    return _page(qs, RoleBriefSerializer, ctx, args)


def role_get(ctx, args):
    role = services.get_visible(ctx.principal, Role, args["id"])
    data = RoleSerializer(role, context=ctx.serializer_context).data
    if args.get("format") == "yaml":
        from .documents import export_yaml

        data["document"] = export_yaml(role)
    return data


def role_save(ctx, args):
    args = dict(args)
    if args.get("document") is not None:
        attrs = {"document": args.pop("document")}
        if "tenant" in args:
            attrs["tenant"] = args.pop("tenant")
        if args:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"document": ["Give either a document or fields, not both."]})
        role = import_role(ctx.principal, attrs)
    else:
        role = None
        if args.get("id") is not None:
            role = services.get_visible(ctx.principal, Role, args.pop("id"), Action.CHANGE)
        else:
            args.pop("id", None)
        serializer = RoleSerializer(role, data=args, partial=role is not None, context=ctx.serializer_context)
        serializer.is_valid(raise_exception=True)
        role = serializer.save()
    ctx.extra["tenant_id"] = role.tenant_id
    return RoleSerializer(role, context=ctx.serializer_context).data


def role_delete(ctx, args):
    return services.delete_role(ctx.principal, args["id"])


def role_test(ctx, args):
    return services.role_test(ctx.principal, args["role_id"], {"device": args["device_id"],
                                                                 "compare": args.get("compare", False)})


# --- assignments -----------------------------------------------------------------------------
def device_assign_role(ctx, args):
    data = {"role": args["role_id"]}
    for name in ("variables", "position"):
        if name in args:
            data[name] = args[name]
    assignment = services.assign_role(ctx.principal, args["device_id"], data)
    ctx.extra["tenant_id"] = assignment.tenant_id
    return RoleAssignmentSerializer(assignment, context=ctx.serializer_context).data


def device_remove_role(ctx, args):
    return services.remove_role(ctx.principal, args["device_id"], args["role_id"])


def device_variables(ctx, args):
    return effective_view(services.get_device(ctx.principal, args["device_id"]))


# --- variables and secrets -------------------------------------------------------------------
def _scoped_data(args: dict, key_field: str) -> dict:
    scope, scope_id = args["scope"], args.get("scope_id")
    data = {k: v for k, v in args.items() if k not in ("scope_id",)}
    if scope != ScopeLevel.GLOBAL:
        data[scope] = scope_id
    return data


def variable_list(ctx, args):
    qs = services.scoped_rows(ctx.principal, Variable, args.get("scope"), args.get("scope_id"))
    return _page(qs, VariableSerializer, ctx, args)


def variable_set(ctx, args):
    variable = services.set_variable(ctx.principal, _scoped_data(args, "key"))
    return VariableSerializer(variable, context=ctx.serializer_context).data


def variable_delete(ctx, args):
    return services.delete_scoped(ctx.principal, Variable, args["id"])


def secret_list(ctx, args):
    qs = services.scoped_rows(ctx.principal, Secret, args.get("scope"), args.get("scope_id")).defer("value")
    return _page(qs.select_related("changed_by"), SecretSerializer, ctx, args)


def secret_set(ctx, args):
    secret = services.set_secret(ctx.principal, _scoped_data(args, "name"))
    return SecretSerializer(secret, context=ctx.serializer_context).data


def secret_delete(ctx, args):
    return services.delete_scoped(ctx.principal, Secret, args["id"])


# --- schemas ---------------------------------------------------------------------------------
SCOPE = {"enum": ScopeLevel.values, "description": "global < tenant < datacenter < (role default < role "
                                                   "assignment, variables only) < device."}
SCOPE_ID = {**ID, "description": "Id of the tenant, datacenter or device of the scope (not for global)."}


def _scoped_input(serializer_class, exclude=()) -> dict:
    schema = _in(serializer_class)
    props = {k: v for k, v in schema["properties"].items() if k not in ("scope", "tenant", "datacenter", "device",
                                                                          *exclude)}
    required = [r for r in schema.get("required", []) if r in props]
    return _obj({"scope": SCOPE, "scope_id": SCOPE_ID, **props}, ["scope", *required])


def _tools() -> list[Tool]:
    role_in = _in(RoleSerializer, partial=True)
    role_in["properties"] = {"id": {**ID, "description": "The role to update; omit to create one."},
                             **role_in["properties"],
                             "document": {"type": "string", "description": "Instead of fields: the role as a YAML "
                                                                           "document (role_get format=yaml); "
                                                                           "replaces the same-named role."}}
    role_out = with_error({**_out(RoleSerializer), "properties": {**_out(RoleSerializer)["properties"],
                                                                  "document": {"type": "string"}}})
    assignment_out = with_error(_out(RoleAssignmentSerializer))
    return [
        Tool(name="role_list", title="List roles", group=GROUP, action=Action.VIEW, handler=role_list,
             description="Roles you can use: your tenants' and the global ones (read-only, e.g. base-hardening, "
                         "nginx, postgresql). Brief items; role_get for templates and steps.",
             input_schema=_obj({"name": {"type": "string"}, "global": {"type": "boolean"}, **_page_args()}),
             output_schema=_list_output(_out(RoleBriefSerializer)), read_only=True, idempotent=True),
        Tool(name="role_get", title="Get a role", group=GROUP, action=Action.VIEW, handler=role_get,
             description="A role with default variables, parameter schema, templates, steps and dependencies. "
                         "format=yaml adds the role as a YAML document (export).",
             input_schema=_obj({"id": ID, "format": {"enum": ["json", "yaml"], "default": "json"}}, ["id"]),
             output_schema=role_out, read_only=True, idempotent=True),
        Tool(name="role_save", title="Create or update a role", group=GROUP, action=Action.CHANGE,
             handler=role_save, input_schema=role_in, output_schema=role_out,
             visible=lambda p: p.can(Action.ADD) or p.can(Action.CHANGE),
             description="Create a role (give name; tenant defaults to your only tenant) or update one (give id; "
                         "templates/steps/dependencies given replace those lists). Templates are sandboxed "
                         "Jinja2 with the device's variables and facts; {{ secret('name') }} inserts a secret at "
                         "run time. Step types: upload_templates, run {command}, ensure_package {name|names}, "
                         "ensure_service {name, state, enabled}; each with timeout, only_if, unless. Or give "
                         "`document` (YAML) to import. Invalid templates, unknown step types, dependency cycles "
                         "and variables against the schema are refused with field errors."),
        Tool(name="role_delete", title="Delete a role", group=GROUP, action=Action.DELETE, handler=role_delete,
             description="Delete a role (refused while it is assigned or another role depends on it).",
             input_schema=_obj({"id": ID}, ["id"]), output_schema=DELETED, destructive=True, idempotent=True),
        Tool(name="role_test", title="Test a role against a device", group=GROUP, action=Action.VIEW,
             handler=role_test, read_only=True, idempotent=True, output_schema=ROLE_TEST_OUT,
             description="Render every template and step of the role for the device without running anything: "
                         "files, commands (secrets shown as «secret:NAME»), variables with their scopes and all "
                         "errors (undefined variables with line, schema, sandbox, size/time caps). compare=true "
                         "also starts a short read-only job that diffs each file against the machine "
                         "(job_get: result.files[].diff, changed).",
             input_schema=_obj({"role_id": ID, "device_id": ID,
                                "compare": {"type": "boolean", "default": False}}, ["role_id", "device_id"])),
        Tool(name="device_assign_role", title="Assign a role to a device", group=GROUP, action=Action.CHANGE,
             handler=device_assign_role, idempotent=True, output_schema=assignment_out,
             description="Assign a role (the device's tenant's or a global one) with optional variable "
                         "overrides and position; assigning it again updates the overrides.",
             input_schema=_obj({"device_id": ID, "role_id": ID,
                                "variables": {"type": "object", "description": "Overrides of the role's defaults."},
                                "position": {"type": "integer", "minimum": 0}}, ["device_id", "role_id"])),
        Tool(name="device_remove_role", title="Remove a role from a device", group=GROUP, action=Action.CHANGE,
             handler=device_remove_role, destructive=True, idempotent=True, output_schema=REMOVED,
             description="Remove a role assignment (nothing changes on the machine).",
             input_schema=_obj({"device_id": ID, "role_id": ID}, ["device_id", "role_id"])),
        Tool(name="device_variables", title="Effective variables of a device", group=GROUP, action=Action.VIEW,
             handler=device_variables, read_only=True, idempotent=True, output_schema=EFFECTIVE_OUT,
             description="Each variable of the device with its value and winning scope (global < tenant < "
                         "datacenter < role default < role assignment < device), the planned roles, and the "
                         "secret names it can use (never values).",
             input_schema=_obj({"device_id": ID}, ["device_id"])),
        Tool(name="variable_list", title="List variables", group=GROUP, action=Action.VIEW, handler=variable_list,
             read_only=True, idempotent=True, output_schema=_list_output(_out(VariableSerializer)),
             description="Variables you can see, optionally at one scope (and scope_id).",
             input_schema=_obj({"scope": SCOPE, "scope_id": SCOPE_ID, **_page_args()})),
        Tool(name="variable_set", title="Set a variable", group=GROUP, action=Action.CHANGE, handler=variable_set,
             idempotent=True, output_schema=with_error(_out(VariableSerializer)),
             visible=lambda p: p.can(Action.ADD) or p.can(Action.CHANGE),
             description="Create or replace the variable `key` at a scope (global: superusers only).",
             input_schema=_scoped_input(VariableSerializer)),
        Tool(name="variable_delete", title="Delete a variable", group=GROUP, action=Action.DELETE,
             handler=variable_delete, destructive=True, idempotent=True, output_schema=DELETED,
             description="Delete a variable by id.", input_schema=_obj({"id": ID}, ["id"])),
        Tool(name="secret_list", title="List secrets (names only)", group=GROUP, action=Action.VIEW,
             handler=secret_list, read_only=True, idempotent=True, output_schema=_list_output(_out(SecretSerializer)),
             description="Secret names with scope and who/when changed them; values are never shown.",
             input_schema=_obj({"scope": SCOPE, "scope_id": SCOPE_ID, **_page_args()})),
        Tool(name="secret_set", title="Set a secret", group=GROUP, action=Action.CHANGE, handler=secret_set,
             output_schema=with_error(_out(SecretSerializer)), secret_fields=frozenset({"value"}),
             visible=lambda p: p.can(Action.ADD) or p.can(Action.CHANGE),
             description="Create or replace the secret `name` at a scope: give value, or generate=true (with "
                         "length, alphabet) to have the server make one nobody sees. Write-only: the value is "
                         "encrypted and never returned; templates use {{ secret('name') }}.",
             input_schema=_scoped_input(SecretSerializer)),
        Tool(name="secret_delete", title="Delete a secret", group=GROUP, action=Action.DELETE,
             handler=secret_delete, destructive=True, idempotent=True, output_schema=DELETED,
             description="Delete a secret by id.", input_schema=_obj({"id": ID}, ["id"])),
    ]


for _tool in _tools():
    register(_tool)
