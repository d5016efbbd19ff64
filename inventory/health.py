"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: the database, the
cache, the Celery broker and the migrations are all there), for load balancers.

``/readyz`` answers 200 when every check passes, else 503 with ``Retry-After``; the body names
each dependency's status either way. Each check is bounded by the connect timeouts in settings
(about 2 s), so a dead dependency makes the answer slow by at most that much.
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.http import JsonResponse

#: a positive migrations check is trusted this long (reading the migration graph costs ~50 ms)
MIGRATIONS_OK_FOR = 60.0
_migrations_ok_until = 0.0


def healthz(request):
    return JsonResponse({"status": "ok"})


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}".rstrip(": ")


def check_database() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "vendor": connection.vendor}


def check_migrations() -> dict:
    global _migrations_ok_until
    if time.monotonic() < _migrations_ok_until:
        return {"status": "ok"}
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return {"status": "error", "error": f"{len(pending)} migration(s) not applied; run manage.py migrate",
                "pending": [f"{m.app_label}.{m.name}" for m, _backwards in pending[:20]]}
    _migrations_ok_until = time.monotonic() + MIGRATIONS_OK_FOR
    return {"status": "ok"}


def check_cache() -> dict:
    from django.core.cache import cache

    key, token = "readyz:probe", uuid.uuid4().hex
    cache.set(key, token, 30)
    if cache.get(key) != token:
        return {"status": "error", "error": "the cache did not return what was written"}
    return {"status": "ok", "backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def check_broker() -> dict:
    from inventory.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
    return {"status": "ok", "transport": app.conf.broker_url.split(":", 1)[0]}


CHECKS = {"database": check_database, "migrations": check_migrations, "cache": check_cache, "broker": check_broker}


def readiness() -> tuple[bool, dict]:
    results = {}
    for name, check in CHECKS.items():
        if name == "migrations" and results.get("database", {}).get("status") != "ok":
            results[name] = {"status": "unknown", "error": "the database is unreachable"}
            continue
        started = time.perf_counter()
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - every failure is a status, not a 500
            results[name] = {"status": "error", "error": _error(exc)}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return all(r["status"] == "ok" for r in results.values()), results


def readyz(request):
    ready, results = readiness()
    response = JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response
