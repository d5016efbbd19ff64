"""Statements compiled once per shape: reads of one object by id and of search hits, as a
principal sees them.

Every detail route, next-IP preview and allocation, MCP ``*_get`` tool and search reads
through ``restrict()``. Django builds and compiles those queries anew each time: the queryset
(joins, ``only()``, row lock, the tenant filter, the search words) and its SQL cost several
times what PostgreSQL spends running it (about 1.5 ms of CPU against 0.2 ms for one object,
seen here).

The SQL depends only on the call site's *shape* (which joins and columns, whether locked, how
many search words) and on how many tenants the principal may view, not on the values. So the
first read of a shape compiles it once with stand-in values, notes where those stand-ins sit
among the statement's parameters, and keeps the compiled statement. Later reads put their own
values in those places and run the same statement; rows become objects through Django's own
code (``ModelIterable``: related objects, deferred fields, prefetches), as a normal read does.

A stand-in is found as a parameter of its own (an id, an exact string) or inside a ``LIKE``
pattern (``contains``, ``icontains``: ``%word%``), where the value goes in escaped as Django
escapes it (``prep_for_like_query``). A shape whose stand-ins end up anywhere else (changed by
an expression, say) is not kept: it is compiled per read, as usual.

The tenant rule is not re-implemented here: the statement is compiled from
``RestrictedQuerySet.restrict_to()``, the method ``restrict()`` itself uses.
"""

from __future__ import annotations

import copy
import threading
from typing import Callable, Sequence

from django.db import connections
from django.db.models import QuerySet
from django.db.transaction import TransactionManagementError

from inventory import runtime
from inventory.tenancy import Action, Principal

#: stand-ins: far outside any id a table can hold, or text no one types; distinct from each other
_INT_STANDIN = -(2**62)
_TENANT_STANDIN = -(2**61)
_STR_MARK = "\u16dd"
_STANDIN_INTS = -(2**60)  # every integer stand-in is below this

_compiled: dict[tuple, "_Statement | None"] = {}
_lock = threading.Lock()
#: shapes kept (``?fields=`` subsets are the caller's choice); past it, reads compile as usual
MAX_SHAPES = 1000
_INTEGER_KEYS = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField"}

# how a parameter slot is filled
_TENANT, _VALUE, _LIKE = range(3)


def _standins(kinds: Sequence[type]) -> list:
    return [f"{_STR_MARK}{i}{_STR_MARK}" if kind is str else _INT_STANDIN + i for i, kind in enumerate(kinds)]


class _Statement:
    """A compiled read: the template queryset and compiler, the SQL, its parameters, and what
    goes where in them."""

    def __init__(self, queryset: QuerySet, tenants: int | None, standins: list, limit: int | None):
        tenant_standins = None if tenants is None else [_TENANT_STANDIN + i for i in range(tenants)]
        template = queryset.restrict_to(tenant_standins)[:limit]
        compiler = template.query.get_compiler(using=template.db)
        sql, params = compiler.as_sql()  # also fills compiler.select, klass_info, ...
        params = list(params)
        slots, seen = [], set()
        tenant_at = {s: i for i, s in enumerate(tenant_standins or ())}
        value_at = {s: i for i, s in enumerate(standins)}
        for at, param in enumerate(params):
            if isinstance(param, bool):
                continue
            if isinstance(param, int) and param in tenant_at:
                slots.append((at, _TENANT, tenant_at[param], None))
                seen.add(("tenant", tenant_at[param]))
            elif (isinstance(param, int) or isinstance(param, str)) and param in value_at:
                slots.append((at, _VALUE, value_at[param], None))
                seen.add(value_at[param])
            elif isinstance(param, str) and _STR_MARK in param:
                found = [(s, i) for s, i in value_at.items()
                         if isinstance(s, str) and param in (f"%{s}%", f"{s}%", f"%{s}")]
                if len(found) != 1:  # not contains/startswith/endswith of one value
                    raise ValueError("a stand-in changed or combined")
                slots.append((at, _LIKE, found[0][1], (param, found[0][0])))
                seen.add(found[0][1])
            elif isinstance(param, int) and param < _STANDIN_INTS:
                raise ValueError("an integer stand-in changed")
        if seen != set(range(len(standins))) | {("tenant", i) for i in range(tenants or 0)}:
            raise ValueError("a stand-in is not a parameter")  # folded into the SQL, or dropped
        self.template, self.compiler, self.sql, self.params, self.slots = template, compiler, sql, params, slots

    def fetch(self, values: Sequence, tenant_ids: list[int] | None) -> list:
        connection = connections[self.template.db]  # this thread's
        params = list(self.params)
        for at, kind, which, like in self.slots:
            if kind == _TENANT:
                params[at] = tenant_ids[which]
            elif kind == _VALUE:
                params[at] = values[which]
            else:
                pattern, standin = like
                params[at] = pattern.replace(standin, connection.ops.prep_for_like_query(values[which]))
        if self.template.query.select_for_update and connection.features.has_select_for_update \
                and connection.get_autocommit():  # as Django's compiler refuses it
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        compiler = copy.copy(self.compiler)
        compiler.connection = connection
        compiler.as_sql = lambda *args, **kwargs: (self.sql, params)
        queryset = self.template._chain()
        queryset.query.get_compiler = lambda *args, **kwargs: compiler
        return list(queryset)


def read(principal: Principal, shape: tuple, build: Callable[..., QuerySet], values: Sequence,
         action: str = Action.VIEW, limit: int | None = None) -> list:
    """``list(build(*values).restrict(principal, action)[:limit])``, from a statement compiled
    once for ``shape``.

    ``values`` are ints and strings; ``build`` makes the (unrestricted) queryset from them,
    passing each to a lookup unchanged, and is called with stand-ins only to compile, so it must
    make the same query, joins, columns and locks for a given ``shape`` whatever the values.
    """
    allowed = principal.tenant_ids_for(action)
    if not runtime.enabled("precompiled_reads"):  # FAST_PATHS off: Django compiles every read
        return list(build(*values).restrict_to(allowed)[:limit])
    tenant_ids = None if allowed is None else sorted(allowed)
    kinds = tuple(str if isinstance(v, str) else int for v in values)
    key = (shape, kinds, None if tenant_ids is None else len(tenant_ids), limit)
    statement = _compiled.get(key, False)
    if statement is False:
        statement = None
        if tenant_ids != []:
            try:
                statement = _Statement(build(*_standins(kinds)), key[2], _standins(kinds), limit)
            except ValueError:
                pass
        with _lock:
            if len(_compiled) < MAX_SHAPES:
                _compiled[key] = statement
    if statement is None:  # nothing visible, or a shape compiled the usual way
        return list(build(*values).restrict_to(allowed)[:limit])
    return statement.fetch(values, tenant_ids)


def get_visible(principal: Principal, model, shape: tuple, build: Callable[[], QuerySet], pk,
                action: str = Action.VIEW):
    """The object ``pk`` of ``build()`` (a queryset of ``model``) among those ``principal`` may
    ``action`` (as ``build().restrict(principal, action).get(pk=pk)``), or ``model.DoesNotExist``.
    ``pk``: an integer key as :func:`inventory.services.common.as_pk` parses it.

    ``shape`` names what ``build`` returns (the same query, joins, columns and locks every
    time it is called with that shape).
    """
    if model._meta.pk.get_internal_type() not in _INTEGER_KEYS or not runtime.enabled("precompiled_reads"):
        return build().restrict(principal, action).get(pk=pk)
    rows = read(principal, shape, lambda key: build().filter(pk=key), (pk,), action)
    if not rows:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return rows[0]
