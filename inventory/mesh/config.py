"""wg-quick configuration of a peer, rendered from the mesh's state.

Deterministic: the same state gives the same text (peers in overlay-address order, lists
sorted), so applying it again changes nothing. The private key is a placeholder everywhere
but in the worker, which fills it in just before the text goes to the device over SSH.
"""

from __future__ import annotations

import hashlib

from .models import Mesh, MeshPeer, Topology, format_endpoint

MASK = "********"
KEY_LINE = f"PrivateKey = {MASK}"


def peers_of(mesh: Mesh) -> list[MeshPeer]:
    return list(mesh.peers.filter(enabled=True).select_related("device", "address", "second_address")
                .order_by("address__address_key", "pk"))


def _underlay(addresses):
    return addresses.filter(mesh_peers__isnull=True).exclude(network__meshes__isnull=False).order_by("created", "pk")


def underlay_address(peer: MeshPeer) -> str:
    """The device's primary address outside every mesh overlay (first created)."""
    if "_underlay" in peer.__dict__:  # preload_underlay() read it with the others
        return peer.__dict__["_underlay"]
    return _underlay(peer.device.addresses).values_list("address", flat=True).first() or ""


def preload_underlay(peers: list[MeshPeer]) -> None:
    """``underlay_address`` of every peer without an endpoint, in one query."""
    from inventory.models import IPAddress

    wanted = {p.device_id for p in peers if not p.endpoint}
    first: dict[int, str] = {}
    if wanted:
        rows = _underlay(IPAddress.objects.filter(device_id__in=wanted)).values_list("device_id", "address")
        for device_id, address in rows:
            first.setdefault(device_id, address)
    for peer in peers:
        if not peer.endpoint:
            peer.__dict__["_underlay"] = first.get(peer.device_id, "")


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
    ips = [*(host_prefix(a) for a in remote.addresses), *remote.allowed_ips]
    if local.mesh.topology == Topology.HUB and not local.is_hub and remote.is_hub and not hubs_seen:
        ips[0:0] = [str(n) for n in local.mesh.overlays()]  # the first hub routes the rest of the overlay
        hubs_seen.append(remote.pk)
    return ips


def render(peer: MeshPeer, *, peers: list[MeshPeer] | None = None) -> str:
    """The wg-quick file of ``peer``, the private key masked (:func:`with_key` fills it in, in the worker)."""
    mesh = peer.mesh
    prefixes = [n.prefixlen for n in mesh.overlays()]
    lines = [f"# WireGuard mesh '{mesh.name}', peer '{peer.device.name}'. Managed by the inventory; edits are overwritten.",
             f"# This peer's public key: {peer.public_key}",
             "[Interface]",
             "Address = " + ", ".join(f"{a}/{p}" for a, p in zip(peer.addresses, prefixes)),
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
