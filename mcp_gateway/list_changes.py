"""``notifications/tools/list_changed`` for clients that hold a session (legacy SSE, stdio).

A session that asked for ``tools/list`` is remembered (at most ``MAX_SESSIONS`` per process) with
the names it was shown. One watcher task per process and event loop reads the custom tools and
tool-group policies from the shared cache every ``INTERVAL`` seconds (one round trip); when they
changed, it recomputes each remembered session's list and notifies the sessions whose list is no
longer the one they were shown. A session whose stream is closed is forgotten on the next send.

Stateless Streamable HTTP has no channel to notify on: those clients (2026-07-28 and 2025 alike)
see the new list on their next ``tools/list`` in whichever worker answers it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

INTERVAL = 1.0
MAX_SESSIONS = 1000


@dataclass
class _Watched:
    session: object  # mcp.server.session.ServerSession (its connection's standalone channel)
    env: object  # mcp_gateway.server.CallerEnv
    names: tuple[str, ...] = ()


@dataclass
class _Watcher:
    sessions: dict[int, _Watched] = field(default_factory=dict)
    task: asyncio.Task | None = None
    state: object = None


_watchers: dict[int, _Watcher] = {}  # per event loop


def _state():
    """What tool lists depend on besides the built-ins: the custom tool rows and policy rows."""
    from .custom.provider import rows
    from .policy import all_policy_rows

    return rows(), all_policy_rows()


def has_channel(session) -> bool:
    """Does this request's connection have a standalone channel (SSE stream, stdio)?"""
    from mcp.server.connection import NotifyOnlyOutbound, _NoChannelOutbound

    connection = getattr(session, "_connection", None)
    outbound = getattr(connection, "outbound", None)
    return outbound is not None and not isinstance(outbound, _NoChannelOutbound) \
        and not isinstance(outbound, NotifyOnlyOutbound)


def watch(session, env, names: list[str]) -> None:
    """Remember that ``session`` was shown ``names`` (call from the tools/list handler)."""
    if session is None or not has_channel(session):
        return
    loop = asyncio.get_running_loop()
    watcher = _watchers.setdefault(id(loop), _Watcher())
    if len(watcher.sessions) >= MAX_SESSIONS and id(session) not in watcher.sessions:
        return
    watcher.sessions[id(session)] = _Watched(session, env, tuple(names))
    if watcher.task is None or watcher.task.done():
        watcher.task = loop.create_task(_run(watcher, id(loop)))


async def _run(watcher: _Watcher, loop_id: int) -> None:
    from .server import run_sync

    try:
        watcher.state = await run_sync(_state)
        while watcher.sessions:
            await asyncio.sleep(INTERVAL)
            try:
                state = await run_sync(_state)
            except Exception:  # the cache or database is away for a moment: try again later
                logger.warning("could not read the tool lists' state", exc_info=True)
                continue
            if state == watcher.state:
                continue
            watcher.state = state
            await _notify_changed(watcher)
    finally:
        _watchers.pop(loop_id, None)


async def _notify_changed(watcher: _Watcher) -> None:
    from .server import listed_names, run_sync

    for key, watched in list(watcher.sessions.items()):
        try:
            names = tuple(await run_sync(listed_names, watched.env))
        except Exception:
            logger.warning("could not recompute a session's tool list", exc_info=True)
            continue
        if names == watched.names:
            continue
        watched.names = names
        try:
            await watched.session.send_tool_list_changed()
        except Exception:  # the stream is closed: the client went away
            watcher.sessions.pop(key, None)
