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


def size_of_network(network) -> int:
    from inventory import ipam

    first, last = ipam.usable_bounds(network.ip_network)
    return max(last - first + 1, 0)


def size_of_pool(pool) -> int:
    if not pool.start_key or not pool.end_key:
        return 0
    return int(pool.end_key, 16) - int(pool.start_key, 16) + 1


def of(obj) -> Utilisation:
    """The utilisation of one network or pool (``_used`` if annotated, else one COUNT)."""
    from inventory.models import IPPool

    used = getattr(obj, "_used", None)
    if used is None:
        used = obj.addresses.count()
    size = size_of_pool(obj) if isinstance(obj, IPPool) else size_of_network(obj)
    return Utilisation(size=size, used=used)
