"""Derived data kept in the shared cache that is never served stale: generation-checked entries.

A *generation* is a cache key holding a random token. Code that changes the data an entry was
built from calls :func:`bump` (a new token, once the change is committed). Each
entry stores the tokens it was built under, and :func:`cached` reads the entry and the current
tokens in one round trip. If the tokens differ, it builds the entry again. So an entry is reused
only while nothing it depends on has changed, across every process that shares the cache.
Random tokens, not counters, so an evicted generation cannot repeat an old value.

Used for the caller's principal (``oauth.credentials``), MCP tool-group rows
(``mcp_gateway.policy``), unfiltered list counts (``inventory.api.pagination``) and the address
counts of networks and pools (``inventory.utilisation``, many entries per round trip with
:func:`cached_each`). If the cache is down, everything is computed directly.

``invalidate_all()`` bumps the epoch every entry depends on (tests call it between tests, as
they empty tables without signals).
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Callable, Iterable

from django.core.cache import cache
from django.db import connections, transaction

from inventory import runtime

log = logging.getLogger(__name__)

EPOCH = "epoch"
_PREFIX = "inv:gen:"
_MISSING = object()


def _gen_key(name: str) -> str:
    return f"{_PREFIX}{name}"


def _store(names) -> None:
    try:
        cache.set_many({_gen_key(n): uuid.uuid4().hex for n in names}, None)
    except Exception:  # the cache is down: its entries cannot be read either
        log.warning("cache unavailable; could not bump %s", sorted(names), exc_info=True)


def _flush(conn) -> None:
    names = getattr(conn, "_inv_changed", None)
    if names:
        conn._inv_changed = None
        _store(names)


def _changed_here(conn) -> set:
    """Generations this connection's open transaction has changed (None or empty: none)."""
    names = getattr(conn, "_inv_changed", None)
    if names and not conn.in_atomic_block:  # that transaction ended: committed (and flushed) or rolled back
        conn._inv_changed = names = None
    return names or set()


def bump(*names: str) -> None:
    """Invalidate every entry that depends on one of ``names``.

    Outside a transaction: at once. Inside one: when it commits (one cache write however many
    rows changed); until then this connection builds those entries directly, so it sees its own
    changes, and other connections cannot see them yet.
    """
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        _store(names)
        return
    changed = getattr(conn, "_inv_changed", None)
    if changed is None:
        changed = conn._inv_changed = set()
    changed.update(names)
    # one callback per change, so a rolled-back savepoint cannot drop the others; after the
    # first, they find nothing left to do
    transaction.on_commit(partial(_flush, conn))


def invalidate_all() -> None:
    """Invalidate every entry at once, whatever transaction is open, and forget what this
    connection's transactions changed (tests: the previous test's transaction was rolled back)."""
    for conn in connections.all(initialized_only=True):
        conn._inv_changed = None
    _store([EPOCH])


def cached(key: str, depends_on: Iterable[str], build: Callable[[], tuple[object, float | None]], *,
           mechanism: str = "cached_credentials"):
    """The value under ``key`` if it was built under the current generations of ``depends_on``;
    otherwise ``build()`` → ``(value, timeout seconds)`` is stored and returned (timeout 0: do
    not store). With ``mechanism`` (see inventory.runtime) off, always ``build()``."""
    if not runtime.enabled(mechanism):
        return build()[0]
    names = (EPOCH, *depends_on)
    if _changed_here(transaction.get_connection()).intersection(names):
        return build()[0]
    gen_keys = [_gen_key(n) for n in names]
    try:
        found = cache.get_many([key, *gen_keys])
    except Exception:
        log.warning("cache unavailable; computing %s directly", key, exc_info=True)
        return build()[0]
    tokens = []
    for gen_key in gen_keys:
        token = found.get(gen_key)
        if token is None:  # first use, or evicted: start a generation
            token = uuid.uuid4().hex
            try:
                if not cache.add(gen_key, token, None):
                    token = cache.get(gen_key) or token
            except Exception:  # pragma: no cover
                return build()[0]
        tokens.append(token)
    tokens = tuple(tokens)
    entry = found.get(key, _MISSING)
    if entry is not _MISSING and isinstance(entry, tuple) and len(entry) == 2 and entry[0] == tokens:
        return entry[1]
    value, timeout = build()
    if timeout is None or timeout > 0:
        try:
            cache.set(key, (tokens, value), timeout)
        except Exception:  # pragma: no cover
            log.warning("cache unavailable; not storing %s", key, exc_info=True)
    return value


def cached_each(entries: dict, build: Callable[[list], dict], timeout: float | None, *,
                mechanism: str = "cached_credentials") -> dict:
    """:func:`cached` for many entries at once, each under generations of its own: ``entries``
    maps an item to ``(key, depends_on)``; ``build(items)`` → ``{item: value}`` for the items
    whose entries are missing or stale (one call for all of them), which are then stored. One
    cache round trip reads every entry and generation; one more stores what was built.
    Returns ``{item: value}`` for every item. With ``mechanism`` off, ``build(all items)``."""
    items = list(entries)
    if not items:
        return {}
    if not runtime.enabled(mechanism):
        return build(items)
    changed = _changed_here(transaction.get_connection())
    direct = [i for i in items if changed.intersection((EPOCH, *entries[i][1]))]  # this transaction's own changes
    if len(direct) == len(items):
        return build(items)
    shared = [i for i in items if i not in direct] if direct else items
    names = {EPOCH}
    for item in shared:
        names.update(entries[item][1])
    gen_keys = {n: _gen_key(n) for n in names}
    try:
        found = cache.get_many([*(entries[i][0] for i in shared), *gen_keys.values()])
    except Exception:
        log.warning("cache unavailable; computing %d entries directly", len(items), exc_info=True)
        return build(items)
    tokens = {n: found.get(k) for n, k in gen_keys.items()}
    started = {gen_keys[n]: uuid.uuid4().hex for n, t in tokens.items() if t is None}  # first use, or evicted
    if started:
        # the values are built below, after these tokens are in: a change committed meanwhile is
        # in them (as in cached(), where a concurrent add wins and is read back)
        try:
            cache.set_many(started, None)
        except Exception:  # pragma: no cover
            return build(items)
        tokens.update({n: started[gen_keys[n]] for n, t in tokens.items() if t is None})
    out, missing, wanted = {}, list(direct), {}
    for item in shared:
        key, depends_on = entries[item]
        current = tuple(tokens[n] for n in (EPOCH, *depends_on))
        entry = found.get(key, _MISSING)
        if entry is not _MISSING and isinstance(entry, tuple) and len(entry) == 2 and entry[0] == current:
            out[item] = entry[1]
        else:
            missing.append(item)
            wanted[item] = current
    if missing:
        built = build(missing)
        out.update(built)
        if wanted and (timeout is None or timeout > 0):
            try:
                cache.set_many({entries[i][0]: (wanted[i], built[i]) for i in wanted if i in built}, timeout)
            except Exception:  # pragma: no cover
                log.warning("cache unavailable; not storing %d entries", len(wanted), exc_info=True)
    return out
