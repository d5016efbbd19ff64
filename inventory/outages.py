"""Dependency outages answer 503 with ``Retry-After``, never a 500 page.

:func:`unavailable` tells whether an exception means a dependency is unreachable (PostgreSQL,
the Redis cache, the Celery broker) and which. Django's ``handler500`` (:func:`server_error`,
set in inventory/urls.py) turns those into 503: JSON on ``/api`` and on the OAuth endpoints
(an OAuth ``temporarily_unavailable`` error there), a short HTML page elsewhere (the admin). The
MCP gateway answers them as JSON-RPC errors (mcp_gateway.auth, mcp_gateway.server). Nothing
needs a restart afterwards: the next request connects again.
"""

from __future__ import annotations

import logging
import sys

from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER = 5
#: paths answered in JSON (else HTML)
JSON_PREFIXES = ("/api/", "/oauth/", "/.well-known/", "/o/")
OAUTH_PREFIXES = ("/oauth/", "/o/", "/.well-known/")


def unavailable(exc: BaseException | None) -> str | None:
    """"database", "cache" or "broker" when ``exc`` (or what caused it) is an outage, else None."""
    seen = 0
    while exc is not None and seen < 5:
        name = _kind(exc)
        if name:
            return name
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _kind(exc: BaseException) -> str | None:
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database"
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - SQLite-only installs
        psycopg = psycopg_pool = None
    if psycopg_pool is not None and isinstance(exc, (psycopg_pool.PoolTimeout, psycopg.OperationalError)):
        return "database"
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover
        RedisConnectionError = RedisTimeoutError = ()
    if RedisConnectionError and isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return "cache"
    from kombu.exceptions import OperationalError as KombuOperationalError

    if isinstance(exc, KombuOperationalError):
        return "broker"
    return None


def message(dependency: str) -> str:
    what = {"database": "The database", "cache": "The cache (Redis)", "broker": "The job queue (Celery broker)"}
    return f"{what.get(dependency, 'A dependency')} is unreachable right now; try again in a few seconds."


def response(request, dependency: str):
    """The 503 for ``request`` while ``dependency`` is down."""
    path = request.path
    text = message(dependency)
    if path.startswith(OAUTH_PREFIXES):
        resp = JsonResponse({"error": "temporarily_unavailable", "error_description": text}, status=503)
    elif path.startswith(JSON_PREFIXES) or "json" in request.headers.get("accept", ""):
        resp = JsonResponse({"detail": text, "code": "service_unavailable", "dependency": dependency}, status=503)
    else:
        resp = HttpResponse(
            f"<!doctype html><html lang=\"en\"><head><title>Service unavailable</title></head><body>"
            f"<h1>Service unavailable</h1><p>{text}</p></body></html>", status=503, content_type="text/html")
    resp["Retry-After"] = str(RETRY_AFTER)
    resp["Cache-Control"] = "no-store"
    return resp


def server_error(request, *args, **kwargs):
    """``handler500``: Django calls it while handling the uncaught exception."""
    exc = sys.exc_info()[1]
    dependency = unavailable(exc)
    if dependency:
        logger.warning("%s %s: %s unreachable (%s: %s)", request.method, request.path, dependency,
                       type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return response(request, dependency)
    if request.path.startswith(JSON_PREFIXES):
        return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
    from django.views.defaults import server_error as default

    return default(request)
