"""Prepared statements, and the queries PostgreSQL must plan with their values.

The app's PostgreSQL connections prepare each statement once it has run ``prepare_threshold``
times (``inventory/settings.py``): PostgreSQL then skips parsing it. After five runs of a
prepared statement PostgreSQL may switch to a *generic* plan, made without the parameters'
values, when its estimated cost is no higher than that of the plans made with them. For a text
pattern (``search_text LIKE $1``) the generic plan guesses that 0.5% of the rows match, so
for ``... ORDER BY name LIMIT 20`` it walks the name index and filters, expecting to stop soon.
For a word that ten devices in a million have it reads the whole table: ``/api/search/``
took 555 ms at 1M devices where the plan made with the word (the trigram index, then a sort
of the few hits) takes under a millisecond.

So a statement with ``LIKE`` is never prepared: psycopg sends it with its values and
PostgreSQL plans it for them, every time (parsing and planning such a query costs about
0.1 ms). Every other statement is prepared as before. The rule is a Django execute wrapper
(``connection.execute_wrappers``, the documented instrumentation hook) installed on each
connection as it is made, and psycopg's own switch (``Connection.prepare_threshold``), so it
covers the admin, REST, MCP, jobs and the speed layer's compiled statements alike.
"""

from __future__ import annotations

from django.db.backends.signals import connection_created
from django.dispatch import receiver


def matches_patterns(sql: str) -> bool:
    """Is ``sql`` a statement PostgreSQL must plan with its values (see the module docstring)?"""
    return "LIKE" in sql


def plan_with_values(execute, sql, params, many, context):
    """Run ``sql`` unprepared if it matches a pattern (see the module docstring)."""
    if not matches_patterns(sql):
        return execute(sql, params, many, context)
    raw = context["connection"].connection
    threshold = raw.prepare_threshold
    if threshold is None:
        return execute(sql, params, many, context)
    raw.prepare_threshold = None  # psycopg: neither prepare it nor use an earlier preparation
    try:
        return execute(sql, params, many, context)
    finally:
        raw.prepare_threshold = threshold


@receiver(connection_created)
def _install(sender, connection, **kwargs):
    if connection.vendor == "postgresql" and plan_with_values not in connection.execute_wrappers:
        connection.execute_wrappers.append(plan_with_values)
