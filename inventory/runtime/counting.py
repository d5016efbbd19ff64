"""Row counts of big lists, exact and cheap.

An exact ``COUNT(*)`` over 100k devices costs milliseconds even as an index-only scan, and every
page of a list needs it. For the common case, a tenant-restricted list with no filter, the count
is kept in the shared cache. It changes only when a row is created or deleted (a row never
changes tenant), so ``inventory.signals`` bumps the model's generation then (``bump_counts``).
Bulk writes that send no signals (``bulk_create``, raw SQL) must call ``bump_counts`` themselves.
Filtered lists are always counted in the database.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import EmptyResultSet

from inventory.runtime.caching import bump, cached

#: models whose unfiltered counts are cached (their create/delete signals bump the generation)
COUNTED = ("inventory.Device", "inventory.IPAddress")
COUNT_TIMEOUT = 3600


def generation(label: str) -> str:
    """The cache generation of ``label``'s counts (bumped on every creation and deletion)."""
    return f"count:{label}"


def bump_counts(*models) -> None:
    bump(*(generation(m._meta.label) for m in models))


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
