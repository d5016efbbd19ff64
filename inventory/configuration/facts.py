"""Built-in facts every template sees (read-only, plain data, never model objects).

``device`` (id, name, status, os, make_model, location, username, domains, tags, facts),
``address`` (primary address), ``addresses``, ``network`` (of the primary address), ``tags``,
``datacenter`` (id, name or empty), ``tenant`` (id, name, slug), ``facts`` (discovered facts),
``peers`` (the other devices of the tenant that share a role with it: name and addresses; the
mesh uses this) and ``vars`` (the effective variables as one mapping). Variables are also top
level names; these names are reserved for facts.
"""

from __future__ import annotations

RESERVED = frozenset({"device", "address", "addresses", "network", "tags", "datacenter", "tenant", "facts",
                      "peers", "vars", "secret", "role", "range", "dict", "loop", "self", "namespace", "cycler",
                      "joiner", "true", "false", "none", "True", "False", "None"})


def device_facts(device) -> dict:
    from .models import RoleAssignment

    addresses = list(device.addresses.select_related("network").order_by("created", "pk"))
    network = addresses[0].network if addresses and addresses[0].network_id else None
    tags = sorted(t.name for t in device.tags.all())
    role_ids = RoleAssignment.objects.filter(device=device).values_list("role_id", flat=True)
    peers = []
    peer_rows = (type(device).objects.filter(tenant_id=device.tenant_id, role_assignments__role_id__in=role_ids)
                 .exclude(pk=device.pk).distinct().order_by("name").prefetch_related("addresses")[:500])
    for peer in peer_rows:
        peers.append({"id": peer.pk, "name": peer.name,
                      "addresses": [a.address for a in sorted(peer.addresses.all(), key=lambda a: (a.created, a.pk))]})
    return {
        "device": {"id": device.pk, "name": device.name, "status": device.status, "os": device.os,
                   "make_model": device.make_model, "location": device.location, "username": device.username,
                   "domains": list(device.domains or []), "tags": tags, "facts": device.facts or {}},
        "address": addresses[0].address if addresses else "",
        "addresses": [a.address for a in addresses],
        "network": {"name": network.name, "subnet": network.subnet, "vlan_id": network.vlan_id} if network else {},
        "tags": tags,
        "datacenter": {"id": device.datacenter_id, "name": device.datacenter.name} if device.datacenter_id else {},
        "tenant": {"id": device.tenant_id, "name": device.tenant.name, "slug": device.tenant.slug},
        "facts": device.facts or {},
        "peers": peers,
    }
