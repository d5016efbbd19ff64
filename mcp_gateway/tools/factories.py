"""Generic list/get/save/delete tools over a REST serializer and its model.

Schemas come from the serializer (:mod:`mcp_gateway.schema`), arguments are validated by the
serializer with ``context={"principal": ...}``, objects come from
``Model.objects.restrict(principal, action)`` (via ``inventory.services.common.get_for``), and
results are rendered by the serializer. Foreign keys appear as ``<name>_id`` in tool arguments and
results (``datacenter`` → ``datacenter_id``), as in Rackd's tool vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from django.conf import settings
from rest_framework import exceptions
from rest_framework import relations as drf_relations

from inventory.api.serializers.base import with_related
from inventory.runtime.counting import count as count_rows
from inventory.services.common import check_delete, delete_object, get_for
from inventory.tenancy import Action

from ..registry import InvalidParams, Tool, ToolContext, register
from ..schema import serializer_schema, with_error

ID = {"type": "integer", "minimum": 1}


def _fk_renames(serializer_cls) -> dict[str, str]:
    fields = serializer_cls(context={"principal": None}).fields
    return {name: f"{name}_id" for name, f in fields.items()
            if isinstance(f, drf_relations.PrimaryKeyRelatedField) and not name.endswith("_id")}


def _secret_fields(serializer_cls) -> frozenset[str]:
    fields = serializer_cls(context={"principal": None}).fields
    return frozenset(n for n, f in fields.items()
                     if f.write_only or (getattr(f, "style", {}) or {}).get("input_type") == "password")


@dataclass
class Resource:
    """A model exposed through tools: ``device`` → device_list/get/save/delete."""

    name: str
    model: type
    serializer: type
    group: str
    label: str = ""  # "device"
    #: extra list filters: arg name → (JSON schema, fn(queryset, value, ctx) → queryset)
    filters: dict[str, tuple[dict, Callable]] = field(default_factory=dict)
    #: arguments of <name>_list that are required
    required_filters: tuple[str, ...] = ()
    #: the serializer when saving, if not ``serializer`` (e.g. a service wrapper)
    save: Callable | None = None
    #: result fields of a brief item (default: the serializer's brief_fields)
    brief_fields: tuple[str, ...] | None = None

    def __post_init__(self):
        self.label = self.label or self.model._meta.verbose_name
        self.renames = _fk_renames(self.serializer)
        self.back = {v: k for k, v in self.renames.items()}
        if self.brief_fields is None:
            self.brief_fields = tuple(getattr(self.serializer, "brief_fields", ("id", "display")))

    # --- translation ------------------------------------------------------------------
    def to_tool(self, data: dict) -> dict:
        return {self.renames.get(k, k): v for k, v in data.items()}

    def from_tool(self, args: dict) -> dict:
        return {self.back.get(k, k): v for k, v in args.items()}

    def tool_errors(self, detail):
        if isinstance(detail, dict):
            return {self.renames.get(k, k): v for k, v in detail.items()}
        return detail

    def render(self, obj, ctx: ToolContext, fields=None) -> dict:
        return self.render_many([obj], ctx, fields)[0]

    def render_many(self, objs, ctx: ToolContext, fields=None) -> list[dict]:
        context = {**ctx.serializer_context, **({"fields": set(self.back.get(f, f) for f in fields)} if fields else {})}
        return [self.to_tool(item) for item in self.serializer(objs, many=True, context=context).data]

    def output_item_schema(self) -> dict:
        schema = serializer_schema(self.serializer(context={"principal": None}), mode="output", rename=self.renames)
        schema["required"] = ["id"]
        return schema

    def queryset(self, ctx: ToolContext, fields):
        qs = self.model.objects.restrict(ctx.principal, Action.VIEW)
        return with_related(qs, self.serializer, set(fields) if fields else None)

    def get(self, ctx: ToolContext, pk, action=Action.VIEW):
        obj = get_for(ctx.principal, self.model, pk, action)
        ctx.extra["tenant_id"] = getattr(obj, "tenant_id", None)
        return obj


def _validation(resource: Resource, exc: exceptions.ValidationError):
    return InvalidParams("Invalid arguments.", resource.tool_errors(exc.detail))


def list_tool(res: Resource, *, description: str, name: str | None = None) -> Tool:
    item_fields = sorted(res.to_tool({k: None for k in res.serializer(context={"principal": None}).fields}))
    properties = {
        **{arg: schema for arg, (schema, _fn) in res.filters.items()},
        "limit": {"type": "integer", "minimum": 1, "maximum": settings.MCP_LIST_MAX_LIMIT,
                  "default": settings.MCP_LIST_DEFAULT_LIMIT, "description": "Page size."},
        "offset": {"type": "integer", "minimum": 0, "default": 0, "description": "Items to skip (paging)."},
        "fields": {"type": "array", "items": {"enum": item_fields}, "uniqueItems": True,
                   "description": f"Fields to return per item; default the brief set {list(res.to_tool(dict.fromkeys(res.brief_fields)))}."},
    }
    item = res.output_item_schema()
    output = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "count": {"type": "integer", "description": "Matching items in all pages."},
            "limit": {"type": "integer"}, "offset": {"type": "integer"}, "has_more": {"type": "boolean"},
        },
        "required": ["items", "count", "limit", "offset", "has_more"],
    }

    def handler(ctx: ToolContext, args: dict) -> dict:
        limit = args.get("limit", settings.MCP_LIST_DEFAULT_LIMIT)
        offset = args.get("offset", 0)
        fields = args.get("fields") or list(res.to_tool(dict.fromkeys(res.brief_fields)))
        if "id" not in fields:
            fields = ["id", *fields]
        qs = res.queryset(ctx, [res.back.get(f, f) for f in fields])
        filtered = False
        for arg, (_schema, fn) in res.filters.items():
            if args.get(arg) not in (None, "", []):
                qs = fn(qs, args[arg], ctx)
                filtered = True
        count = count_rows(qs, unfiltered=not filtered)
        page = list(qs[offset:offset + limit])
        return {"items": res.render_many(page, ctx, fields), "count": count, "limit": limit,
                "offset": offset, "has_more": offset + len(page) < count}

    return Tool(
        name=name or f"{res.name}_list", title=f"List {res.model._meta.verbose_name_plural}",
        description=description, group=res.group, action=Action.VIEW, handler=handler,
        input_schema={"type": "object", "properties": properties, "required": list(res.required_filters),
                      "additionalProperties": False},
        output_schema=with_error(output), read_only=True, idempotent=True,
    )


def get_tool(res: Resource, *, description: str) -> Tool:
    def handler(ctx: ToolContext, args: dict) -> dict:
        return res.render(res.get(ctx, args["id"]), ctx)

    return Tool(
        name=f"{res.name}_get", title=f"Get a {res.label}", description=description, group=res.group,
        action=Action.VIEW, handler=handler,
        input_schema={"type": "object", "properties": {"id": {**ID, "description": f"The {res.label}'s id."}},
                      "required": ["id"], "additionalProperties": False},
        output_schema=with_error(res.output_item_schema()), read_only=True, idempotent=True,
    )


def save_tool(res: Resource, *, description: str) -> Tool:
    schema = serializer_schema(res.serializer(context={"principal": None}), mode="input", partial=True,
                               rename=res.renames)
    create_required = serializer_schema(res.serializer(context={"principal": None}), mode="input",
                                        rename=res.renames).get("required", [])
    schema["properties"] = {"id": {**ID, "description": f"The {res.label} to update; omit to create one."},
                            **schema["properties"]}

    def handler(ctx: ToolContext, args: dict) -> dict:
        data = res.from_tool({k: v for k, v in args.items() if k != "id"})
        instance = res.get(ctx, args["id"]) if args.get("id") is not None else None
        serializer = res.serializer(instance, data=data, partial=instance is not None,
                                    context=ctx.serializer_context)
        try:
            serializer.is_valid(raise_exception=True)
            obj = serializer.save()
        except exceptions.ValidationError as exc:
            raise _validation(res, exc) from None
        ctx.extra["tenant_id"] = getattr(obj, "tenant_id", None)
        return res.render(obj, ctx)

    required_text = f" Required when creating: {', '.join(create_required)}." if create_required else ""
    return Tool(
        name=f"{res.name}_save", title=f"Create or update a {res.label}",
        description=description + " Give `id` to update (only the fields you pass change); omit it to create."
        + required_text,
        group=res.group, action=Action.CHANGE, handler=handler, input_schema=schema,
        output_schema=with_error(res.output_item_schema()), secret_fields=_secret_fields(res.serializer),
        visible=lambda p: p.can(Action.ADD) or p.can(Action.CHANGE),
    )


def delete_tool(res: Resource, *, description: str) -> Tool:
    def handler(ctx: ToolContext, args: dict) -> dict:
        obj = res.get(ctx, args["id"])
        display = str(obj)
        delete_object(ctx.principal, obj)
        return {"deleted": True, "id": args["id"], "display": display}

    return Tool(
        name=f"{res.name}_delete", title=f"Delete a {res.label}", description=description, group=res.group,
        action=Action.DELETE, handler=handler,
        input_schema={"type": "object", "properties": {"id": {**ID, "description": f"The {res.label}'s id."}},
                      "required": ["id"], "additionalProperties": False},
        output_schema=with_error({"type": "object", "properties": {
            "deleted": {"type": "boolean"}, "id": {"type": "integer"}, "display": {"type": "string"}},
            "required": ["deleted", "id"]}),
        destructive=True, idempotent=True,  # deleting again changes nothing more (it answers NOT_FOUND)
        impact=lambda ctx, args: _deletion_impact(res, ctx, args),
    )


def _deletion_impact(res: Resource, ctx: ToolContext, args: dict):
    from ..confirm import deletion_impact

    obj = res.get(ctx, args["id"])
    check_delete(ctx.principal, obj)
    impact = deletion_impact(obj)
    impact.result = {"deleted": False, "id": obj.pk, "display": str(obj)}
    return impact


def crud(res: Resource, *, list_description: str, get_description: str, save_description: str,
         delete_description: str) -> list[Tool]:
    return [register(t) for t in (
        list_tool(res, description=list_description),
        get_tool(res, description=get_description),
        save_tool(res, description=save_description),
        delete_tool(res, description=delete_description),
    )]
