"""Mounts for inventory.asgi: exact paths → ASGI apps (+ lifespan to run in the dispatcher).

- ``/mcp``: Streamable HTTP, stateless (any worker answers any request: no sticky sessions),
  JSON responses; a request that carries a ``progressToken`` goes to a second manager that may
  answer with an SSE stream, so its ``notifications/progress`` reach the client
  (:class:`ProgressRouter`). 2026-07-28 requests go the SDK's per-request path (``server/discover``);
  2025-11-25/2025-06-18 clients do the ``initialize`` handshake, stateless.
- ``/mcp/sse`` (GET) + ``/mcp/messages`` (POST): the legacy HTTP+SSE transport. A stream lives
  in the worker that accepted it; a message POSTed to another worker is relayed to it through
  Redis (``mcp_gateway.sse_relay``), so no sticky sessions are needed here either.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager

from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.responses import Response

from .auth import AuthGate, security_settings
from .server import build_server, session_options
from .sse_relay import SseRelay, unavailable_response

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SSE_PATH = "/mcp/sse"
MESSAGES_PATH = "/mcp/messages"


class ProgressRouter:
    """POSTs whose JSON-RPC params carry ``_meta.progressToken`` → ``streaming`` (SSE responses,
    so progress notifications are delivered); everything else → ``plain`` (JSON responses).
    The body is read once here and replayed to the chosen app."""

    def __init__(self, plain, streaming):
        self.plain, self.streaming = plain, streaming

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.plain(scope, receive, send)
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        app = self.streaming if b"progressToken" in body and _has_progress_token(body) else self.plain

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await app(scope, replay, send)


def _has_progress_token(body: bytes) -> bool:
    try:
        message = json.loads(body)
    except ValueError:
        return False
    meta = (message.get("params") or {}).get("_meta") if isinstance(message, dict) else None
    return isinstance(meta, dict) and meta.get("progressToken") is not None


def mounts():
    server = build_server()
    security = security_settings()
    manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True,
                                           security_settings=security)
    streaming = StreamableHTTPSessionManager(app=server, stateless=True, json_response=False,
                                             security_settings=security)

    @asynccontextmanager
    async def run_managers():
        async with manager.run(), streaming.run():
            yield
    sse = SseServerTransport(MESSAGES_PATH, security_settings=security)
    relay = SseRelay(sse)

    async def sse_endpoint(scope, receive, send):
        if scope["method"] != "GET":
            return await Response(status_code=405, headers={"Allow": "GET"})(scope, receive, send)
        if relay.unavailable:  # started without Redis: stateless /mcp works, the SSE relay does not
            return await unavailable_response(scope, receive, send)
        try:
            async with sse.connect_sse(scope, receive, send) as (read_stream, write_stream):
                await server.run(read_stream, write_stream, session_options(server))
        except ValueError:  # refused by the transport's own checks; it already answered
            logger.info("SSE connection refused")

    return [
        ({MCP_PATH}, AuthGate(ProgressRouter(StreamableHTTPASGIApp(manager), StreamableHTTPASGIApp(streaming)),
                              "http"), run_managers),
        ({SSE_PATH}, AuthGate(sse_endpoint, "sse"), relay.lifespan),
        ({MESSAGES_PATH}, AuthGate(relay.handle_post_message, "sse"), None),
    ]
