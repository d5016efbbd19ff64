"""The web server's event loop: connections shared out evenly among uvicorn's worker processes.

``uvicorn --workers N`` binds one listening socket and every worker accepts from it. When
connections arrive together (a client or proxy opening its pool of keep-alive connections),
the first worker to wake accepts them all: seen here, 8 connections opened at once landed
8/0, 7/1 or 6/2 on two workers as often as 4/4. Keep-alive connections stay where they
landed, so one worker then queues most requests while the other core idles (at 8 concurrent
MCP clients on 2 cores the p50 of a call doubled).

This loop (``uvicorn ... --loop inventory.runtime.serving:loop_factory``) accepts one connection per
wake-up and, when it runs as one of several workers, waits before accepting another in
proportion to the connections it already holds (``ACCEPT_DELAY`` per connection, at most
``MAX_ACCEPT_DELAY``). A worker holding fewer connections is the first to accept, so a burst
spreads 4/4, and a worker too busy to run its loop leaves new connections to the others.
A single worker never waits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket

from inventory import runtime

#: the wait before accepting, per connection this worker holds, and its cap (seconds)
ACCEPT_DELAY = 0.001
MAX_ACCEPT_DELAY = 0.005


class FairAcceptLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop with the accepting described above (uvicorn's HTTP protocol and
    everything else are unchanged)."""

    def __init__(self, *, shared: bool):
        super().__init__()
        self.shared = shared  # one of several workers on the same listening socket
        self._connections: set = set()  # accepted sockets; a closed one has fileno() == -1

    def open_connections(self) -> int:
        self._connections = {conn for conn in self._connections if conn.fileno() != -1}
        return len(self._connections)

    # asyncio calls _accept_connection(protocol_factory, sock, sslcontext, server, backlog,
    # ssl_handshake_timeout, ssl_shutdown_timeout) when the listening socket is readable
    def _accept_connection(self, protocol_factory, sock, *args):
        if not self.shared:
            return super()._accept_connection(protocol_factory, sock, *args)
        delay = min(self.open_connections() * ACCEPT_DELAY, MAX_ACCEPT_DELAY)
        if not delay:
            return super()._accept_connection(protocol_factory, sock, *_one_at_a_time(args))
        # let a worker holding fewer connections take it; look again after the delay
        self._remove_reader(sock.fileno())
        self.call_later(delay, self._resume_accepting, protocol_factory, sock, args)
        return None

    def _resume_accepting(self, protocol_factory, sock, args):
        if sock.fileno() == -1 or self.is_closed():  # the server closed meanwhile
            return
        self._add_reader(sock.fileno(), self._accept_connection, protocol_factory, sock, *args)
        # the connection put off, if no other worker took it (none waiting: nothing happens)
        super()._accept_connection(protocol_factory, sock, *_one_at_a_time(args))

    async def _accept_connection2(self, protocol_factory, conn, *args, **kwargs):
        self._connections.add(conn)
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            # asyncio sets TCP_NODELAY only when the listening socket was made with
            # proto=IPPROTO_TCP, which uvicorn's is not: without it a response written in two
            # parts waits ~40 ms for the client's delayed ACK (uvloop always sets it)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return await super()._accept_connection2(protocol_factory, conn, *args, **kwargs)


def _one_at_a_time(args: tuple) -> tuple:
    """The arguments after ``sock`` with ``backlog`` (the most accepted per wake-up) set to 1."""
    return (*args[:2], 1, *args[3:]) if len(args) >= 3 else args


def loop_factory() -> asyncio.AbstractEventLoop:
    """uvicorn's ``--loop`` hook. uvicorn starts its workers as child processes only when it runs
    several (``--workers N``); a single server runs in the main process. With the mechanism off
    (``FAST_PATHS=off``): the loop uvicorn picks by default (``--loop auto``: uvloop if installed)."""
    if not runtime.enabled("fair_accept"):
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvicorn[standard] brings it
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()
    return FairAcceptLoop(shared=multiprocessing.parent_process() is not None)
