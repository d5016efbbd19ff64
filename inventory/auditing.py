"""Who made a change: django-auditlog's actor for every surface.

AuditlogMiddleware opens one audit context per request, with the session user as actor. API
requests authenticate later, in the view (bearer keys and tokens): the bearer authentication
calls :func:`attribute_to` to set the actor on the request's open context, so every write of
every API view is attributed. MCP tool calls open one with the caller as actor.

The contexts are auditlog's own (its context variable, the data it copies onto each log
entry), filled in by one ``pre_save`` receiver connected once (:func:`connect`). auditlog's
``set_actor``/``set_extra_data`` instead connect a receiver per context and disconnect it at
the end: every request, reads included, then cleared Django's cache of ``pre_save``
receivers, so the next save of any model in any thread looked them all up again.

Contexts do not nest auditlog's ``set_actor`` either: a nested context replaced the outer one
in the context variable and did not restore it on exit, so the outer context's receiver was
never disconnected: one leaked receiver, holding a user, per write request.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from auditlog import get_logentry_model
from auditlog.cid import set_cid
from auditlog.context import _set_extra_data, auditlog_value
from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware
from django.db.models import Model
from django.db.models.signals import pre_save

#: the one receiver's id in auditlog's context data (its receivers compare it with their own)
_DUID = ("inventory.auditing", 0)


@contextlib.contextmanager
def audit_context(actor=None, **data):
    """Log entries written inside get ``actor`` and ``data`` (``remote_addr``, ...), as inside
    auditlog's ``set_actor``; yields the live context (a dict; changes apply to later entries)."""
    context = {"actor": actor, **data, "signal_duid": _DUID}
    token = auditlog_value.set(context)
    try:
        yield context
    finally:
        auditlog_value.reset(token)


def _fill_entry(sender, instance, **kwargs):
    context = auditlog_value.get(None)
    if context is not None and context.get("signal_duid") == _DUID:
        _set_extra_data(sender, instance, signal_duid=_DUID)  # auditlog's own copying


#: while set (see entry_for_creation), log entries are collected here instead of inserted
_collected: ContextVar[list | None] = ContextVar("inventory_collected_log_entries", default=None)


def entry_for_creation(instance):
    """The log entry django-auditlog writes when ``instance`` is created, made by auditlog itself
    (its receiver, its diff, the open audit context) but not inserted: for a caller that inserts
    it with the row, in one statement. None when auditlog logs nothing for it."""
    from auditlog.receivers import log_create
    from auditlog.registry import auditlog

    if not auditlog.contains(type(instance)):
        return None
    collected: list = []
    token = _collected.set(collected)
    try:
        log_create(sender=type(instance), instance=instance, created=True)
    finally:
        _collected.reset(token)
    return collected[0] if collected else None


def _insert_entry(entry, manager, using, fields, returning_fields, raw):
    """``LogEntry._do_insert``: collect the entry instead while entry_for_creation asks."""
    collected = _collected.get()
    if collected is None:
        return _insert(entry, manager, using, fields, returning_fields, raw)
    collected.append(entry)
    return [[None] * len(returning_fields)] if returning_fields else []


_insert = Model._do_insert  # set by connect(): the log entry model's own


def connect() -> None:
    """Connect the receiver that fills log entries from the open context (once, at start), and
    let log entries be collected instead of inserted while asked (see entry_for_creation)."""
    global _insert
    log_entry = get_logentry_model()
    pre_save.connect(_fill_entry, sender=log_entry, dispatch_uid="inventory.auditing", weak=False)
    if log_entry._do_insert is not _insert_entry:
        _insert = log_entry._do_insert  # auditlog's model may insert its own way
        log_entry._do_insert = _insert_entry


class AuditlogMiddleware(_AuditlogMiddleware):
    """auditlog's middleware on :func:`audit_context`, keeping the context on the request
    (``request.auditlog_context``)."""

    def __call__(self, request):
        set_cid(request)
        with audit_context(**self.get_extra_data(request)) as context:
            request.auditlog_context = context
            return self.get_response(request)


def attribute_to(request, user) -> None:
    """Make ``user`` the actor of audit entries written while ``request`` is served."""
    context = getattr(request, "auditlog_context", None)
    if context is not None and user is not None and user.is_authenticated:
        context["actor"] = user
