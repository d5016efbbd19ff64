"""Mesh operations shared by REST, MCP, the admin and jobs (principal first; DRF exceptions:
400 field errors, 403, 404 outside the principal's view, 409 conflicts)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import exceptions

from inventory.services.allocation import allocate_next_ip
from inventory.services.common import Conflict, as_drf_validation_error, check, get_for, save_model
from inventory.tenancy import Action, Principal

from . import config, keys
from .models import Mesh, MeshPeer
from .serializers import AddPeerSerializer


def get_mesh(principal: Principal, mesh_id, action: str = Action.VIEW) -> Mesh:
    return get_for(principal, Mesh, mesh_id, action)


def get_peer(principal: Principal, peer_id, action: str = Action.VIEW) -> MeshPeer:
    return get_for(principal, MeshPeer, peer_id, action,
                   build=lambda: MeshPeer.objects.select_related("mesh", "device", "address", "second_address"),
                   shape=("mesh peer",))


def peers(principal: Principal, mesh_id):
    mesh = get_mesh(principal, mesh_id)
    return mesh, (MeshPeer.objects.restrict(principal, Action.VIEW).filter(mesh=mesh)
                  .select_related("mesh", "device", "address", "second_address").order_by("address__address_key", "pk"))


def add_peer(principal: Principal, data: dict) -> MeshPeer:
    """Make a device a peer: an overlay address from the mesh's network (allocation service),
    a key pair generated here. Nothing is written when anything is refused."""
    serializer = AddPeerSerializer(data=data, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    attrs = dict(serializer.validated_data)
    mesh, device = attrs.pop("mesh"), attrs.pop("device")
    check(principal, Action.CHANGE, mesh, "this mesh")
    if device.tenant_id != mesh.tenant_id:
        raise exceptions.ValidationError({"device": [f"{device} belongs to another tenant than mesh {mesh}."]})
    peer = MeshPeer(mesh=mesh, device=device, tenant_id=mesh.tenant_id, **attrs)
    try:  # every rule but the address (allocated next) before anything is written
        peer.full_clean(exclude=["address", "second_address", "public_key", "private_key"],
                        validate_constraints=False)
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    with transaction.atomic():
        peer.address = allocate_next_ip(principal, mesh.network, device=device,
                                        description=f"overlay address in mesh {mesh.name}")
        if mesh.second_network_id:
            peer.second_address = allocate_next_ip(principal, mesh.second_network, device=device,
                                                   description=f"overlay address in mesh {mesh.name}")
        save_model(peer)
    return peer


def update_peer(principal: Principal, peer_id, data: dict) -> MeshPeer:
    from .serializers import MeshPeerSerializer

    peer = get_peer(principal, peer_id, Action.CHANGE)
    serializer = MeshPeerSerializer(peer, data=data, partial=True, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    return serializer.save()


def remove_peer(principal: Principal, peer_id) -> dict:
    """Drop a peer and its overlay address. Returns what the device had installed (for a
    leave job) so the caller can take the interface down."""
    peer = get_peer(principal, peer_id, Action.CHANGE)
    gone = {"id": peer.pk, "device": peer.device, "mesh": peer.mesh, "interface": peer.interface_name,
            "installed": bool(peer.applied_digest), "display": str(peer)}
    with transaction.atomic():
        addresses = [a for a in (peer.address, peer.second_address) if a is not None]
        peer.delete()
        for address in addresses:
            address.delete()
    return gone


def rotate_key(principal: Principal, peer_id) -> MeshPeer:
    """A new key pair; the old public key is kept (``key_rotation_pending``) until every peer
    has a configuration with the new one (then :func:`confirm_rotations` drops it)."""
    peer = get_peer(principal, peer_id, Action.CHANGE)
    with transaction.atomic():
        locked = MeshPeer.objects.select_for_update().get(pk=peer.pk)
        locked.retired_public_key = locked.retired_public_key or locked.public_key
        locked.private_key, locked.public_key = keys.generate()
        locked.save()
    return get_peer(principal, peer_id)


def confirm_rotations(mesh: Mesh) -> list[int]:
    """Drop the retired keys once every enabled peer has its current configuration installed."""
    current = config.peers_of(mesh)
    if any(p.applied_digest != config.digest(config.render(p, peers=current)) for p in current):
        return []
    done = list(MeshPeer.objects.filter(mesh=mesh).exclude(retired_public_key="").values_list("pk", flat=True))
    for peer in MeshPeer.objects.filter(pk__in=done):
        peer.retired_public_key = ""
        peer.save()
    return done


def peer_config(principal: Principal, peer_id) -> dict:
    peer = get_peer(principal, peer_id)
    text = config.render(peer)
    return {"peer": peer.pk, "path": f"/etc/wireguard/{peer.interface_name}.conf", "config": text,
            "applied": peer.applied_digest == config.digest(text)}


def outdated(mesh: Mesh) -> list[MeshPeer]:
    """Enabled peers whose installed configuration is not the current one."""
    current = config.peers_of(mesh)
    return [p for p in current if p.applied_digest != config.digest(config.render(p, peers=current))]


# --- jobs --------------------------------------------------------------------------------------
def _job(principal: Principal, kind: str, mesh: Mesh, params: dict):
    from inventory.jobs.services import create_job

    check(principal, Action.EXECUTE, mesh, "jobs on this mesh")
    return create_job(principal, kind, mesh.network, {"mesh": mesh.pk, **params})


def _require_access(peers_: list[MeshPeer]):
    from inventory.jobs.services import require_access

    for peer in peers_:
        require_access(peer.device)


def apply(principal: Principal, mesh_id, peer_ids=None, *, only_outdated: bool = False) -> list:
    """Install (join) or update the configuration on peers: one provisioning job per device,
    whose plan is the ``join_mesh`` step (or ``leave_mesh`` for a disabled peer)."""
    from inventory.jobs.models import Job, JobKind, JobStatus
    from inventory.jobs.services import create_job

    mesh = get_mesh(principal, mesh_id)
    check(principal, Action.EXECUTE, mesh, "jobs on this mesh")
    chosen = list(MeshPeer.objects.filter(mesh=mesh).select_related("device", "mesh", "address").order_by("pk"))
    if peer_ids:
        wanted = {int(i) for i in peer_ids}
        unknown = wanted - {p.pk for p in chosen}
        if unknown:
            raise exceptions.ValidationError({"peers": [f"Not peers of mesh {mesh}: {sorted(unknown)}."]})
        chosen = [p for p in chosen if p.pk in wanted]
    if only_outdated:
        stale = {p.pk for p in outdated(mesh)}
        chosen = [p for p in chosen if p.pk in stale or (not p.enabled and p.applied_digest)]
    _require_access(chosen)
    busy = Job.objects.filter(device__in=[p.device for p in chosen], kind=JobKind.PROVISIONING,
                              status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    if busy.exists():
        raise Conflict(f"{busy.first().device} is being provisioned; retry when it is done.")
    jobs = []
    for peer in chosen:
        step = ({"name": f"Join mesh {mesh.name}", "action": "join_mesh", "mesh": mesh.pk, "peer": peer.pk}
                if peer.enabled else
                {"name": f"Leave mesh {mesh.name}", "action": "leave_mesh", "mesh": mesh.pk,
                 "interface": peer.interface_name})
        jobs.append(create_job(principal, JobKind.PROVISIONING, peer.device, {"plan": [step]}))
    return jobs


def leave(principal: Principal, gone: dict):
    """The job that takes a removed peer's interface down and deletes its configuration."""
    from inventory.jobs.models import JobKind
    from inventory.jobs.services import create_job, require_access

    check(principal, Action.EXECUTE, gone["device"], "jobs on this device")
    require_access(gone["device"])
    step = {"name": f"Leave mesh {gone['mesh'].name}", "action": "leave_mesh", "mesh": gone["mesh"].pk,
            "interface": gone["interface"]}
    return create_job(principal, JobKind.PROVISIONING, gone["device"], {"plan": [step]})


def start_status(principal: Principal, mesh_id):
    from inventory.jobs.models import JobKind

    mesh = get_mesh(principal, mesh_id)
    _require_access([p for p in mesh.peers.select_related("device") if p.enabled])
    return _job(principal, JobKind.MESH_STATUS, mesh, {})


def start_check(principal: Principal, mesh_id):
    from inventory.jobs.models import JobKind

    mesh = get_mesh(principal, mesh_id)
    _require_access([p for p in mesh.peers.select_related("device") if p.enabled])
    return _job(principal, JobKind.MESH_CHECK, mesh, {})
