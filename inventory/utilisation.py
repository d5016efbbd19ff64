"""Utilisation of networks and pools: size, used, free and a percentage.

``used`` is counted in SQL, one correlated subquery per listed row (served by the
(network, address_key) index and the pool foreign key), never by loading addresses; ``size``
is arithmetic on the row's own range keys. Shared by the admin and any other surface.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce


@dataclass(frozen=True)
class Utilisation:
    size: int
    used: int

    @property
    def free(self) -> int:
        return max(self.size - self.used, 0)

    @property
    def percent(self) -> float:
        return round(100.0 * self.used / self.size, 1) if self.size else 0.0

    def as_dict(self) -> dict:
        return {"size": self.size, "used": self.used, "free": self.free, "percent": self.percent}


def count_of(model, fk: str):
    """A correlated subquery: how many ``model`` rows point at the outer row through ``fk``."""
    rows = model.objects.filter(**{fk: OuterRef("pk")}).order_by().values(fk).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def with_used(queryset):
    """Annotate networks or pools with ``_used``: the number of addresses recorded in them."""
    from inventory.models import IPAddress, IPPool, Network

    fk = {Network: "network", IPPool: "pool"}[queryset.model]
    return queryset.annotate(_used=count_of(IPAddress, fk))


def size_of_subnet(subnet: str) -> int:
    """Usable addresses of a CIDR (IPv4 without network and broadcast, see ipam.usable_bounds)."""
    from inventory import ipam

    first, last = ipam.usable_bounds(ipam.parse_network(subnet))
    return max(last - first + 1, 0)


def size_of_range(start_key: str, end_key: str) -> int:
    if not start_key or not end_key:
        return 0
    return int(end_key, 16) - int(start_key, 16) + 1


def size_of_network(network) -> int:
    return size_of_subnet(network.subnet)


def size_of_pool(pool) -> int:
    return size_of_range(pool.start_key, pool.end_key)


def of(obj) -> Utilisation:
    """The utilisation of one network or pool (``_used`` if annotated, else one COUNT)."""
    from inventory.models import IPPool

    used = getattr(obj, "_used", None)
    if used is None:
        used = obj.addresses.count()
    size = size_of_pool(obj) if isinstance(obj, IPPool) else size_of_network(obj)
    return Utilisation(size=size, used=used)


def of_ids(model, ids) -> dict[int, Utilisation]:
    """The utilisation of the networks or pools with these ids, with one query whatever their
    number: each row's range columns and its correlated COUNT (:func:`with_used`). The REST and
    MCP batch loader; the rows' own columns are read here, so it works on objects loaded with
    ``only()``."""
    from inventory.models import IPPool

    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return {}
    columns = ("start_key", "end_key") if model is IPPool else ("subnet",)
    rows = with_used(model.objects.filter(pk__in=ids).order_by()).values_list("pk", *columns, "_used")
    out = {}
    for pk, *values, used in rows:
        size = size_of_range(*values) if model is IPPool else size_of_subnet(values[0])
        out[pk] = Utilisation(size=size, used=used)
    return out
