"""The raw twin of each benchmarked endpoint, served by the same uvicorn workers as the app.

    uvicorn benchmarks.twin:application ...   (benchmarks/run.py starts it so)

``GET /raw/<scenario>/<variant>`` runs the SQL statements the real endpoint ran for that request
(recorded by benchmarks/run.py from a warm request, parameters included, in the file named by
``BENCH_TWIN_QUERIES``) through psycopg on a pool of its own (server-side binding, statements
prepared after two runs but those with LIKE, as the app's connections: inventory/statements.py), turns the rows into dicts and answers them
JSON-encoded. No authentication, no Django, no serializer: a floor that moves with the machine
and with the database. Every other path goes to ``inventory.asgi.application`` in the same
process.
"""

from __future__ import annotations

import json
import os
import pickle

import anyio.to_thread

from inventory.asgi import application as inventory_app
from inventory.statements import matches_patterns

_queries: dict | None = None
_pool = None


def _load() -> dict:
    global _queries
    if _queries is None:
        with open(os.environ["BENCH_TWIN_QUERIES"], "rb") as fh:
            _queries = pickle.load(fh)
    return _queries


def _connections():
    global _pool
    if _pool is None:
        from psycopg_pool import ConnectionPool

        url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
        _pool = ConnectionPool(url, min_size=1, max_size=8, open=True,
                               kwargs={"autocommit": True, "prepare_threshold": 2})
    return _pool


def answer(scenario: str, variant: int) -> bytes:
    """The JSON of every result set the recorded statements of ``scenario`` return."""
    variants = _load()[scenario]
    statements = variants[variant % len(variants)]
    results = []
    with _connections().connection() as conn:
        for sql, params in statements:
            cursor = conn.execute(sql, params, prepare=False if matches_patterns(sql) else None)
            if cursor.description is not None:
                names = [column.name for column in cursor.description]
                results.append([dict(zip(names, row)) for row in cursor.fetchall()])
    return json.dumps(results, default=str).encode()


async def application(scope, receive, send):
    path = scope.get("path", "") if scope["type"] == "http" else ""
    if not path.startswith("/raw/"):
        return await inventory_app(scope, receive, send)
    _, _, scenario, variant = path.split("/", 3)
    body = await anyio.to_thread.run_sync(answer, scenario, int(variant or 0))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
