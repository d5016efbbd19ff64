"""Mounts for inventory.asgi: exact paths → ASGI apps (+ lifespan to run in the dispatcher).

- ``/mcp``: Streamable HTTP, stateless (any worker answers any request: no sticky sessions),
  JSON responses. 2026-07-28 requests go the SDK's per-request path (``server/discover``);
  2025-11-25/2025-06-18 clients do the ``initialize`` handshake, stateless.
- ``/mcp/sse`` (GET) + ``/mcp/messages`` (POST): the legacy HTTP+SSE transport. A stream lives
  in the worker that accepted it; a message POSTed to another worker is relayed to it through
  Redis (``mcp_gateway.sse_relay``), so no sticky sessions are needed here either.
"""

from __future__ import annotations

import logging

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


def mounts():
    server = build_server()
    security = security_settings()
    manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True,
                                           security_settings=security)
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
        ({MCP_PATH}, AuthGate(StreamableHTTPASGIApp(manager), "http"), manager.run),
        ({SSE_PATH}, AuthGate(sse_endpoint, "sse"), relay.lifespan),
        ({MESSAGES_PATH}, AuthGate(relay.handle_post_message, "sse"), None),
    ]
