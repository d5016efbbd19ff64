"""Row counts of big lists, exact and cheap.

An exact ``COUNT(*)`` over 100k devices costs milliseconds even as an index-only scan, and every
page of a list needs it. For the common case, a tenant-restricted list with no filter, the count
is kept in the shared cache. It changes only when a row is created or deleted (a row never
changes tenant), so ``inventory.signals`` bumps the model's generation then (``bump_counts``).
Bulk writes that send no signals (``bulk_create``, raw SQL) must call ``bump_counts`` themselves.
Filtered lists are always counted in the database.

The addresses of each network and pool (the ``used`` of ``inventory.utilisation``) are counted
the same way, one entry per network or pool under a generation of its own (``used_generation``),
so a busy network does not invalidate the others: ``inventory.signals`` bumps a network's and a
pool's when an address in it is created, deleted or moved (``bump_addresses``, ``bump_used``);
the addresses' ``bulk_create`` and ``update`` (``inventory.models.addresses``) bump exactly the
networks and pools they touch. A writer that does not say which (``bump_counts(IPAddress)``
after raw SQL) invalidates every network's and pool's figures (``USED_ALL``).
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import EmptyResultSet

from inventory.runtime.caching import bump, cached, cached_each

#: models whose unfiltered counts are cached (their create/delete signals bump the generation)
COUNTED = ("inventory.Device", "inventory.IPAddress")
COUNT_TIMEOUT = 3600


def generation(label: str) -> str:
    """The cache generation of ``label``'s counts (bumped on every creation and deletion)."""
    return f"count:{label}"


#: what every network's and pool's address count depends on: bumped by writers of addresses
#: that do not say which networks they wrote in (``bump_counts(IPAddress)``)
USED_ALL = "used:all"
ADDRESSES = "inventory.IPAddress"


def used_generation(label: str, pk) -> str:
    """The generation of the address count of one network or pool (``label``: its model's)."""
    return f"used:{label}:{pk}"


def bump_counts(*models) -> None:
    """Rows of ``models`` were created or deleted, no matter where: their list counts (and, for
    addresses, every network's and pool's address count) are built again."""
    labels = [m._meta.label for m in models]
    bump(*(generation(label) for label in labels), *([USED_ALL] if ADDRESSES in labels else []))


def _used_names(network_ids, pool_ids) -> list[str]:
    return [*(used_generation("inventory.Network", pk) for pk in set(network_ids) if pk is not None),
            *(used_generation("inventory.IPPool", pk) for pk in set(pool_ids) if pk is not None)]


def bump_addresses(network_ids=(), pool_ids=()) -> None:
    """Addresses were created or deleted in these networks and pools (and in no other): the
    address list counts and those networks' and pools' address counts, the others' stay."""
    bump(generation(ADDRESSES), *_used_names(network_ids, pool_ids))


def bump_used(network_ids=(), pool_ids=()) -> None:
    """Addresses moved into or out of these networks and pools (no address was created or
    deleted: the list counts stay)."""
    names = _used_names(network_ids, pool_ids)
    if names:
        bump(*names)


def cached_per_row(label: str, ids, build) -> dict:
    """``{pk: count}`` for the networks or pools (model ``label``) with these ids, each from its own
    cache entry (``used_generation``); ``build(pks)`` → ``{pk: count}`` counts the missing ones
    in the database, in one query. With ``cached_counts`` off: ``build(ids)``."""
    entries = {pk: (f"inv:used:{label}:{pk}", (USED_ALL, used_generation(label, pk))) for pk in ids}
    return cached_each(entries, build, COUNT_TIMEOUT, mechanism="cached_counts")


def count(queryset, *, unfiltered: bool) -> int:
    """``queryset``'s row count without annotations, ordering or joins added for display.

    ``unfiltered``: the caller vouches that the queryset is the model's restricted queryset and
    nothing more (no filter narrows it), so only creations and deletions change its count.
    """
    bare = queryset.order_by().values("pk")
    label = queryset.model._meta.label
    if not unfiltered or label not in COUNTED or sum(1 for n in bare.query.alias_refcount.values() if n) > 1:
        return bare.count()
    try:
        sql, params = bare.query.sql_with_params()
    except EmptyResultSet:  # ``.none()``: e.g. a user who may read but is in no tenant
        return 0
    digest = hashlib.sha256(f"{sql}|{params!r}".encode()).hexdigest()[:32]
    return cached(f"inv:count:{label}:{digest}", (generation(label),), lambda: (bare.count(), COUNT_TIMEOUT),
                  mechanism="cached_counts")
