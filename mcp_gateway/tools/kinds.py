"""List/get/save/delete tools for every kind whose declaration (inventory/kinds.py) has an ``mcp``
part: the tools' schemas from the kind's serializer, list arguments from its FilterSet."""

from inventory import kinds

from .factories import Resource, crud

for kind in kinds.all_kinds():
    if kind.mcp is not None:
        crud(
            Resource(name=kind.name, model=kind.get_model(), serializer=kind.get_serializer(), group=kind.mcp.group,
                     brief_fields=kind.mcp.brief_fields, filterset=kind.get_filterset()),
            list_description=kind.mcp.list, get_description=kind.mcp.get, save_description=kind.mcp.save,
            delete_description=kind.mcp.delete,
        )
