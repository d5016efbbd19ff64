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
from rest_framework import relations as drf_relations

from inventory.api.serializers.base import with_related
from inventory.runtime.counting import count as count_rows
from inventory.services.common import check_delete, delete_object, get_for
from inventory.tenancy import Action

from ..registry import InvalidParams, Tool, ToolContext, register
from ..schema import serializer_schema, with_error

ID = {"type": "integer", "minimum": 1}


def fk_renames(serializer_cls) -> dict[str, str]:
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
    #: extra list filters: arg name → (JSON schema, fn(queryset, value, ctx) → queryset, or the
    #: name of a filter of ``filterset`` to apply, when the argument differs from the REST one)
    filters: dict[str, tuple[dict, Callable]] = field(default_factory=dict)
    #: arguments of <name>_list that are required
    required_filters: tuple[str, ...] = ()
    #: the serializer when saving, if not ``serializer`` (e.g. a service wrapper)
    save: Callable | None = None
    #: result fields of a brief item (default: the serializer's brief_fields)
    brief_fields: tuple[str, ...] | None = None
    #: the kind's django-filter FilterSet: each of its filters becomes a list argument (the REST
    #: filters, applied by the same code); ``q`` is called ``query``, ``tenant`` ``tenant_id``
    filterset: type | None = None

    def __post_init__(self):
        self.label = self.label or self.model._meta.verbose_name
        self.renames = fk_renames(self.serializer)
        self.back = {v: k for k, v in self.renames.items()}
        if self.brief_fields is None:
            self.brief_fields = tuple(getattr(self.serializer, "brief_fields", ("id", "display")))
        if self.filterset is not None:
            derived = filterset_arguments(self.filterset)
            for arg, (schema, fn) in list(self.filters.items()):
                if isinstance(fn, str):  # the filterset's filter ``fn`` under another name or schema
                    derived.pop(_FILTER_ARG_NAMES.get(fn, fn), None)
                    self.filters[arg] = (schema, _applier(self.filterset, fn))
            self.filters = {**derived, **self.filters}

    # --- translation ------------------------------------------------------------------
    def to_tool(self, data: dict) -> dict:
        return {self.renames.get(k, k): v for k, v in data.items()}

    def from_tool(self, args: dict) -> dict:
        return {self.back.get(k, k): v for k, v in args.items()}

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
        return obj


_FILTER_ARG_NAMES = {"q": "query", "tenant": "tenant_id"}


def _filter_schema(flt) -> dict:
    """The JSON Schema of one django-filter filter's value."""
    import django_filters as df

    description = str(flt.extra.get("help_text") or flt.label or "")
    choices = flt.extra.get("choices")
    if getattr(flt, "ids_only", False):  # RefFilter's <fk>_id spelling: an id
        schema = {"type": "integer", "minimum": 1}
    elif isinstance(flt, df.MultipleChoiceFilter) and isinstance(choices, (list, tuple)):
        schema = {"type": "array", "items": {"enum": [str(c) for c, _label in choices]}, "minItems": 1}
    elif isinstance(flt, df.ChoiceFilter) and isinstance(choices, (list, tuple)):
        schema = {"enum": [str(c) for c, _label in choices]}
    elif isinstance(flt, df.NumberFilter):
        schema = {"type": "integer", "minimum": flt.extra.get("min_value", 1)}
        if flt.extra.get("max_value") is not None:
            schema["maximum"] = flt.extra["max_value"]
    else:
        schema = {"type": "string", "maxLength": flt.extra.get("max_length") or 200}
    return {**schema, **({"description": description} if description else {})}


def _applier(filterset_class, name: str) -> Callable:
    def apply(qs, value, ctx):
        return apply_filterset(filterset_class, qs, {name: value}, principal=ctx.principal)
    return apply


def filterset_arguments(filterset_class) -> dict[str, tuple[dict, Callable]]:
    """A list tool's filter arguments from a FilterSet: argument name -> (JSON Schema, apply)."""
    return {_FILTER_ARG_NAMES.get(name, name): (_filter_schema(flt), _applier(filterset_class, name))
            for name, flt in filterset_class.base_filters.items()}


def apply_filterset(filterset_class, queryset, values: dict, *, principal=None):
    """``queryset`` narrowed by ``filterset_class`` as REST narrows it for these query values;
    an invalid value is INVALID_PARAMS with the filter's message under the argument's name."""
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    for name, value in values.items():
        data.setlist(name, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    filterset = filterset_class(data=data, queryset=queryset)
    filterset.principal = principal  # RefFilter resolves names and ids among what the caller may view
    if not filterset.is_valid():
        raise InvalidParams("Invalid arguments.", {_FILTER_ARG_NAMES.get(k, k): v for k, v in filterset.errors.items()})
    return filterset.qs


def page_arguments(item_fields, default_fields) -> dict:
    """The paging arguments of every list tool: limit, offset, and the fields of each item."""
    return {
        "limit": {"type": "integer", "minimum": 1, "maximum": settings.MCP_LIST_MAX_LIMIT,
                  "default": settings.MCP_LIST_DEFAULT_LIMIT, "description": "Page size."},
        "offset": {"type": "integer", "minimum": 0, "default": 0, "description": "Items to skip (paging)."},
        "fields": {"type": "array", "items": {"enum": sorted(item_fields)}, "uniqueItems": True,
                   "description": f"Fields to return per item; default {list(default_fields) if default_fields else 'all'}."},
    }


def page_output(item: dict) -> dict:
    """The one list envelope's JSON Schema, around the schema of an item."""
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "count": {"type": "integer", "description": "Matching items in all pages."},
            "limit": {"type": "integer"}, "offset": {"type": "integer"}, "has_more": {"type": "boolean"},
        },
        "required": ["items", "count", "limit", "offset", "has_more"],
    }


def paged(args: dict, queryset, render: Callable[[list], list[dict]], *, count: int | None = None) -> dict:
    """One page of ``queryset`` in the one list envelope: ``{"items", "count", "limit", "offset",
    "has_more"}``; ``render(objects)`` gives the items, ``count`` the total when already known."""
    limit = args.get("limit", settings.MCP_LIST_DEFAULT_LIMIT)
    offset = args.get("offset", 0)
    total = queryset.count() if count is None else count
    page = list(queryset[offset:offset + limit])
    return {"items": render(page), "count": total, "limit": limit, "offset": offset,
            "has_more": offset + len(page) < total}


def only_fields(rows: list[dict], fields) -> list[dict]:
    """Rows narrowed to ``fields`` (all when none are asked for), for serializers without sparse fields."""
    if not fields:
        return rows
    wanted = {"id", *fields}
    return [{k: v for k, v in row.items() if k in wanted} for row in rows]


def list_tool(res: Resource, *, description: str, name: str | None = None) -> Tool:
    item_fields = res.to_tool({k: None for k in res.serializer(context={"principal": None}).fields})
    brief = list(res.to_tool(dict.fromkeys(res.brief_fields)))
    properties = {
        **{arg: schema for arg, (schema, _fn) in res.filters.items()},
        **page_arguments(item_fields, brief),
    }
    output = page_output(res.output_item_schema())

    def handler(ctx: ToolContext, args: dict) -> dict:
        fields = args.get("fields") or brief
        if "id" not in fields:
            fields = ["id", *fields]
        qs = res.queryset(ctx, [res.back.get(f, f) for f in fields])
        filtered = False
        for arg, (_schema, fn) in res.filters.items():
            if args.get(arg) not in (None, "", []):
                qs = fn(qs, args[arg], ctx)
                filtered = True
        return paged(args, qs, lambda page: res.render_many(page, ctx, fields),
                     count=count_rows(qs, unfiltered=not filtered))

    return Tool(
        name=name or f"{res.name}_list", title=f"List {res.model._meta.verbose_name_plural}",
        description=description, group=res.group, action=Action.VIEW, handler=handler,
        input_schema={"type": "object", "properties": properties, "required": list(res.required_filters),
                      "additionalProperties": False},
        output_schema=with_error(output), read_only=True, idempotent=True, renames=res.renames,
    )


def get_tool(res: Resource, *, description: str) -> Tool:
    def handler(ctx: ToolContext, args: dict) -> dict:
        return res.render(res.get(ctx, args["id"]), ctx)

    return Tool(
        name=f"{res.name}_get", title=f"Get a {res.label}", description=description, group=res.group,
        action=Action.VIEW, handler=handler,
        input_schema={"type": "object", "properties": {"id": {**ID, "description": f"The {res.label}'s id."}},
                      "required": ["id"], "additionalProperties": False},
        output_schema=with_error(res.output_item_schema()), read_only=True, idempotent=True, renames=res.renames,
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
        serializer.is_valid(raise_exception=True)  # errors: INVALID_PARAMS under the tool's names
        obj = serializer.save()
        return res.render(obj, ctx)

    required_text = f" Required when creating: {', '.join(create_required)}." if create_required else ""
    return Tool(
        name=f"{res.name}_save", title=f"Create or update a {res.label}",
        description=description + " Give `id` to update (only the fields you pass change); omit it to create."
        + required_text,
        group=res.group, action=Action.CHANGE, handler=handler, input_schema=schema,
        output_schema=with_error(res.output_item_schema()), secret_fields=_secret_fields(res.serializer),
        visible=lambda p: p.can(Action.ADD) or p.can(Action.CHANGE), renames=res.renames,
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
        renames=res.renames,
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
