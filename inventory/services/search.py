"""Search across the caller's tenants: every kind whose declaration (inventory/kinds.py) has a
``search`` part: devices, networks, datacenters, racks.

Devices match on their denormalised ``search_text`` (name, description, make/model, OS,
location, domains, tags, addresses; kept fresh by ``inventory.signals``): every word of
the query must appear. On PostgreSQL a trigram GIN index (migration 0002) serves these
``ILIKE '%word%'`` tests, so they stay fast at 100k devices. An IP address query also
finds the device holding exactly that address and the networks containing it; a CIDR
finds networks inside or around it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.module_loading import import_string

from inventory import ipam
from inventory.runtime import precompiled
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
    return devices_with(queryset, _words(q))


def devices_with(queryset: QuerySet, words) -> QuerySet:
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
    return networks_with(queryset, _words(q))


def networks_with(queryset: QuerySet, words) -> QuerySet:
    for word in words:
        queryset = queryset.filter(Q(name__icontains=word) | Q(description__icontains=word) | Q(subnet__icontains=word))
    return queryset


def within(queryset: QuerySet, cidr) -> QuerySet:
    """IP addresses inside the network ``cidr`` (an ``ipaddress`` network), by their sortable keys."""
    lo, hi = ipam.key(int(cidr.network_address)), ipam.key(int(cidr.broadcast_address))
    return _of_family(queryset.filter(address_key__gte=lo, address_key__lte=hi), cidr.version)


def _of_family(queryset: QuerySet, version: int) -> QuerySet:
    # an IPv4 address's key is also that of an IPv6 address in ::/96 (::a00:5 and 10.0.0.5)
    return queryset.exclude(address__contains=":") if version == 4 else queryset.filter(address__contains=":")


def filter_addresses(queryset: QuerySet, q: str) -> QuerySet:
    """IP addresses matching ``q`` (``?q=`` on addresses): an address matches exactly that
    address, a CIDR the addresses inside it (never substrings: ``10.0.0.1`` is not ``10.0.0.10``);
    other words must each appear in the DNS name or description."""
    ip, cidr = _as_ip(q), _as_cidr(q)
    if ip is not None:
        return _of_family(queryset.filter(address_key=ipam.key(ip)), ip.version)
    if cidr is not None:
        return within(queryset, cidr)
    for word in _words(q):
        queryset = queryset.filter(Q(dns_name__icontains=word) | Q(description__icontains=word))
    return queryset


def filter_datacenters(queryset: QuerySet, q: str) -> QuerySet:
    if _as_ip(q) is not None or _as_cidr(q) is not None:
        return queryset.none()
    return datacenters_with(queryset, _words(q))


def datacenters_with(queryset: QuerySet, words) -> QuerySet:
    for word in words:
        queryset = queryset.filter(Q(name__icontains=word) | Q(location__icontains=word) | Q(description__icontains=word))
    return queryset


def racks_with(queryset: QuerySet, words) -> QuerySet:
    for word in words:
        queryset = queryset.filter(Q(name__icontains=word) | Q(description__icontains=word))
    return queryset


def filter_racks(queryset: QuerySet, q: str) -> QuerySet:
    if _as_ip(q) is not None or _as_cidr(q) is not None:
        return queryset.none()
    return racks_with(queryset, _words(q))


@dataclass(frozen=True)
class Searched:
    """A kind's search part, resolved (see inventory.kinds.Search)."""

    key: str
    model: type
    words: object
    query: object
    ordering: tuple[str, ...]
    hit_serializer: type


_searched: list[Searched] = []


def searched_kinds() -> list[Searched]:
    """The kinds search covers, in declaration order (resolved once)."""
    from inventory import kinds

    declared = [k for k in kinds.all_kinds() if k.search is not None]
    if len(_searched) != len(declared):
        _searched[:] = [Searched(k.search.key, k.get_model(), import_string(k.search.words),
                                 import_string(k.search.query) if k.search.query else None,
                                 k.search.ordering, import_string(k.search.hit_serializer)) for k in declared]
    return _searched


def search(principal: Principal, q: str, limit: int = 20, *,
           columns: dict[str, list[str] | None] | None = None) -> dict[str, list]:
    """``{"devices": [Device], "networks": [Network], "datacenters": [Datacenter], "racks": [Rack]}``
    (one key per searched kind), at most ``limit`` of each, among what the principal may view.
    An empty query finds nothing. ``columns``: per kind, the only model fields to load (what the
    caller renders)."""
    kinds = searched_kinds()
    words = _words(q)
    if not words:
        return {kind.key: [] for kind in kinds}

    def only(kind):
        queryset = kind.model.objects.all()
        return queryset.only(*columns[kind.key]) if columns and columns.get(kind.key) else queryset

    if _as_ip(q) is None and _as_cidr(q) is None:
        # words: the usual query, from statements compiled once per number of words (inventory.runtime.precompiled)
        def found(kind):
            shape = ("search", kind.key, tuple(columns.get(kind.key) or ()) if columns else ())
            return precompiled.read(principal, shape, lambda *ws: kind.words(only(kind), ws).order_by(*kind.ordering),
                                    words, limit=limit)

        return {kind.key: found(kind) for kind in kinds}

    def matching(kind):
        if kind.query is None:
            return []
        queryset = kind.query(only(kind).restrict(principal, Action.VIEW), q)
        if not queryset.query.order_by:
            queryset = queryset.order_by(*kind.ordering)
        return list(queryset[:limit])

    return {kind.key: matching(kind) for kind in kinds}
