"""MCP tools of the mesh (group "mesh"): mesh_list/get/save/delete from the serializer, peers,
rendered configurations (key masked), status and connectivity check jobs."""

from __future__ import annotations

import functools

from rest_framework import exceptions as drf

from inventory.services.common import Conflict as ServiceConflict
from inventory.tenancy import Action
from mcp_gateway.registry import GROUPS, Conflict, Forbidden, InvalidParams, NotFound, Tool, ToolContext, register
from mcp_gateway.tools.factories import Resource, crud

from . import services
from .models import Mesh
from .serializers import MeshPeerSerializer, MeshSerializer

GROUP = "mesh"
GROUPS.setdefault(GROUP, "WireGuard meshes: peers, configurations, status and connectivity checks")

_ARG_NAMES = {"mesh": "mesh_id", "device": "device_id", "peers": "peer_ids"}


def _mapped(fn):
    @functools.wraps(fn)
    def wrapper(ctx: ToolContext, args: dict) -> dict:
        try:
            return fn(ctx, args)
        except ServiceConflict as exc:
            raise Conflict(str(exc.detail)) from None
        except drf.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            raise InvalidParams("Invalid arguments.", {_ARG_NAMES.get(k, k): v for k, v in detail.items()}) from None
        except drf.NotFound as exc:
            raise NotFound(str(exc.detail)) from None

    return wrapper


def _id(description: str) -> dict:
    return {"type": "integer", "minimum": 1, "description": description}


def _obj(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _peer(peer, ctx) -> dict:
    data = MeshPeerSerializer(peer, context=ctx.serializer_context).data
    return {{"mesh": "mesh_id", "device": "device_id", "tenant": "tenant_id"}.get(k, k): v for k, v in data.items()}


def _started(job) -> dict:
    return {"job_id": job.pk, "status": job.status, "kind": job.kind, "target": job.target,
            "message": f"Job {job.pk} queued; follow it with job_get(id={job.pk})."}


crud(
    Resource(name="mesh", model=Mesh, serializer=MeshSerializer, group=GROUP,
             brief_fields=("id", "name", "display", "tenant", "overlay_cidr", "topology")),
    list_description="List the WireGuard meshes you can see.",
    get_description="Get one mesh (overlay CIDR, port, MTU, DNS, keepalive, topology, last check time).",
    save_description="Create or update a WireGuard mesh: name, overlay_cidr (IPv4 or IPv6 CIDR; an IPAM network "
                     "of the tenant is created for it, not overlapping the tenant's other meshes), listen_port, mtu, "
                     "dns, persistent_keepalive (0: off), topology (full, or hub: spokes talk to peers with "
                     "is_hub), interface, description.",
    delete_description="Delete a mesh with its peers, its overlay network and addresses (the devices keep their "
                       "interfaces until a leave job runs: remove the peers first to take them down).",
)


@_mapped
def mesh_add_peer(ctx: ToolContext, args: dict) -> dict:
    data = {"mesh": args["mesh_id"], "device": args["device_id"]}
    for name in ("endpoint", "allowed_ips", "is_hub", "interface", "enabled"):
        if name in args:
            data[name] = args[name]
    peer = services.add_peer(ctx.principal, data)
    ctx.extra["tenant_id"] = peer.tenant_id
    outdated = [p.pk for p in services.outdated(peer.mesh)]
    result = {"peer": _peer(peer, ctx), "outdated_peers": outdated,
              "message": f"Peer added; run mesh_apply(mesh_id={peer.mesh_id}) to install the configurations of "
                         f"{len(outdated)} peer(s)."}
    if args.get("apply"):
        result.update(_applied(ctx, peer.mesh_id))
    return result


def _applied(ctx: ToolContext, mesh_id) -> dict:
    jobs = services.apply(ctx.principal, mesh_id, only_outdated=True)
    return {"jobs": [{"job_id": j.pk, "device_id": j.device_id, "status": j.status} for j in jobs],
            "message": f"{len(jobs)} provisioning job(s) queued (step join_mesh); follow them with job_get."}


@_mapped
def mesh_remove_peer(ctx: ToolContext, args: dict) -> dict:
    gone = services.remove_peer(ctx.principal, args["peer_id"])
    ctx.extra["tenant_id"] = gone["mesh"].tenant_id
    result = {"removed": True, "peer_id": gone["id"], "display": gone["display"],
              "outdated_peers": [p.pk for p in services.outdated(gone["mesh"])]}
    if gone["installed"] and args.get("leave", True):
        result["leave_job_id"] = services.leave(ctx.principal, gone).pk
    if args.get("apply"):
        result.update(_applied(ctx, gone["mesh"].pk))
    return result


@_mapped
def mesh_peers(ctx: ToolContext, args: dict) -> dict:
    mesh, qs = services.peers(ctx.principal, args["mesh_id"])
    peers = list(qs)
    items = MeshPeerSerializer(peers, many=True, context=ctx.serializer_context).data  # one query for endpoints
    renames = {"mesh": "mesh_id", "device": "device_id", "tenant": "tenant_id"}
    return {"mesh_id": mesh.pk, "count": len(peers),
            "items": [{renames.get(k, k): v for k, v in item.items()} for item in items]}


@_mapped
def mesh_peer_config(ctx: ToolContext, args: dict) -> dict:
    return services.peer_config(ctx.principal, args["peer_id"])


@_mapped
def mesh_apply(ctx: ToolContext, args: dict) -> dict:
    jobs = services.apply(ctx.principal, args["mesh_id"], args.get("peer_ids"),
                          only_outdated=args.get("only_outdated", False))
    return {"jobs": [{"job_id": j.pk, "device_id": j.device_id, "status": j.status} for j in jobs],
            "message": f"{len(jobs)} provisioning job(s) queued (step join_mesh); follow them with job_get."}


@_mapped
def mesh_status(ctx: ToolContext, args: dict) -> dict:
    mesh, qs = services.peers(ctx.principal, args["mesh_id"])
    result = {"mesh_id": mesh.pk, "peers": [
        {"peer_id": p.pk, "device": p.device.name, "address": p.address.address, "enabled": p.enabled,
         "status": p.last_status, "detail": p.last_result,
         "last_handshake": p.last_handshake.isoformat() if p.last_handshake else None,
         "rx_bytes": p.rx_bytes, "tx_bytes": p.tx_bytes, "reported_endpoint": p.reported_endpoint,
         "last_check": p.last_check.isoformat() if p.last_check else None} for p in qs]}
    if args.get("refresh", True):
        if not ctx.principal.can(Action.EXECUTE, mesh):
            raise Forbidden("Refreshing the status runs a job (jobs:execute, operator role); "
                                       "pass refresh=false to read the last observed status.")
        job = services.start_status(ctx.principal, mesh.pk)
        result.update(job_id=job.pk, message=f"Job {job.pk} gathers `wg show` from every peer; the statuses above "
                                             f"are the last observed ones. Follow it with job_get(id={job.pk}).")
    return result


@_mapped
def mesh_check(ctx: ToolContext, args: dict) -> dict:
    return _started(services.start_check(ctx.principal, args["mesh_id"]))


@_mapped
def mesh_rotate_key(ctx: ToolContext, args: dict) -> dict:
    peer = services.rotate_key(ctx.principal, args["peer_id"])
    return {"peer": _peer(peer, ctx), "outdated_peers": [p.pk for p in services.outdated(peer.mesh)],
            "message": "New key pair generated; run mesh_apply to install it (the old key is dropped once every "
                       "peer has the new configuration)."}


from inventory.jobs.mcp_tools import follow_started  # noqa: E402 - wait/progress for the job

_EXEC = dict(group=GROUP, action=Action.EXECUTE, open_world=True)
_READ = dict(group=GROUP, action=Action.VIEW, read_only=True, idempotent=True)
for tool in [
    Tool(name="mesh_add_peer", title="Add a device to a mesh",
         description="Make a device (same tenant) a peer of the mesh: an overlay address is allocated from the "
                     "mesh's network and a key pair generated (the private key is never shown). endpoint: host:port "
                     "the others reach it at (default: its primary address and the mesh port); allowed_ips: extra "
                     "networks routed behind it. Returns the peer and the peers whose configuration is now outdated.",
         group=GROUP, action=Action.CHANGE, handler=mesh_add_peer, open_world=True,
         input_schema=_obj({"mesh_id": _id("The mesh."), "device_id": _id("The device to add."),
                            "endpoint": {"type": "string", "maxLength": 262, "description": "host:port"},
                            "allowed_ips": {"type": "array", "items": {"type": "string", "maxLength": 49},
                                            "maxItems": 64, "description": "CIDRs behind the peer."},
                            "is_hub": {"type": "boolean"}, "enabled": {"type": "boolean"},
                            "interface": {"type": "string", "maxLength": 15},
                            "apply": {"type": "boolean", "default": False,
                                      "description": "Also start the jobs that install the outdated configurations "
                                                     "(this peer's and the others')."}},
                           ["mesh_id", "device_id"])),
    Tool(name="mesh_remove_peer", title="Remove a peer from a mesh",
         description="Remove a peer (its overlay address is freed). If its configuration was installed, a job takes "
                     "its interface down (leave=false: not). Returns the peers whose configuration is now outdated.",
         group=GROUP, action=Action.CHANGE, handler=mesh_remove_peer, destructive=True,
         input_schema=_obj({"peer_id": _id("The peer."), "leave": {"type": "boolean", "default": True},
                            "apply": {"type": "boolean", "default": False,
                                      "description": "Also update the remaining peers' configurations."}},
                           ["peer_id"])),
    Tool(name="mesh_peers", title="List the peers of a mesh",
         description="Peers with overlay address, public key, endpoints, status (up, stale, down, unknown), last "
                     "handshake, transfer and the last check's finding.",
         handler=mesh_peers, input_schema=_obj({"mesh_id": _id("The mesh.")}, ["mesh_id"]), **_READ),
    Tool(name="mesh_peer_config", title="Rendered configuration of a peer",
         description="The wg-quick configuration of a peer (private key masked; the device gets it only through "
                     "mesh_apply), where it goes, and whether the device has exactly it installed.",
         handler=mesh_peer_config, input_schema=_obj({"peer_id": _id("The peer.")}, ["peer_id"]), **_READ),
    Tool(name="mesh_apply", title="Install the mesh configuration on peers",
         description="Join: install /etc/wireguard/<interface>.conf (0600) on each peer over SSH and bring the "
                     "interface up, or apply changes in place (wg syncconf); a disabled peer leaves. One provisioning "
                     "job per device (step join_mesh). peer_ids: only these; only_outdated: only those whose "
                     "installed configuration is not the current one.",
         handler=mesh_apply, **_EXEC,
         input_schema=_obj({"mesh_id": _id("The mesh."),
                            "peer_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 1000},
                            "only_outdated": {"type": "boolean", "default": False}}, ["mesh_id"])),
    Tool(name="mesh_status", title="Peer status of a mesh",
         description="Each peer's last observed status (up: recent handshake, stale, down, unknown), handshake, "
                     "transfer and endpoint seen; with refresh (default) also starts a job that reads `wg show <if> "
                     "dump` on every peer over SSH (read-only).",
         handler=mesh_status, group=GROUP, action=Action.VIEW, open_world=True,
         input_schema=_obj({"mesh_id": _id("The mesh."), "refresh": {"type": "boolean", "default": True}},
                           ["mesh_id"])),
    Tool(name="mesh_check", title="Check mesh connectivity",
         description="Start a job that, from every peer over SSH, probes every other peer's overlay address (ICMP "
                     "where possible, else a TCP connect to its SSH port) and returns the connectivity matrix with "
                     "round-trip times and diagnoses (no handshake: key or endpoint mismatch; handshake but no "
                     "traffic: AllowedIPs; endpoint differs: NAT). Returns the job id at once.",
         handler=mesh_check, follow=follow_started, **_EXEC, input_schema=_obj({"mesh_id": _id("The mesh.")}, ["mesh_id"])),
    Tool(name="mesh_rotate_key", title="Rotate a peer's key",
         description="Generate a new key pair for a peer; the configurations are re-rendered (mesh_apply installs "
                     "them) and the old key is dropped once every peer has confirmed the new configuration.",
         group=GROUP, action=Action.CHANGE, handler=mesh_rotate_key,
         input_schema=_obj({"peer_id": _id("The peer.")}, ["peer_id"])),
]:
    register(tool)
