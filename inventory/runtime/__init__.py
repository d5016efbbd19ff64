"""The speed layer: code that replaces a stock path of Django, DRF, django-auditlog or asyncio
with a faster one giving the same results. Everything here is behind one switch.

``FAST_PATHS`` (environment variable, read once per process):

* ``on`` (default): every mechanism below is used;
* ``off``: none is: Django's, DRF's and asyncio's stock paths run (bisect a bug to "the speed
  layer or not" with ``FAST_PATHS=off make test``);
* ``on,-fair_accept,-cached_counts`` or ``off,+fair_accept``: start from all or none and turn
  single mechanisms off (``-name``) or on (``+name``); ``make bench`` knocks them out one by one
  this way.

The mechanisms (see each module):

=================== ==================================================================
precompiled_reads   reads by id and search hits run a statement compiled once per shape
                    (``precompiled.read``/``get_visible``); off: ``restrict(...).get(pk=)``
threaded_handler    Django's request cycle in one pooled thread (``asgi_handler.py``); off:
                    Django's stock ``ASGIHandler``
fair_accept         the event loop spreading connections over uvicorn workers
                    (``serving.py``); off: asyncio's default loop
cached_counts       unfiltered list counts kept in the shared cache (``counting.py``)
cached_credentials  resolved bearer credentials and MCP tool-group rows in the shared cache
                    (``caching.py``); off: resolved on every request
allocation_function next-IP allocation on PostgreSQL in one call of a database function
                    (``inventory_allocate_address``); off: the ORM path (row lock + gap search)
lean_admin_forms    the admin's plain inputs, selects, textareas, labels, management forms and
                    empty error lists render in Python with Django's HTML, inline
                    formsets build their empty form once, autocompletes with nothing selected
                    build no query (``inventory/admin/base.py``); off: Django's widgets.
                    Judged by the admin bench's knock-out (``benchmarks/admin_bench.py``)
=================== ==================================================================
"""

from __future__ import annotations

import os

MECHANISMS = (
    "precompiled_reads", "threaded_handler", "fair_accept", "cached_counts", "cached_credentials",
    "allocation_function", "lean_admin_forms",
)
#: mechanisms of the admin only: benchmarks/admin_bench.py knocks them out, not the REST table
ADMIN_MECHANISMS = ("lean_admin_forms",)


def parse(value: str | None) -> frozenset[str]:
    """The mechanisms a ``FAST_PATHS`` value turns on (see the module docstring)."""
    enabled: set[str] = set(MECHANISMS)
    for token in (value or "on").replace(" ", "").lower().split(","):
        if not token:
            continue
        if token in ("on", "1", "true", "yes", "all"):
            enabled = set(MECHANISMS)
        elif token in ("off", "0", "false", "no", "none"):
            enabled = set()
        elif token[0] in "+-" and token[1:] in MECHANISMS:
            (enabled.add if token[0] == "+" else enabled.discard)(token[1:])
        else:
            raise ValueError(f"FAST_PATHS: unknown value {token!r} (on, off, +name, -name; names: {', '.join(MECHANISMS)})")
    return frozenset(enabled)


#: the mechanisms this process uses; tests may change it with ``use()``
ENABLED: frozenset[str] = parse(os.environ.get("FAST_PATHS"))


def enabled(name: str) -> bool:
    """Is the speed-layer mechanism ``name`` on in this process?"""
    return name in ENABLED


class use:
    """Context manager (tests): ``with runtime.use(cached_counts=False): ...``."""

    def __init__(self, **mechanisms: bool):
        unknown = set(mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError(f"unknown mechanisms: {sorted(unknown)}")
        self.mechanisms = mechanisms

    def __enter__(self):
        global ENABLED
        self.saved = ENABLED
        ENABLED = frozenset({n for n in MECHANISMS if self.mechanisms.get(n, n in ENABLED)})
        return self

    def __exit__(self, *exc):
        global ENABLED
        ENABLED = self.saved
