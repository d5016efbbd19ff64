"""The web process's worker threads: Django views and MCP tool handlers run in this one pool.

Sync work (the ORM, DRF) leaves the event loop through :func:`run_sync`. The threads are
reused from request to request (anyio's worker pool), and at most ``WEB_THREADS`` of them
run at once per process, whatever mix of REST, admin and MCP traffic arrives.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from django.conf import settings

_limiter: anyio.CapacityLimiter | None = None


def limiter() -> anyio.CapacityLimiter:
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(settings.WEB_THREADS)
    return _limiter


async def run_sync(fn, *args):
    """``fn(*args)`` in a worker thread of the pool."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter())
