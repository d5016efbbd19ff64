"""Search across the caller's tenants: devices, networks and datacenters.

Devices match on their denormalised ``search_text`` (name, description, make/model, OS,
location, domains, tags, addresses; kept fresh by ``inventory.signals``): every word of
the query must appear. On PostgreSQL a trigram GIN index (migration 0002) serves these
``ILIKE '%word%'`` tests, so they stay fast at 100k devices. An IP address query also
finds the device holding exactly that address and the networks containing it; a CIDR
finds networks inside or around it.
"""

from __future__ import annotations

import ipaddress

from django.db.models import Q, QuerySet

from inventory import ipam
from inventory.runtime import precompiled
from inventory.models import Datacenter, Device, Network
from inventory.tenancy import Action, Principal

MAX_WORDS = 8


def _words(q: str) -> list[str]:
    return [w for w in (q or "").lower().replace("\x00", "").split()][:MAX_WORDS]


def _as_ip(q: str):
    try:
        return ipaddress.ip_address(q.strip())
    except ValueError:
        return None


def _as_cidr(q: str):
    try:
        return ipaddress.ip_network(q.strip(), strict=False) if "/" in q else None
    except ValueError:
        return None


def filter_devices(queryset: QuerySet, q: str) -> QuerySet:
    """Narrow a device queryset to those matching ``q`` (used by search and ``?q=``).

    An IP address finds the devices holding exactly it; otherwise every word must appear.
    """
    from inventory.models import IPAddress

    ip = _as_ip(q)
    if ip is not None:
        holders = IPAddress.objects.filter(address_key=ipam.key(ip), device__isnull=False).values("device_id")
        return queryset.filter(id__in=holders)
    return _devices_with(queryset, _words(q))


def _devices_with(queryset: QuerySet, words) -> QuerySet:
    for word in words:
        queryset = queryset.filter(search_text__contains=word)  # search_text is lower-case already
    return queryset


def filter_networks(queryset: QuerySet, q: str) -> QuerySet:
    """Networks whose name/description/subnet match, or that contain the IP / overlap the CIDR ``q``."""
    ip, cidr = _as_ip(q), _as_cidr(q)
    if ip is not None:
        k = ipam.key(ip)
        return queryset.filter(family=ip.version, start_key__lte=k, end_key__gte=k).order_by("-prefix_length", "name")
    if cidr is not None:
        lo, hi = ipam.key(int(cidr.network_address)), ipam.key(int(cidr.broadcast_address))
        return queryset.filter(family=cidr.version, start_key__lte=hi, end_key__gte=lo)
    return _networks_with(queryset, _words(q))


def _networks_with(queryset: QuerySet, words) -> QuerySet:
    for word in words:
        queryset = queryset.filter(Q(name__icontains=word) | Q(description__icontains=word) | Q(subnet__icontains=word))
    return queryset


def filter_datacenters(queryset: QuerySet, q: str) -> QuerySet:
    if _as_ip(q) is not None or _as_cidr(q) is not None:
        return queryset.none()
    return _datacenters_with(queryset, _words(q))


def _datacenters_with(queryset: QuerySet, words) -> QuerySet:
    for word in words:
        queryset = queryset.filter(Q(name__icontains=word) | Q(location__icontains=word) | Q(description__icontains=word))
    return queryset


def search(principal: Principal, q: str, limit: int = 20, *,
           columns: dict[str, list[str] | None] | None = None) -> dict[str, list]:
    """``{"devices": [Device], "networks": [Network], "datacenters": [Datacenter]}``, at most
    ``limit`` of each, among what the principal may view. An empty query finds nothing.
    ``columns``: per kind, the only model fields to load (what the caller renders)."""
    words = _words(q)
    if not words:
        return {"devices": [], "networks": [], "datacenters": []}

    def only(kind, model):
        queryset = model.objects.all()
        return queryset.only(*columns[kind]) if columns and columns.get(kind) else queryset

    if _as_ip(q) is None and _as_cidr(q) is None:
        # words: the usual query, from statements compiled once per number of words (inventory.runtime.precompiled)
        def found(kind, model, narrow, *ordering):
            shape = ("search", kind, tuple(columns.get(kind) or ()) if columns else ())
            return precompiled.read(principal, shape, lambda *ws: narrow(only(kind, model), ws).order_by(*ordering),
                                    words, limit=limit)

        return {"devices": found("devices", Device, _devices_with, "name", "id"),
                "networks": found("networks", Network, _networks_with, *Network._meta.ordering),
                "datacenters": found("datacenters", Datacenter, _datacenters_with, "name", "id")}

    def visible(kind, model):
        return only(kind, model).restrict(principal, Action.VIEW)

    devices = filter_devices(visible("devices", Device), q).order_by("name", "id")
    networks = filter_networks(visible("networks", Network), q)
    datacenters = filter_datacenters(visible("datacenters", Datacenter), q).order_by("name", "id")
    return {
        "devices": list(devices[:limit]),
        "networks": list(networks[:limit]),
        "datacenters": list(datacenters[:limit]),
    }
