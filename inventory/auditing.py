"""Who made a change: django-auditlog's actor for every surface.

AuditlogMiddleware opens one auditlog context per request, with the session user as actor. API
requests authenticate later, in the view (bearer keys and tokens): the bearer authentication
calls :func:`attribute_to` to set the actor on the request's open context, so every write of
every API view is attributed.

It does not nest auditlog's ``set_actor`` inside the middleware's context: a nested context
replaces the outer one in the context variable and does not restore it on exit, so the outer
context's signal receiver was never disconnected: one leaked receiver, holding a user, per
write request.
"""

from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware


class AuditlogMiddleware(_AuditlogMiddleware):
    """auditlog's middleware, keeping its context on the request (``request.auditlog_context``)."""

    def get_extra_data(self, request):
        data = super().get_extra_data(request)
        request.auditlog_context = data  # the dict auditlog keeps as the live context
        return data


def attribute_to(request, user) -> None:
    """Make ``user`` the actor of audit entries written while ``request`` is served."""
    context = getattr(request, "auditlog_context", None)
    if context is not None and user is not None and user.is_authenticated:
        context["actor"] = user
