"""Next free IP address of a network or pool: preview and allocation.

One implementation for REST (``/api/networks|pools/{id}/next-ip/``), MCP and jobs.

Speed: the search starts at the target's ``alloc_hint`` (a lower bound of the first free
address, raised here after each allocation and lowered by ``inventory.signals`` when an
address is deleted), and on PostgreSQL finds the first gap in SQL on the unique
``(network_id, address)`` index (``address`` is ``inet``, so ``address + 1`` works), without
loading used addresses into Python. SQLite walks the used keys from the hint in chunks.

Concurrency: the network row is locked (``SELECT ... FOR UPDATE``) for the search and the
insert, so allocators of one network (its pools included) take turns; the unique
constraint is the last line (a lost race is retried).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from inventory import ipam
from inventory.models import AddressStatus, Device, IPAddress, IPPool, Network
from inventory.tenancy import Action, Principal

from .common import Conflict, check, save_model


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
SELECT host(x.a) FROM (
    (SELECT %(start)s::inet AS a
      WHERE NOT EXISTS (SELECT 1 FROM inventory_ipaddress u WHERE u.network_id = %(net)s AND u.address = %(start)s::inet))
    UNION ALL
    (SELECT u.address + 1 FROM inventory_ipaddress u
      WHERE u.network_id = %(net)s AND u.address >= %(start)s::inet AND u.address < %(hi)s::inet
        AND NOT EXISTS (SELECT 1 FROM inventory_ipaddress v WHERE v.network_id = %(net)s AND v.address = u.address + 1)
      ORDER BY u.address LIMIT 1)
) x LIMIT 1
"""


def _first_free(network: Network, start: int, hi: int) -> int | None:
    """Smallest address in [start, hi] not recorded in the network, or None."""
    if start > hi:
        return None
    version = network.family
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_FIRST_FREE, {
                "net": network.pk, "start": str(ipam.to_address(start, version)), "hi": str(ipam.to_address(hi, version)),
            })
            row = cursor.fetchone()
        if row is None:
            return None
        value = int(ipam.parse_address(row[0]))
        return value if value <= hi else None
    # portable fallback: walk used keys upward from ``start`` in chunks
    candidate = start
    used = IPAddress.objects.filter(network_id=network.pk, address_key__lte=ipam.key(hi)).order_by("address_key")
    while candidate <= hi:
        keys = list(used.filter(address_key__gte=ipam.key(candidate)).values_list("address_key", flat=True)[:500])
        for k in keys:
            value = int(k, 16)
            if value > candidate:
                return candidate
            candidate = value + 1
        if len(keys) < 500:
            return candidate if candidate <= hi else None
    return None


def _find(target: Network | IPPool) -> tuple[Network, int | None, int, int]:
    network, lo, hi = _bounds(target)
    start = max(lo, int(target.alloc_hint, 16)) if target.alloc_hint else lo
    return network, _first_free(network, start, hi), lo, hi


def _full(target) -> Conflict:
    kind = "pool" if isinstance(target, IPPool) else "network"
    return Conflict(f"The {kind} {target} is full: no free address left.", code="pool_full")


def _lock(target: Network | IPPool) -> Network | IPPool:
    """Lock the network row (serialises allocations in it) and reload the target."""
    network_id = target.network_id if isinstance(target, IPPool) else target.pk
    network = Network.objects.select_for_update().get(pk=network_id)
    if isinstance(target, IPPool):
        pool = IPPool.objects.get(pk=target.pk)
        pool.network = network
        return pool
    return network


def _raise_hint(target, value: int) -> None:
    key = ipam.key(value)
    if key > (target.alloc_hint or ""):
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
    network, value, _lo, _hi = _find(target)
    if value is None:
        raise _full(target)
    if ipam.key(value) > (target.alloc_hint or ""):
        with transaction.atomic():
            target = _lock(target)
            network, value, _lo, _hi = _find(target)
            if value is None:
                raise _full(target)
            _raise_hint(target, value)  # every address below is in use: a better lower bound
    return FreeAddress(str(ipam.to_address(value, network.family)), network.pk,
                       target.pk if isinstance(target, IPPool) else None)


def allocate_next_ip(
    principal: Principal,
    target: Network | IPPool,
    *,
    device: Device | None = None,
    dns_name: str = "",
    description: str = "",
) -> IPAddress:
    """Allocate the first free address of ``target`` (status allocated), optionally to a
    device (same tenant) with a DNS name. Needs the "add" right in the target's tenant.

    ``target`` and ``device`` must come from ``restrict(principal, "view")``.
    Raises PermissionDenied (403), ValidationError (400), Conflict (409: full).
    """
    check(principal, Action.ADD, target, "addresses here")
    for _attempt in range(5):
        try:
            with transaction.atomic():
                locked = _lock(target)
                network, value, _lo, _hi = _find(locked)
                if value is None:
                    raise _full(locked)
                row = IPAddress(
                    tenant_id=network.tenant_id, network=network, address=str(ipam.to_address(value, network.family)),
                    pool=locked if isinstance(locked, IPPool) else None, status=AddressStatus.ALLOCATED,
                    device=device, dns_name=dns_name, description=description,
                )
                # the related rows were just read (and locked); the gap search proved the address free
                save_model(row, exclude=["tenant", "network", "pool", "device"], savepoint=False)
                _raise_hint(locked, value + 1 if value < _hi else value)
                return row
        except Conflict as exc:
            if exc.get_codes() == "pool_full":
                raise
            continue  # an address written outside allocation took our pick: look again
        except IntegrityError:  # pragma: no cover - save_model converts these
            continue
    raise Conflict("Could not allocate an address after several attempts (heavy concurrent writes); retry.")
