"""wg-quick configuration of a peer, rendered from the mesh's state.

Deterministic: the same state gives the same text (peers in overlay-address order, lists
sorted), so applying it again changes nothing. The private key is a placeholder everywhere
but in the worker, which fills it in just before the text goes to the device over SSH.
"""

from __future__ import annotations

import hashlib

from inventory import ipam

from .models import Mesh, MeshPeer, Topology, format_endpoint

MASK = "********"
KEY_LINE = f"PrivateKey = {MASK}"


def peers_of(mesh: Mesh) -> list[MeshPeer]:
    return list(mesh.peers.filter(enabled=True).select_related("device", "address").order_by("address__address_key", "pk"))


def underlay_address(peer: MeshPeer) -> str:
    """The device's primary address outside every mesh overlay (first created)."""
    return (peer.device.addresses.filter(mesh_peers__isnull=True).exclude(network__meshes__isnull=False)
            .order_by("created", "pk").values_list("address", flat=True).first() or "")


def endpoint_of(peer: MeshPeer) -> str:
    if peer.endpoint:
        return peer.endpoint
    host = underlay_address(peer)
    return format_endpoint(host, peer.mesh.listen_port) if host else ""


def host_prefix(address: str) -> str:
    return f"{address}/{128 if ':' in address else 32}"


def reachable(peer: MeshPeer, others: list[MeshPeer]) -> list[MeshPeer]:
    """The peers ``peer`` has a [Peer] block for, per the mesh's topology."""
    others = [o for o in others if o.pk != peer.pk]
    if peer.mesh.topology == Topology.HUB and not peer.is_hub:
        return [o for o in others if o.is_hub]
    return others


def allowed_ips(local: MeshPeer, remote: MeshPeer, hubs_seen: list) -> list[str]:
    ips = [host_prefix(remote.address.address), *remote.allowed_ips]
    if local.mesh.topology == Topology.HUB and not local.is_hub and remote.is_hub and not hubs_seen:
        ips.insert(0, local.mesh.overlay_cidr)  # the first hub routes the rest of the overlay
        hubs_seen.append(remote.pk)
    return ips


def render(peer: MeshPeer, *, peers: list[MeshPeer] | None = None) -> str:
    """The wg-quick file of ``peer``, the private key masked (:func:`with_key` fills it in, in the worker)."""
    mesh = peer.mesh
    prefix = ipam.parse_network(mesh.overlay_cidr).prefixlen
    lines = [f"# WireGuard mesh '{mesh.name}', peer '{peer.device.name}'. Managed by the inventory; edits are overwritten.",
             f"# This peer's public key: {peer.public_key}",
             "[Interface]",
             f"Address = {peer.address.address}/{prefix}",
             KEY_LINE,
             f"ListenPort = {mesh.listen_port}"]
    if mesh.mtu:
        lines.append(f"MTU = {mesh.mtu}")
    if mesh.dns:
        lines.append(f"DNS = {', '.join(mesh.dns)}")
    hubs_seen: list = []
    for remote in reachable(peer, peers if peers is not None else peers_of(mesh)):
        lines += ["", "[Peer]", f"# {remote.device.name}", f"PublicKey = {remote.public_key}",
                  f"AllowedIPs = {', '.join(allowed_ips(peer, remote, hubs_seen))}"]
        endpoint = endpoint_of(remote)
        if endpoint:
            lines.append(f"Endpoint = {endpoint}")
        if mesh.persistent_keepalive:
            lines.append(f"PersistentKeepalive = {mesh.persistent_keepalive}")
    return "\n".join(lines) + "\n"


def digest(text: str) -> str:
    """What a rendered (masked) configuration is remembered by once applied."""
    return hashlib.sha256(text.encode()).hexdigest()


def with_key(masked: str, private_key: str) -> str:
    if masked.count(KEY_LINE) != 1:  # pragma: no cover - render() writes it once
        raise ValueError("The configuration has no private key placeholder.")
    return masked.replace(KEY_LINE, f"PrivateKey = {private_key}")
