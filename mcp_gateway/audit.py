"""Audit of MCP calls: redaction and the McpCall row."""

from __future__ import annotations

import logging
import os
import re
import socket

from .models import AuthKind, McpCall

logger = logging.getLogger(__name__)

REDACTED = "***"
HOST = socket.gethostname()
SECRET_NAME = re.compile(r"pass(word|wd|phrase)?|secret|token|key|credential|authorization|private", re.I)


def redact(value, secret_fields=frozenset()):
    """A copy of ``value`` with every value under a secret-looking key (or a listed field) hidden."""
    if isinstance(value, dict):
        return {
            k: REDACTED if (isinstance(k, str) and (k in secret_fields or SECRET_NAME.search(k))) and v not in (None, "")
            else redact(v, secret_fields)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secret_fields) for v in value]
    return value


def auth_kind(principal, transport: str) -> str:
    if transport == "stdio":
        return AuthKind.STDIO
    via = getattr(principal, "via", "")
    return via if via in AuthKind.values else AuthKind.API_KEY


def mask_values(value, secret_values):
    """``value`` with every occurrence of a known secret value (a tool's ``secret_values(args)``,
    e.g. a device's password typed into a command) replaced by ``REDACTED``."""
    from inventory.jobs.masking import mask

    return mask(value, secret_values, REDACTED) if secret_values else value


def secret_values_of(tool, args, principal=None) -> set:
    """The known secret values a call's arguments may hold (``tool.secret_values``), for masking."""
    if getattr(tool, "secret_values", None) is None or not isinstance(args, dict):
        return set()
    try:
        return set(tool.secret_values(args, principal) or ())
    except Exception:  # noqa: BLE001 - e.g. bad arguments: the call failed anyway; mask what we can
        logger.warning("could not look up the secret values of a %s call", tool.name, exc_info=True)
        return set()


def record(*, call_id, principal, tool_name, arguments, secret_fields=frozenset(), secret_values=(), outcome,
           error_code="", error_message="", duration_ms=0.0, ip=None, user_agent="", transport="http", tenant_id=None,
           custom=None):
    """Write one McpCall row; never raises (an audit failure is logged, not shown to the client)."""
    try:
        user = getattr(principal, "user", None)
        if tenant_id is None and principal is not None and principal.is_authenticated:
            tenants = set(principal.roles)
            if len(tenants) == 1:
                tenant_id = tenants.pop()
        McpCall.objects.create(
            call_id=call_id,
            user=user if getattr(user, "pk", None) else None,
            username=getattr(user, "username", "") or "",
            tenant_id=tenant_id,
            auth_kind=auth_kind(principal, transport),
            client_id=(getattr(principal, "client_id", "") or "")[:255],
            client_name=(getattr(principal, "client_name", "") or "")[:255],
            transport=transport,
            tool=tool_name[:100],
            arguments=mask_values(redact(arguments if isinstance(arguments, dict) else {"_": arguments}, secret_fields),
                                  secret_values),
            outcome=outcome,
            error_code=error_code,
            error_message=mask_values(error_message or "", secret_values)[:500],
            duration_ms=round(duration_ms, 3),
            ip=ip or None,
            user_agent=(user_agent or "")[:300],
            served_by=f"{HOST}:{os.getpid()}"[:100],
            custom_tool_id=custom[0] if custom else None,
            tool_version=custom[1] if custom else None,
        )
    except Exception:  # pragma: no cover - the database is gone; the call itself already ended
        logger.exception("could not write the MCP audit row for %s", tool_name)
