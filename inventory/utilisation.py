"""Utilisation of networks and pools: size, used, free and a percentage.

``size`` is arithmetic on the row's own range keys. ``used`` is counted in SQL (served by the
(network, address_key) index and the pool foreign key), never by loading addresses, and kept in
the shared cache, one entry per network and pool (:func:`used_by_id`,
``inventory.runtime.counting.cached_per_row``): a /11 holds 1.6 million addresses, and a list
or page showing it would otherwise count them on every request. Each entry is rebuilt after an
address of its own network or pool is created, deleted or moved (``inventory.signals``, and the
addresses' ``bulk_create``/``update``), so figures are exact on the next request and a busy
network leaves the others' entries alone. With the ``cached_counts`` mechanism off
(``FAST_PATHS``, see inventory.runtime), the stock path: a correlated COUNT per listed row
(:func:`with_used`) or one COUNT. Shared by the admin, REST and MCP.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from inventory import runtime
from inventory.runtime import counting


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


def _fk(model) -> str:
    from inventory.models import IPPool, Network

    return {Network: "network", IPPool: "pool"}[model]


def cached() -> bool:
    """Are address counts kept in the shared cache (the ``cached_counts`` mechanism)?"""
    return runtime.enabled("cached_counts")


def with_used(queryset):
    """Annotate networks or pools with ``_used``: the number of addresses recorded in them, one
    correlated COUNT per row (the stock path; and what ordering a list by it needs)."""
    from inventory.models import IPAddress

    return queryset.annotate(_used=count_of(IPAddress, _fk(queryset.model)))


def used_by_id(model, ids) -> dict[int, int]:
    """``{pk: addresses recorded}`` of the networks or pools (``model``) with these ids: each from
    its cache entry, the missing or outdated ones counted with one query (one plain COUNT for a
    single one). No query when all are cached."""
    from inventory.models import IPAddress

    fk = f"{_fk(model)}_id"
    ids = [pk for pk in dict.fromkeys(ids) if pk is not None]

    def count(pks):
        if len(pks) == 1:
            return {pks[0]: IPAddress.objects.filter(**{fk: pks[0]}).count()}
        found = dict(IPAddress.objects.filter(**{f"{fk}__in": pks}).order_by().values_list(fk).annotate(n=Count("pk")))
        return {pk: found.get(pk, 0) for pk in pks}

    return counting.cached_per_row(model._meta.label, ids, count) if ids else {}


def load_into(objects):
    """Set ``_used`` on the saved networks or pools ``objects`` that have none (a page of a list,
    a page's pools), with :func:`used_by_id`: one cache round trip, and at most one query.
    Returns ``objects`` (a queryset is evaluated: its rows are the ones given the counts)."""
    todo = [o for o in objects if o.pk is not None and getattr(o, "_used", None) is None]
    if todo:
        found = used_by_id(type(todo[0]), [o.pk for o in todo])
        for obj in todo:
            obj._used = found.get(obj.pk, 0)
    return objects


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
    """The utilisation of one network or pool (``_used`` if set, else :func:`used_by_id`: the
    cache, or one COUNT)."""
    from inventory.models import IPPool

    used = getattr(obj, "_used", None)
    if used is None:
        used = used_by_id(type(obj), [obj.pk]).get(obj.pk, 0) if obj.pk is not None else 0
    size = size_of_pool(obj) if isinstance(obj, IPPool) else size_of_network(obj)
    return Utilisation(size=size, used=used)


def of_objects(model, objects) -> dict[int, Utilisation]:
    """The utilisation of these networks or pools (rows of ``model``), by id: from their own range
    columns when loaded (no query when their counts are cached), else :func:`of_ids`."""
    objects = list(objects)
    columns = {"start_key", "end_key"} if _fk(model) == "pool" else {"subnet"}
    if any(o.get_deferred_fields() & columns for o in objects) or not (cached() or len(objects) == 1):
        return of_ids(model, [o.pk for o in objects])  # stock path of a list: one query
    load_into(objects)  # stock path of one object: one COUNT
    return {o.pk: of(o) for o in objects}


def of_ids(model, ids) -> dict[int, Utilisation]:
    """The utilisation of the networks or pools with these ids, with one query for their range
    columns whatever their number, and the counts of :func:`used_by_id` (stock path: that query
    with each row's correlated COUNT, :func:`with_used`). Works on objects loaded with ``only()``."""
    from inventory.models import IPPool

    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return {}
    columns = ("start_key", "end_key") if model is IPPool else ("subnet",)
    rows = model.objects.filter(pk__in=ids).order_by()
    if cached():
        rows = list(rows.values_list("pk", *columns))
        used = used_by_id(model, [r[0] for r in rows])
        rows = [(*r, used.get(r[0], 0)) for r in rows]
    else:
        rows = with_used(rows).values_list("pk", *columns, "_used")
    out = {}
    for pk, *values, used in rows:
        size = size_of_range(*values) if model is IPPool else size_of_subnet(values[0])
        out[pk] = Utilisation(size=size, used=used)
    return out
