"""MCP tools of blueprints (group "blueprints"; names fixed by issue 22): blueprint_list,
blueprint_get, blueprint_save, blueprint_delete, blueprint_publish, blueprint_import,
use_blueprint, blueprint_run_get (and blueprint_run_resume). Rules in services.py; DRF errors
become INVALID_PARAMS / NOT_FOUND / FORBIDDEN / CONFLICT in the gateway. Secret parameters
(writeOnly in the blueprint's schema) are masked in results and redacted in the MCP audit log."""

from __future__ import annotations

from django.conf import settings

from inventory.tenancy import Action
from mcp_gateway.registry import GROUPS, Tool, ToolContext, register

from . import services
from .actions import ACTIONS
from .models import Source

GROUP = "blueprints"
GROUPS.setdefault(GROUP, "Blueprints: parameterized multi-step recipes (plan, confirm, run)")
ID = {"type": "integer", "minimum": 1}
SOURCE = {"type": "string", "enum": list(Source.values), "description": "official, private or community."}
TENANT = {"type": "integer", "minimum": 1, "description": "Tenant (needed if you can act in several)."}


def _obj(properties: dict, required=()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _find(ctx: ToolContext, args: dict):
    if args.get("id"):
        return services.get_by_id(ctx.principal, args["id"])
    if not args.get("name"):
        from rest_framework.exceptions import ValidationError

        raise ValidationError({"name": ["Give the name (or the id)."]})
    return services.find(ctx.principal, args["name"], args.get("source"), args.get("version"))


def blueprint_list(ctx: ToolContext, args: dict) -> dict:
    qs = services.catalog(ctx.principal, args.get("source"), args.get("query"))
    limit, offset = args.get("limit", settings.MCP_LIST_DEFAULT_LIMIT), args.get("offset", 0)
    count = qs.count()
    rows = list(qs[offset:offset + limit])
    return {"items": [services.blueprint_view(bp) for bp in rows], "count": count, "limit": limit, "offset": offset,
            "has_more": offset + len(rows) < count,
            "hint": "blueprint_get(name) shows a blueprint's parameters; use_blueprint(name, params, dry_run=true) "
                    "plans it."}


def blueprint_get(ctx: ToolContext, args: dict) -> dict:
    data = services.blueprint_view(_find(ctx, args), full=True)
    data["actions"] = {name: kind.description for name, kind in ACTIONS.items()}
    return data


def blueprint_save(ctx: ToolContext, args: dict) -> dict:
    bp, created = services.save(ctx.principal, args["document"], args.get("tenant"), pk=args.get("id"))
    ctx.extra["tenant_id"] = bp.tenant_id
    return {**services.blueprint_view(bp, full=True), "created": created}


def blueprint_delete(ctx: ToolContext, args: dict) -> dict:
    return services.delete(ctx.principal, args["id"])


def blueprint_publish(ctx: ToolContext, args: dict) -> dict:
    if "listed" in args:
        bp = services.unlist(ctx.principal, args["id"], args["listed"])
    else:
        bp = services.publish(ctx.principal, args["id"], args.get("changelog", ""))
    return services.blueprint_view(bp)


def blueprint_import(ctx: ToolContext, args: dict) -> dict:
    bp = services.import_copy(ctx.principal, _find(ctx, args).pk, args.get("tenant"), args.get("new_name") or None)
    ctx.extra["tenant_id"] = bp.tenant_id
    return services.blueprint_view(bp, full=True)


def _use(ctx: ToolContext, args: dict, *, dry_run: bool) -> dict:
    from . import documents

    params = dict(args.get("params") or {})
    try:  # the MCP audit log records the arguments: secret parameters masked there too
        args["params"] = documents.masked(services.find(ctx.principal, args["name"], args.get("source"),
                                                        args.get("version")).document, params)
    except Exception:  # noqa: BLE001 - not found: the call fails below; record no values at all
        args["params"] = {k: documents.MASK for k in params}
    result = services.use(ctx.principal, args["name"], params, source=args.get("source"),
                          version=args.get("version"), tenant=args.get("tenant"), dry_run=dry_run,
                          confirmed=bool(ctx.extra.get("confirmed")))
    ctx.extra["tenant_id"] = result["tenant"]["id"]
    return result


def use_blueprint(ctx: ToolContext, args: dict) -> dict:
    return _use(ctx, args, dry_run=False)


def use_blueprint_impact(ctx: ToolContext, args: dict):
    """The plan, without changing anything: the gateway's dry_run answer and the confirmation's
    text (see :func:`plan_impact`)."""
    return plan_impact(_use(ctx, dict(args), dry_run=True))


def plan_impact(result: dict):
    """A dry run's answer as the gateway's Impact. A plan that creates many devices or touches
    devices in production is destructive (the gateway asks first); any other plan runs at once."""
    from mcp_gateway.confirm import Impact

    result = dict(result)
    result.pop("confirm", None)  # REST's token; over MCP the gateway's confirmation replaces it
    plan, bp = result["plan"], result["blueprint"]
    summary = (f"runs blueprint {bp['name']} {bp['version']} ({bp['source']}) in tenant {result['tenant']['name']}: "
               f"{plan['changes']} change(s) in {len(plan['steps'])} steps")
    if plan["confirmation_required"]:
        summary += " (" + "; ".join(plan["confirmation_reasons"]) + ")"
    result["message"] = f"Plan: {plan['changes']} change(s) in {len(plan['steps'])} steps; nothing changed."
    return Impact(summary=summary, objects=max(1, plan["changes"]), tenant_id=result["tenant"]["id"],
                  result=result, destructive=bool(plan["confirmation_required"]))


def blueprint_run_get(ctx: ToolContext, args: dict) -> dict:
    return services.run_view(services.get_run(ctx.principal, args["id"]))


def blueprint_run_resume(ctx: ToolContext, args: dict) -> dict:
    return services.run_view(services.resume(ctx.principal, args["id"]))


_READ = dict(group=GROUP, action=Action.VIEW, read_only=True, idempotent=True)
_LOOKUP = {"name": {"type": "string", "maxLength": 100, "description": "The blueprint's name."},
           "id": {**ID, "description": "Or its id."}, "source": SOURCE,
           "version": {"type": "string", "maxLength": 40, "description": "Community version (default: newest)."}}
for tool in [
    Tool(name="blueprint_list", title="List blueprints",
         description="The blueprint catalog you can use: official ones (shipped), your tenants' private ones and "
                     "the community's. source: only one source; query: words in name, title or description.",
         handler=blueprint_list, **_READ,
         input_schema=_obj({"source": SOURCE, "query": {"type": "string", "maxLength": 200},
                            "limit": {"type": "integer", "minimum": 1, "maximum": settings.MCP_LIST_MAX_LIMIT,
                                      "default": settings.MCP_LIST_DEFAULT_LIMIT},
                            "offset": {"type": "integer", "minimum": 0, "default": 0}})),
    Tool(name="blueprint_get", title="Get a blueprint",
         description="One blueprint: its document (YAML too), its parameters as a JSON Schema (types, defaults, "
                     "enums, bounds, descriptions) and its steps; by name (private, else official, else community) "
                     "or id.", handler=blueprint_get, **_READ, input_schema=_obj(_LOOKUP)),
    Tool(name="blueprint_save", title="Create or update a private blueprint",
         description="Save a private blueprint of a tenant from its document (YAML/JSON text or an object: name, "
                     "version (semver), title, description, parameters (JSON Schema), steps [{id, action, args}] "
                     f"with actions {', '.join(ACTIONS)}; args are templates over params.* and earlier steps.*). "
                     "The same name in the tenant (or id) is replaced. Errors name the step and field.",
         group=GROUP, action=Action.ADD, handler=blueprint_save,
         input_schema=_obj({"document": {"type": "string", "maxLength": 262144,
                                         "description": "The document as YAML or JSON text."},
                            "tenant": TENANT, "id": {**ID, "description": "Replace this private blueprint."}},
                           ["document"])),
    Tool(name="blueprint_delete", title="Delete a private blueprint",
         description="Delete a private blueprint (tenant admin). Runs keep their copy of the document.",
         group=GROUP, action=Action.DELETE, handler=blueprint_delete, destructive=True,
         input_schema=_obj({"id": ID}, ["id"])),
    Tool(name="blueprint_publish", title="Publish a blueprint to the community",
         description="Publish a copy of a private blueprint (tenant admin) to the community catalog, with your "
                     "tenant shown as author, its version and a changelog line. Only the document is copied (never "
                     "your devices, variables or secrets); each version is published once. Superusers: listed=false "
                     "unlists a community blueprint (listed=true lists it again).",
         group=GROUP, action=Action.MANAGE, handler=blueprint_publish,
         input_schema=_obj({"id": ID, "changelog": {"type": "string", "maxLength": 500},
                            "listed": {"type": "boolean"}}, ["id"])),
    Tool(name="blueprint_import", title="Import a blueprint as a private copy",
         description="Copy an official or community blueprint into a tenant as a private blueprint (to change it).",
         group=GROUP, action=Action.ADD, handler=blueprint_import,
         input_schema=_obj({**_LOOKUP, "tenant": TENANT,
                            "new_name": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_.-]{0,99}$"}})),
    Tool(name="use_blueprint", title="Use a blueprint",
         description="Run a blueprint with parameters. Parameters are checked against its schema (errors per "
                     "parameter), then planned: the concrete changes (devices, roles, variables and secrets by name, "
                     "mesh changes, provisioning runs). dry_run=true returns the plan and changes nothing: do that "
                     "first and show it. Otherwise a job runs the plan step by step (follow it with "
                     "blueprint_run_get); plans that create many devices or change devices in production ask for "
                     "confirmation first. Re-running with the same parameters changes nothing new.",
         group=GROUP, action=Action.EXECUTE, handler=use_blueprint, impact=use_blueprint_impact, open_world=True,
         destructive=True,
         input_schema=_obj({"name": {"type": "string", "maxLength": 100}, "params": {"type": "object"},
                            "source": SOURCE, "version": {"type": "string", "maxLength": 40}, "tenant": TENANT},
                           ["name"])),
    Tool(name="blueprint_run_get", title="Get a blueprint run",
         description="A blueprint run: status, job progress, per-step results (changes made, unchanged, error), "
                     "outputs, parameters (secrets masked) and the plan; can_resume after a failure.",
         handler=blueprint_run_get, **_READ, input_schema=_obj({"id": ID}, ["id"])),
    Tool(name="blueprint_run_resume", title="Resume a failed blueprint run",
         description="Continue a failed or cancelled run at the step that failed (earlier steps are not run again).",
         group=GROUP, action=Action.EXECUTE, handler=blueprint_run_resume, open_world=True,
         input_schema=_obj({"id": ID}, ["id"])),
]:
    register(tool)
