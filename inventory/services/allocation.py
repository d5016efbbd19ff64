"""Next free IP address of a network or pool: preview and allocation.

One implementation for REST (``/api/networks|pools/{id}/next-ip/``), MCP and jobs.

Speed: the search starts at the target's ``alloc_hint`` (a lower bound of the first free
address, raised here once it lags by ``HINT_SLACK`` addresses and lowered by
``inventory.signals`` when an address is deleted), and on PostgreSQL finds the first gap in SQL on the unique
``(network_id, address)`` index (``address`` is ``inet``, so ``address + 1`` works), without
loading used addresses into Python. SQLite walks the used keys from the hint in chunks.

Concurrency: the network row is locked (``SELECT ... FOR UPDATE``) for the search and the
insert, so allocators of one network (its pools included) take turns; the unique
constraint is the last line (a lost race is retried). On PostgreSQL the lock, the search and
the inserts (the address and its audit log entry) run in one statement, a function of the
database, so the lock is never held while Python code runs (see _allocate_in_database), and
the target is usually known from an earlier read, checked by that function (see _target).
"""

from __future__ import annotations

import copy
import datetime
import json
import secrets
import threading
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

from auditlog.context import disable_auditlog
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save, pre_save
from psycopg.types.json import Jsonb

from inventory import auditing, ipam, runtime
from inventory.models import AddressStatus, Device, IPAddress, IPPool, Network, Tenant
from inventory.tenancy import Action, Principal

from .common import Conflict, as_drf_validation_error, as_pk, check, get_for, save_model


@dataclass(frozen=True)
class FreeAddress:
    address: str
    network_id: int
    pool_id: int | None


def _bounds(target: Network | IPPool) -> tuple[Network, int, int]:
    if isinstance(target, IPPool):
        network = target.network
        lo, hi = ipam.usable_bounds(network.ip_network)
        lo = max(lo, int(target.start_key, 16))
        hi = min(hi, int(target.end_key, 16))
        return network, lo, hi
    lo, hi = ipam.usable_bounds(target.ip_network)
    return target, lo, hi


_PG_FIRST_FREE = """
SELECT host(x.a), {pool} FROM (
    (SELECT %(start)s::inet AS a
      WHERE NOT EXISTS (SELECT 1 FROM inventory_ipaddress u WHERE u.network_id = %(net)s AND u.address = %(start)s::inet))
    UNION ALL
    (SELECT u.address + 1 FROM inventory_ipaddress u
      WHERE u.network_id = %(net)s AND u.address >= %(start)s::inet AND u.address < %(hi)s::inet
        AND NOT EXISTS (SELECT 1 FROM inventory_ipaddress v WHERE v.network_id = %(net)s AND v.address = u.address + 1)
      ORDER BY u.address LIMIT 1)
) x LIMIT 1
"""
#: the pool holding the found address (pools of a network never overlap)
_PG_POOL_OF = ("(SELECT p.id FROM inventory_ippool p WHERE p.network_id = %(net)s"
               " AND p.start_address <= x.a AND p.end_address >= x.a LIMIT 1)")
_UNKNOWN = object()


def _first_free(network: Network, start: int, hi: int, *, pool_of: bool = False) -> tuple[int | None, object]:
    """Smallest address in [start, hi] not recorded in the network, or None; and, with
    ``pool_of``, the id of the pool holding it (None: no pool; ``_UNKNOWN``: not looked up)."""
    if start > hi:
        return None, _UNKNOWN
    version = network.family
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_FIRST_FREE.format(pool=_PG_POOL_OF if pool_of else "NULL"), {
                "net": network.pk, "start": str(ipam.to_address(start, version)), "hi": str(ipam.to_address(hi, version)),
            })
            row = cursor.fetchone()
        if row is None:
            return None, _UNKNOWN
        value = int(ipam.parse_address(row[0]))
        return (value, row[1] if pool_of else _UNKNOWN) if value <= hi else (None, _UNKNOWN)
    # portable fallback: walk used keys upward from ``start`` in chunks
    candidate = start
    used = IPAddress.objects.filter(network_id=network.pk, address_key__lte=ipam.key(hi)).order_by("address_key")
    while candidate <= hi:
        keys = list(used.filter(address_key__gte=ipam.key(candidate)).values_list("address_key", flat=True)[:500])
        for k in keys:
            value = int(k, 16)
            if value > candidate:
                return candidate, _UNKNOWN
            candidate = value + 1
        if len(keys) < 500:
            return (candidate, _UNKNOWN) if candidate <= hi else (None, _UNKNOWN)
    return None, _UNKNOWN


def _find(target: Network | IPPool, *, pool_of: bool = False) -> tuple[Network, int | None, int, object]:
    """(network, first free address or None, last usable address, pool id of the address or _UNKNOWN)."""
    network, lo, hi = _bounds(target)
    start = max(lo, int(target.alloc_hint, 16)) if target.alloc_hint else lo
    value, pool_id = _first_free(network, start, hi, pool_of=pool_of)
    return network, value, hi, pool_id


def _full(target) -> Conflict:
    kind = "pool" if isinstance(target, IPPool) else "network"
    return Conflict(f"The {kind} {target} is full: no free address left.", code="pool_full")


Target = Network | IPPool


def _lock(principal: Principal, target: Target | tuple[type[Target], object], action: str) -> Target:
    """Lock the network row (serialises allocations in it) and read the target as the principal
    sees it, in one query: 404 outside its view, 403 without the right to ``action``."""
    model, pk = target if isinstance(target, tuple) else (type(target), target.pk)
    build = _LOCKED_READS[model]
    return get_for(principal, model, pk, action, build=build, shape=("allocation lock", model))


#: the target as allocation reads it (a pool with its network); locked: the ORM path's read
_READS = {
    IPPool: lambda: IPPool.objects.select_related("network"),
    Network: Network.objects.all,
}
_LOCKED_READS = {
    IPPool: lambda: _READS[IPPool]().select_for_update(of=("network",)),
    Network: lambda: _READS[Network]().select_for_update(of=("self",)),
}


#: The hint is rewritten only once it lags the first free address by this many addresses: a
#: search then walks at most this many used addresses more, and most allocations spare a write.
HINT_SLACK = 64


def _hint_lags(target: Target, value: int) -> bool:
    return value - (int(target.alloc_hint, 16) if target.alloc_hint else 0) >= HINT_SLACK


def _raise_hint(target: Target, value: int) -> None:
    """Make ``value`` (every address of the target below it is in use) the new hint, if it lags."""
    if _hint_lags(target, value):
        key = ipam.key(value)
        type(target).objects.filter(pk=target.pk).update(alloc_hint=key)
        target.alloc_hint = key


def preview_next_ip(principal: Principal, target: Network | IPPool) -> FreeAddress:
    """The address the next allocation from ``target`` would take (nothing is written but the hint).

    ``target`` must come from ``restrict(principal, "view")``. Full: Conflict (409).
    Usually two queries and no lock: the target, and the gap search from its hint. Only when the
    search found a better lower bound is the hint raised, under the allocation lock (a freed
    address lowers the hint under that lock too, so it can never end up above a free address).
    """
    check(principal, Action.VIEW, target, "this network")
    network, value, _hi, _pool = _find(target)
    if value is None:
        raise _full(target)
    if _hint_lags(target, value):
        with transaction.atomic():
            target = _lock(principal, target, Action.VIEW)
            network, value, _hi, _pool = _find(target)
            if value is None:
                raise _full(target)
            _raise_hint(target, value)  # every address below is in use: a better lower bound
    return FreeAddress(str(ipam.to_address(value, network.family)), network.pk,
                       target.pk if isinstance(target, IPPool) else None)


def allocate_next_ip(
    principal: Principal,
    target: Target | tuple[type[Target], object],
    *,
    device: Device | None = None,
    dns_name: str = "",
    description: str = "",
) -> IPAddress:
    """Allocate the first free address of ``target`` (status allocated), optionally to a
    device (same tenant) with a DNS name. Needs the "add" right in the target's tenant.

    ``target``: a network or pool, or ``(Network or IPPool, id)`` (read here either way, as the
    principal sees it). ``device`` must come from ``restrict(principal, "view")``.
    Raises NotFound (404), PermissionDenied (403), ValidationError (400), Conflict (409: full).
    """
    in_database = connection.vendor == "postgresql" and runtime.enabled("allocation_function")
    allocate = _allocate_in_database if in_database else _allocate_with_orm
    return allocate(principal, target, device=device, dns_name=dns_name, description=description)


def _new_address(network: Network, pool: IPPool | None, device, dns_name, description, **values) -> IPAddress:
    """The address row to insert, validated. The related rows were just read, and the gap search
    proves the address free and inside the target and finds its pool: of the model's rules only
    the plain field checks and the tenant of the device are left to check."""
    row = IPAddress(tenant_id=network.tenant_id, network=network, status=AddressStatus.ALLOCATED, device=device,
                    dns_name=dns_name, description=description, **values)
    if pool is not None:
        row.pool = pool
    decided = () if row.address else ("address", "address_key")  # by the search, later
    try:
        row.clean_fields(exclude=["tenant", "network", "pool", "device", *decided])
        row.clean_tenant_links(("device",))  # the pool is the network's
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    return row


def _allocate_with_orm(principal, target, *, device, dns_name, description) -> IPAddress:
    """allocate_next_ip with Django's ORM (SQLite): lock, search and save in one transaction."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                locked = _lock(principal, target, Action.ADD)
                from_pool = isinstance(locked, IPPool)
                network, value, hi, pool_id = _find(locked, pool_of=not from_pool)
                if value is None:
                    raise _full(locked)
                if pool_id is _UNKNOWN and not from_pool:
                    pool_id = network.pools_holding(ipam.key(value)).values_list("pk", flat=True).first()
                row = _new_address(network, locked if from_pool else None, device, dns_name, description,
                                   address=str(ipam.to_address(value, network.family)), address_key=ipam.key(value),
                                   **({} if from_pool else {"pool_id": pool_id}))
                save_model(row, clean=False, savepoint=False)
                _raise_hint(locked, value + 1 if value < hi else value)
                return row
        except Conflict as exc:
            if exc.get_codes() == "pool_full":
                raise
            continue  # an address written outside allocation took our pick: look again
        except IntegrityError:  # pragma: no cover - save_model converts these
            continue
    raise Conflict("Could not allocate an address after several attempts (heavy concurrent writes); retry.")


# --- PostgreSQL: the whole allocation in one statement ----------------------------------------
#: The function's row (version 4: inventory/sql/allocate_address.v4.sql): the address's id, address,
#: key and pool, then what the response shows of its references as they are now (the names of
#: tenant, network and pool, the pool's range), read with the rows the function locks: a remembered
#: target may hold older names, and the tenant and a network's pool are not read here.
_ALLOCATE = "SELECT * FROM inventory_allocate_address(%s, %s, %s, %s::inet, %s::inet, %s, %s, %s, %s, %s, %s, %s)"


def _named(row: IPAddress, network: Network, pool: IPPool | None, names) -> None:
    """Give ``row`` its tenant, network and pool as the allocation statement read them (``names``:
    tenant, network and pool names, the pool's start and end): the rows a response names, with no
    query. A remembered target is shared by threads and never changed: a renamed one is copied."""
    tenant_name, network_name, pool_name, pool_start, pool_end = names
    row.tenant = Tenant.from_db(connection.alias, ["id", "name"], [network.tenant_id, tenant_name])
    if network.name != network_name:
        network = copy.copy(network)
        network.name = network_name
    row.network = network
    if row.pool_id is None:
        return
    if pool is None:  # a network's address that a pool of it holds
        pool = IPPool.from_db(connection.alias, ["id", "network_id", "name", "start_address", "end_address"],
                              [row.pool_id, network.pk, pool_name, pool_start, pool_end])
    elif pool.name != pool_name or pool.network is not network:
        pool = copy.copy(pool)
        pool.name, pool.network = pool_name, network
    row.pool = pool


def _json_value(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _row(instance, exclude=()) -> Jsonb:
    """The instance's columns as JSON, values as the fields leave them for the database
    (``pre_save`` with add=True sets the automatic timestamps, as an insert does)."""
    values = {f.column: f.pre_save(instance, True) for f in instance._meta.concrete_fields if f.name not in exclude}
    return Jsonb(values, dumps=partial(json.dumps, default=_json_value))


#: The allocation targets this process read last, ``(model, id) -> instance`` (a pool with its
#: network), shared by its threads and never changed. See _target().
_known: dict[tuple, Target] = {}
_KNOWN_MAX = 1000
_known_lock = threading.Lock()


def _target(principal: Principal, model: type[Target], pk, *, fresh: bool) -> Target:
    """The target of a database allocation, as the principal sees it.

    Usually as this process read it last, with no query: the allocation function checks, in the
    statement that locks the network, that the tenant and the ranges it was read with are still
    those of the rows (else the caller comes back with ``fresh``), and reads the search hint
    there itself. The principal's rights in that tenant are checked here, as get_for checks them
    after its read. Anything else (not read yet, or not visible or not allowed, which get_for
    then answers with its 404 or 403) reads the target as get_for does, and remembers it.
    """
    key = (model, as_pk(model, pk))
    if fresh:
        _known.pop(key, None)  # gone or changed: not remembered unless read again
    else:
        known = _known.get(key)
        if known is not None and principal.can(Action.VIEW, known) and principal.can(Action.ADD, known):
            return known
    current = get_for(principal, model, pk, Action.ADD, build=_READS[model], shape=("allocation target", model))
    with _known_lock:
        if len(_known) >= _KNOWN_MAX:
            del _known[next(iter(_known))]  # the oldest
        _known[key] = current
    return current


def forget_targets() -> None:
    """Drop the remembered targets (tests: another test's rows may have had their ids)."""
    with _known_lock:
        _known.clear()


def _ranges(network: Network, pool: IPPool | None) -> str:
    """What the allocation function checks of the target read: tenant, start and end keys of the
    network (then of the pool)."""
    return ":".join(f"{t.tenant_id}:{t.start_key}:{t.end_key}" for t in (network, pool) if t is not None)


def _allocate_in_database(principal, target, *, device, dns_name, description) -> IPAddress:
    """allocate_next_ip on PostgreSQL, with the network locked inside the database only.

    The target is known (see _target: usually no query), the row validated, and its audit log
    entry made by django-auditlog itself, with stand-ins for what the search decides (the
    address, its key and pool, the row's id). Then ``inventory_allocate_address`` (migrations
    0003, 0004, 0006; now inventory/sql/allocate_address.v4.sql, migration 0010) locks the network,
    checks the target is still as known, finds the address from the target's search hint, inserts
    both rows, raises the hint and returns the names the response shows, in one statement. The
    post_save receivers then run as after any save (auditlog's excepted: its entry is in).
    """
    model, pk = target if isinstance(target, tuple) else (type(target), target.pk)
    using = connection.alias
    fresh = False
    for _attempt in range(5):
        current = _target(principal, model, pk, fresh=fresh)
        from_pool = isinstance(current, IPPool)
        network, lo, hi = _bounds(current)
        row = _new_address(network, current if from_pool else None, device, dns_name, description)
        version = network.family
        nonce = secrets.token_hex(8)
        stand_in = {name: f"@@{nonce}:{name}@@" for name in ("id", "address", "key", "pool")}
        pre_save.send(sender=IPAddress, instance=row, raw=False, using=using, update_fields=None)
        row.pk, row.address, row.address_key = stand_in["id"], stand_in["address"], stand_in["key"]
        if not from_pool:
            row.pool_id = stand_in["pool"]
        try:
            address_row = _row(row, exclude=("id", "address", "address_key", "pool"))  # first: sets the times
            entry = auditing.entry_for_creation(row)
        finally:
            row.pk, row.address, row.address_key = None, None, ""
            if not from_pool:
                row.pool_id = None
        try:
            # inside a caller's transaction, a failed attempt must not end it: a savepoint
            with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
                cursor.execute(_ALLOCATE, [
                    network.pk, current.pk if from_pool else None, _ranges(network, current if from_pool else None),
                    str(ipam.to_address(lo, version)), str(ipam.to_address(hi, version)), HINT_SLACK,
                    address_row, None if entry is None else _row(entry, exclude=("id",)),
                    stand_in["id"], stand_in["address"], stand_in["key"], stand_in["pool"],
                ])
                found = cursor.fetchone()
        except IntegrityError:
            continue  # an address written outside allocation took our pick: look again
        if found is None:  # full: named as it is now
            raise _full(_target(principal, model, pk, fresh=True))
        if found[0] is None:
            fresh = True  # the network or pool changed (or went) since it was read: read it again
            continue
        row.pk, row.address, row.address_key, row.pool_id = found[:4]
        _named(row, network, current if from_pool else None, found[4:])
        row._state.adding, row._state.db = False, using
        with disable_auditlog():  # its entry is in
            post_save.send(sender=IPAddress, instance=row, created=True, update_fields=None, raw=False, using=using)
        return row
    raise Conflict("Could not allocate an address after several attempts (heavy concurrent writes); retry.")
