"""IPAM tools: networks, IP pools and next-free-IP allocation (group "ipam")."""

from inventory.api.filtersets import IPPoolFilter, NetworkFilter
from inventory.api.serializers import IPAddressSerializer, IPPoolSerializer, NetworkSerializer
from inventory.models import Device, IPPool, Network
from inventory.services.allocation import allocate_next_ip
from inventory.tenancy import Action

from ..registry import Tool, ToolContext, register
from ..schema import serializer_schema, with_error
from .factories import ID, Resource, fk_renames, crud

GROUP = "ipam"

crud(
    Resource(
        name="network", model=Network, serializer=NetworkSerializer, group=GROUP, filterset=NetworkFilter,
        brief_fields=("id", "name", "display", "tenant", "subnet", "vlan_id", "datacenter"),
    ),
    list_description="List networks you can see, paged (limit/offset), optionally in one datacenter.",
    get_description="Get one network.",
    save_description="Create or update a network: name, subnet (CIDR, host bits zero, e.g. 192.168.1.0/24), "
                     "datacenter_id, vlan_id (1-4094), description.",
    delete_description="Delete a network with its pools and addresses.",
)

pools = Resource(
    name="pool", model=IPPool, serializer=IPPoolSerializer, group=GROUP, filterset=IPPoolFilter,
    required_filters=("network_id",),
    brief_fields=("id", "name", "display", "network", "start_address", "end_address"),
)
crud(
    pools,
    list_description="List the IP pools of a network.",
    get_description="Get one IP pool.",
    save_description="Create or update an IP pool: a named address range (start_address..end_address) inside "
                     "network_id, not overlapping other pools.",
    delete_description="Delete an IP pool (its addresses stay in the network).",
)

ADDRESS_RENAMES = fk_renames(IPAddressSerializer)


def _next_ip(ctx: ToolContext, args: dict) -> dict:
    device = None
    if args.get("device_id") is not None:
        from ..registry import InvalidParams

        device = Device.objects.restrict(ctx.principal, Action.VIEW).filter(pk=args["device_id"]).first()
        if device is None:
            raise InvalidParams("Invalid arguments.", {"device_id": [
                f"No device with id {args['device_id']} exists (or it is not visible to you)."]})
    # the pool is read by the allocation, as the principal sees it (NOT_FOUND, FORBIDDEN)
    row = allocate_next_ip(ctx.principal, (IPPool, args["pool_id"]), device=device,
                           dns_name=args.get("dns_name", ""), description=args.get("description", ""))
    ctx.extra["tenant_id"] = row.tenant_id
    data = IPAddressSerializer(row, context=ctx.serializer_context).data
    return {ADDRESS_RENAMES.get(k, k): v for k, v in data.items()}


_address_schema = serializer_schema(IPAddressSerializer(context={"principal": None}), mode="output",
                                    rename=ADDRESS_RENAMES)
_address_schema["required"] = ["id", "address", "network_id"]

register(Tool(
    name="pool_get_next_ip", title="Allocate the next free IP of a pool",
    description="Allocate (record as allocated) the first free address of the pool and return it; optionally "
                "assign it to a device with a DNS name. Safe under concurrency: two calls never get the same address.",
    group=GROUP, action=Action.ADD, handler=_next_ip, renames=ADDRESS_RENAMES,
    # allocate_next_ip is the only write and runs its own transaction (with retries): the network
    # lock is then released at its commit, not held while the result is rendered
    atomic=False,
    input_schema={"type": "object", "properties": {
        "pool_id": {**ID, "description": "The pool to allocate from."},
        "device_id": {**ID, "description": "Device (same tenant) to assign the address to."},
        "dns_name": {"type": "string", "maxLength": 255, "description": "DNS name to record."},
        "description": {"type": "string", "maxLength": 200},
    }, "required": ["pool_id"], "additionalProperties": False},
    output_schema=with_error(_address_schema),
))
