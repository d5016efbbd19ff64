"""The ASGI gate in front of every MCP HTTP endpoint (/mcp, /mcp/sse, /mcp/messages).

In order: DNS-rebinding protection (Host → 421, Origin → 403, as the SDK answers), bearer
authentication (401 with the RFC 9728 ``resource_metadata`` challenge), and — when a 2026
client names the tool in ``Mcp-Method``/``Mcp-Name`` headers — the per-tool scope check as an
HTTP 403 ``insufficient_scope`` challenge naming the scope. The caller's :class:`CallerEnv`
then travels in ``scope["state"]["mcp_env"]`` to the tool handlers.
"""

from __future__ import annotations

import json
import re
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


_HOST = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?P<port>[0-9]{1,5}|\*))?$")
_ORIGIN = re.compile(r"^(?P<scheme>https?)://(?P<rest>[^/?#@\s]+)$")


def _split_host(value: str, *, pattern: bool = False) -> tuple[str, str | None] | None:
    """``"host[:port]"`` → (lower-case host, port or None); None when it is not exactly that (user
    info, paths, a second host, a port above 65535...). ``pattern``: the port may be ``*``."""
    match = _HOST.match(value or "")
    if match is None:
        return None
    port = match["port"]
    if port == "*" and not pattern:
        return None
    if port not in (None, "*") and not 0 < int(port) <= 65535:
        return None
    return match["host"].lower().rstrip("."), port


class HostOriginCheck:
    """DNS-rebinding protection that parses, then compares host and port exactly.

    The SDK's own check matches wildcard ports by prefix (``startswith(base + ":")``), so
    ``127.0.0.1:8000.evil.example`` or ``127.0.0.1:8000@evil.example`` passed for
    ``127.0.0.1:*``. Allowed values are those of :func:`security_settings`: ``host``,
    ``host:port`` or ``host:*`` (and ``scheme://`` before them for origins).
    """

    def __init__(self, settings_: TransportSecuritySettings):
        self.hosts = [h for h in (_split_host(v, pattern=True) for v in settings_.allowed_hosts) if h]
        self.origins = []
        for value in settings_.allowed_origins:
            match = _ORIGIN.match(value)
            host = _split_host(match["rest"], pattern=True) if match else None
            if host:
                self.origins.append((match["scheme"].lower(), *host))

    @staticmethod
    def _matches(candidate, allowed) -> bool:
        host, port = candidate
        return any(host == a_host and (a_port == "*" and port is not None or a_port == port)
                   for a_host, a_port in allowed)

    def host_allowed(self, value: str | None) -> bool:
        candidate = _split_host(value or "")
        return candidate is not None and self._matches(candidate, self.hosts)

    def origin_allowed(self, value: str | None) -> bool:
        if not value:  # absent: not a browser's cross-origin request
            return True
        match = _ORIGIN.match(value)
        candidate = _split_host(match["rest"]) if match else None
        if candidate is None:
            return False
        scheme = match["scheme"].lower()
        return any(scheme == a_scheme and self._matches(candidate, [(a_host, a_port)])
                   for a_scheme, a_host, a_port in self.origins)

    def refusal(self, request: Request):
        """The SDK's answers (421 for the Host, 403 for the Origin), or None."""
        from starlette.responses import Response

        if not self.host_allowed(request.headers.get("host")):
            return Response("Invalid Host header", status_code=421)
        if not self.origin_allowed(request.headers.get("origin")):
            return Response("Invalid Origin header", status_code=403)
        return None


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
        self.exact = HostOriginCheck(security_settings())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from oauth import challenges

        request = Request(scope)
        refused = self.exact.refusal(request) or await self.security.validate_request(request, is_post=False)
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

