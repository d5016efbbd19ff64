"""Inventory tools: search, devices (with relationships) and datacenters (group "inventory")."""

from inventory.api.serializers import (DatacenterSerializer, DeviceRelationshipSerializer, DeviceSerializer,
                                       SearchResultSerializer)
from inventory.models import Datacenter, Device, DeviceRelationship, DeviceStatus, RelationshipType
from inventory.services.common import delete_object, get_for
from inventory.api.filtersets import DatacenterFilter, DeviceFilter
from inventory.services.search import search
from inventory.tenancy import Action

from ..registry import NotFound, Tool, ToolContext, register
from ..schema import serializer_schema, with_error
from .factories import ID, Resource, fk_renames, crud

GROUP = "inventory"
SEARCH_LIMIT = 20


# --- search -------------------------------------------------------------------------------
_HIT_RENAMES: dict[str, str] = {}  # the foreign keys of every kind's hits (all named <fk>_id)

def _search(ctx: ToolContext, args: dict) -> dict:
    found = search(ctx.principal, args["query"], limit=args.get("limit", SEARCH_LIMIT),
                   columns=SearchResultSerializer.columns())
    data = SearchResultSerializer(found, context=ctx.serializer_context).data
    return {kind: [_hit(item) for item in items] for kind, items in data.items()}


def _hit(item: dict) -> dict:
    return {_HIT_RENAMES.get(k, k): v for k, v in item.items()}


def _search_output() -> dict:
    props = {}
    for name, field in SearchResultSerializer().fields.items():
        _HIT_RENAMES.update(fk_renames(type(field.child)))
        item = serializer_schema(field.child, mode="output", rename=fk_renames(type(field.child)))
        item["required"] = ["id"]
        props[name] = {"type": "array", "items": item}
    return {"type": "object", "properties": props, "required": list(props)}


register(Tool(
    name="search", title="Search the inventory",
    description="Search devices, networks and datacenters you can see. Every word must match (name, description, "
                "make/model, OS, location, tags, domains, addresses); an IP address finds the device holding it and "
                "the networks containing it; a CIDR finds networks inside or around it.",
    group=GROUP, action=Action.VIEW, handler=_search,
    input_schema={"type": "object", "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Search words, an IP or a CIDR."},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": SEARCH_LIMIT,
                  "description": "Most results per kind."},
    }, "required": ["query"], "additionalProperties": False},
    output_schema=with_error(_search_output()), read_only=True, idempotent=True,
))


# --- devices --------------------------------------------------------------------------------
devices = Resource(
    name="device", model=Device, serializer=DeviceSerializer, group=GROUP, filterset=DeviceFilter,
    filters={  # the REST filters (DeviceFilter), two under their MCP names and shapes
        "tags": ({"type": "array", "items": {"type": "string"}, "description": "Only devices with all these tags."},
                 "tag"),
        "status": ({"enum": list(DeviceStatus.values), "description": "Only devices with this status."}, "status"),
    },
    brief_fields=("id", "name", "display", "status", "tenant", "datacenter"),
)
crud(
    devices,
    list_description="List devices you can see, paged (limit/offset), optionally filtered by words, tags, "
                     "datacenter or status. Items are brief unless you pass `fields`.",
    get_description="Get one device with its addresses, tags, domains and facts.",
    save_description="Create or update a device with its addresses ([{ip, type}]), tags and domains, all or "
                     "nothing. Lists you pass replace the device's.",
    delete_description="Delete a device (its addresses are released). Needs the admin role and inventory:delete.",
)


# --- relationships ----------------------------------------------------------------------
REL_RENAMES = fk_renames(DeviceRelationshipSerializer)


def _rel(obj, ctx) -> dict:
    data = DeviceRelationshipSerializer(obj, context=ctx.serializer_context).data
    return {REL_RENAMES.get(k, k): v for k, v in data.items()}


def _rel_schema() -> dict:
    schema = serializer_schema(DeviceRelationshipSerializer(context={"principal": None}), mode="output",
                               rename=REL_RENAMES)
    schema["required"] = ["id", "parent_id", "child_id", "type"]
    return schema


def _add_relationship(ctx: ToolContext, args: dict) -> dict:
    data = {"parent": args["parent_id"], "child": args["child_id"], "type": args["type"]}
    serializer = DeviceRelationshipSerializer(data=data, context=ctx.serializer_context)
    serializer.is_valid(raise_exception=True)
    obj = serializer.save()
    return _rel(obj, ctx)


def _get_relationships(ctx: ToolContext, args: dict) -> dict:
    device = get_for(ctx.principal, Device, args["id"])
    qs = DeviceRelationship.objects.restrict(ctx.principal, Action.VIEW).select_related("parent", "child")
    return {
        "device_id": device.pk,
        "parents": [_rel(r, ctx) for r in qs.filter(child=device)],
        "children": [_rel(r, ctx) for r in qs.filter(parent=device)],
    }


def _remove_relationship(ctx: ToolContext, args: dict) -> dict:
    rel = _find_relationship(ctx, args)
    data = _rel(rel, ctx)
    delete_object(ctx.principal, rel)
    return {"deleted": True, "id": data["id"], "display": data.get("display", "")}


def _relationship_impact(ctx: ToolContext, args: dict):
    from inventory.services.common import check_delete

    from ..confirm import deletion_impact

    rel = _find_relationship(ctx, args)
    check_delete(ctx.principal, rel)
    impact = deletion_impact(rel)
    impact.result = {"deleted": False, "id": rel.pk, "display": str(rel)}
    return impact


def _find_relationship(ctx: ToolContext, args: dict):
    qs = DeviceRelationship.objects.restrict(ctx.principal, Action.VIEW)
    if args.get("id") is not None:
        qs = qs.filter(pk=args["id"])
    else:
        missing = [k for k in ("parent_id", "child_id", "type") if args.get(k) is None]
        if missing:
            from ..registry import InvalidParams

            raise InvalidParams("Give the relationship's id, or parent_id, child_id and type.",
                                {k: ["This field is required."] for k in missing})
        qs = qs.filter(parent_id=args["parent_id"], child_id=args["child_id"], type=args["type"])
    rel = qs.first()
    if rel is None:
        raise NotFound("No such relationship (or it is not visible to you).")
    ctx.extra["tenant_id"] = rel.tenant_id
    return rel


REL_TYPE = {"enum": list(RelationshipType.values), "description": "contains, connected_to or depends_on."}

register(Tool(
    name="device_add_relationship", title="Relate two devices",
    description="Record that parent contains / is connected_to / depends_on child (same tenant; 'contains' "
                "cannot form a cycle).",
    group=GROUP, action=Action.ADD, handler=_add_relationship, renames=REL_RENAMES,
    input_schema={"type": "object", "properties": {
        "parent_id": {**ID, "description": "Parent device id."},
        "child_id": {**ID, "description": "Child device id."},
        "type": REL_TYPE,
    }, "required": ["parent_id", "child_id", "type"], "additionalProperties": False},
    output_schema=with_error(_rel_schema()),
))
register(Tool(
    name="device_get_relationships", title="Get a device's relationships",
    description="The relationships where the device is the parent (children) or the child (parents).",
    group=GROUP, action=Action.VIEW, handler=_get_relationships,
    input_schema={"type": "object", "properties": {"id": {**ID, "description": "Device id."}},
                  "required": ["id"], "additionalProperties": False},
    output_schema=with_error({"type": "object", "properties": {
        "device_id": {"type": "integer"},
        "parents": {"type": "array", "items": _rel_schema()},
        "children": {"type": "array", "items": _rel_schema()},
    }, "required": ["device_id", "parents", "children"]}),
    read_only=True, idempotent=True,
))
register(Tool(
    name="device_remove_relationship", title="Remove a device relationship",
    description="Delete a relationship, given by its id or by parent_id, child_id and type.",
    group=GROUP, action=Action.DELETE, handler=_remove_relationship,
    input_schema={"type": "object", "properties": {
        "id": {**ID, "description": "Relationship id."},
        "parent_id": {**ID, "description": "Parent device id."},
        "child_id": {**ID, "description": "Child device id."},
        "type": REL_TYPE,
    }, "additionalProperties": False},
    output_schema=with_error({"type": "object", "properties": {
        "deleted": {"type": "boolean"}, "id": {"type": "integer"}, "display": {"type": "string"}},
        "required": ["deleted", "id"]}),
    destructive=True, idempotent=True, impact=_relationship_impact,
))


# --- datacenters --------------------------------------------------------------------------
crud(
    Resource(name="datacenter", model=Datacenter, serializer=DatacenterSerializer, group=GROUP,
             filterset=DatacenterFilter, brief_fields=("id", "name", "display", "tenant", "location")),
    list_description="List datacenters you can see, paged (limit/offset).",
    get_description="Get one datacenter.",
    save_description="Create or update a datacenter (name unique within the tenant).",
    delete_description="Delete a datacenter (its devices and networks stay, without datacenter).",
)
