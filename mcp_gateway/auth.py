"""The ASGI gate in front of every MCP HTTP endpoint (/mcp, /mcp/sse, /mcp/messages).

In order: DNS-rebinding protection (Host → 421, Origin → 403, as the SDK answers), bearer
authentication (401 with the RFC 9728 ``resource_metadata`` challenge), and — when a 2026
client names the tool in ``Mcp-Method``/``Mcp-Name`` headers — the per-tool scope check as an
HTTP 403 ``insufficient_scope`` challenge naming the scope. The caller's :class:`CallerEnv`
then travels in ``scope["state"]["mcp_env"]`` to the tool handlers.
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, decode_header_value
from starlette.requests import Request

from inventory.outages import unavailable

from .registry import registry
from .server import CallerEnv, authenticate, run_sync
from .sse_relay import authenticated_user


def security_settings() -> TransportSecuritySettings:
    """Hosts and origins allowed on /mcp: ALLOWED_HOSTS (any port), PUBLIC_URL's origin,
    loopback, plus MCP_ALLOWED_HOSTS / MCP_ALLOWED_ORIGINS."""
    from urllib.parse import urlsplit

    public = urlsplit(settings.PUBLIC_URL)
    hosts, origins = set(getattr(settings, "MCP_ALLOWED_HOSTS", [])), set(getattr(settings, "MCP_ALLOWED_ORIGINS", []))
    origins.add(f"{public.scheme}://{public.netloc}")
    hosts.add(public.netloc)
    for host in [*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost", "[::1]"]:
        if host in ("*", "") or host.startswith("."):
            continue  # wildcards are not allowed through: name the hosts
        hosts.update({host, f"{host}:*"})
        if host in ("127.0.0.1", "localhost", "[::1]"):
            origins.update({f"http://{host}:*", f"http://{host}", f"https://{host}:*"})
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=sorted(hosts), allowed_origins=sorted(origins))


async def _send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


async def send_unavailable(send, dependency: str) -> None:
    """503 + ``Retry-After`` with a JSON-RPC error body: a dependency is down (nothing else to say)."""
    from inventory.outages import RETRY_AFTER, message

    from .server import UNAVAILABLE

    await _send_json(send, 503, {"jsonrpc": "2.0", "id": None, "error": {
        "code": UNAVAILABLE, "message": message(dependency), "data": {"dependency": dependency, "retry_after": RETRY_AFTER}}},
        [(b"retry-after", str(RETRY_AFTER).encode())])


def client_ip(scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


class AuthGate:
    def __init__(self, app, transport: str = "http"):
        self.app = app
        self.transport = transport
        self.security = TransportSecurityMiddleware(security_settings())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from oauth import challenges

        request = Request(scope)
        refused = await self.security.validate_request(request, is_post=False)
        if refused is not None:
            return await refused(scope, receive, send)

        header = request.headers.get("authorization", "")
        principal = None
        if header[:7].lower() == "bearer ":
            try:
                principal = await run_sync(authenticate, header[7:].strip())
            except Exception as exc:
                dependency = unavailable(exc)
                if not dependency:
                    raise
                return await send_unavailable(send, dependency)
        if principal is None:
            kwargs = {"error": "invalid_token", "description": "The bearer token is invalid, expired or revoked."} if header else {}
            return await _send_json(
                send, 401, {"error": kwargs.get("error", "unauthorized"),
                            "error_description": kwargs.get("description", "Authentication required.")},
                [(b"www-authenticate", challenges.unauthorized(**kwargs).encode())],
            )

        env = CallerEnv(principal=principal, transport=self.transport, ip=client_ip(scope),
                        user_agent=request.headers.get("user-agent", ""))
        if request.headers.get(MCP_METHOD_HEADER) == "tools/call" and request.headers.get(MCP_NAME_HEADER):
            tool = registry.get(decode_header_value(request.headers.get(MCP_NAME_HEADER)) or "")
            missing = principal.missing_scopes(tool.action) if tool else []
            if missing:
                await run_sync(self._audit_denied, tool, env, missing)
                return await _send_json(
                    send, 403,
                    {"error": "insufficient_scope", "error_description": f"{tool.name} needs {' '.join(missing)}."},
                    [(b"www-authenticate", challenges.insufficient_scope(
                        missing, description=f"{tool.name} needs {' '.join(missing)}").encode())],
                )

        scope.setdefault("state", {})["mcp_env"] = env
        scope["user"] = authenticated_user(principal)  # the SDK binds SSE sessions to it
        return await self.app(scope, receive, send)

    @staticmethod
    def _audit_denied(tool, env, missing):
        from . import audit

        audit.record(call_id=uuid.uuid4(), principal=env.principal, tool_name=tool.name, arguments={},
                     outcome="denied", error_code="FORBIDDEN",
                     error_message=f"insufficient_scope: needs {' '.join(missing)}", duration_ms=0.0,
                     ip=env.ip, user_agent=env.user_agent, transport=env.transport)

