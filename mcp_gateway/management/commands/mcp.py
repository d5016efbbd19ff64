"""``manage.py mcp config|init|stdio``: client setup and the stdio transport.

- ``mcp config [--client NAME] [--api-key KEY]``: print the endpoint and client snippets.
- ``mcp init claude|claude-code|cursor|windsurf|vscode [--path FILE] [--home DIR] [--api-key KEY]``:
  merge our server into that client's config file (other servers kept, old file backed up,
  0600 when the entry holds a key).
- ``mcp purge-audit [--days N]``: delete audit rows older than N days (MCP_AUDIT_RETENTION_DAYS).
- ``mcp stdio``: serve the same tools over stdin/stdout as the owner of ``INVENTORY_API_KEY``.
  ``mcp stdio --url https://host/mcp``: bridge stdio to a remote server's /mcp with that key.
"""

from __future__ import annotations

import json
import os

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mcp_gateway import clients


class Command(BaseCommand):
    help = "MCP gateway: print client config, write it into a client, or serve over stdio."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True)
        config = sub.add_parser("config", help="Print the endpoint and client snippets (JSON).")
        config.add_argument("--client", choices=clients.CLIENTS)
        config.add_argument("--api-key", help="Put this API key in the snippets (default: OAuth, no key).")

        init = sub.add_parser("init", help="Merge the server into a client's config file.")
        init.add_argument("client", choices=clients.CLIENTS)
        init.add_argument("--path", help="Config file to write (default: the client's usual file).")
        init.add_argument("--home", help="Home directory to find the client's file in (default: ~).")
        init.add_argument("--api-key", help="Authenticate with this API key (default: OAuth in the client).")
        init.add_argument("--name", help="Server name in the client (default: MCP_SERVER_NAME).")
        init.add_argument("--url", help="Endpoint (default: PUBLIC_URL/mcp).")

        purge = sub.add_parser("purge-audit", help="Delete MCP audit rows older than --days.")
        purge.add_argument("--days", type=int, help="Default: MCP_AUDIT_RETENTION_DAYS.")

        stdio = sub.add_parser("stdio", help="Serve the tools over stdio (INVENTORY_API_KEY).")
        stdio.add_argument("--url", help="Bridge to this remote /mcp endpoint instead of serving locally.")

    def handle(self, *args, sub, **opts):
        return getattr(self, f"do_{sub.replace('-', '_')}")(**opts)

    # --- config / init -------------------------------------------------------------------
    def do_config(self, client=None, api_key=None, **_):
        data = clients.describe(api_key=api_key)
        out = data["clients"][client] if client else data
        self.stdout.write(json.dumps(out, indent=2))

    def do_init(self, client, path=None, home=None, api_key=None, name=None, url=None, **_):
        target = Path(path) if path else clients.config_path(client, home=Path(home) if home else None)
        try:
            written, backup = clients.merge_into(target, client, url=url, api_key=api_key, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote {name or clients.server_name()} to {written}")
        if backup:
            self.stdout.write(f"Backup of the previous file: {backup}")
        if not api_key:
            self.stdout.write("The client will ask you to sign in (OAuth) on first use.")

    def do_purge_audit(self, days=None, **_):
        from datetime import timedelta

        from django.conf import settings
        from django.utils import timezone

        from mcp_gateway.models import McpCall

        days = settings.MCP_AUDIT_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1.")
        deleted, _ = McpCall.objects.filter(created__lt=timezone.now() - timedelta(days=days)).delete()
        self.stdout.write(f"Deleted {deleted} MCP audit rows older than {days} days.")

    # --- stdio ------------------------------------------------------------------------------
    def do_stdio(self, url=None, **_):
        import anyio

        key = os.environ.get("INVENTORY_API_KEY", "").strip()
        if not key:
            raise CommandError("Set INVENTORY_API_KEY to an API key (manage.py apikey create ...).")
        if url:
            anyio.run(bridge, url, key)
            return
        from mcp_gateway.server import authenticate

        if authenticate(key, resource=None) is None:
            raise CommandError("INVENTORY_API_KEY is not a valid, active API key.")
        anyio.run(serve_stdio, key)


async def serve_stdio(key: str) -> None:
    from mcp.server.stdio import stdio_server

    from mcp_gateway.server import CallerEnv, build_server, session_options

    env = CallerEnv(principal=None, transport="stdio", user_agent="stdio", credential=key)
    server = build_server(lambda ctx: env)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, session_options(server))


async def bridge(url: str, key: str) -> None:
    """A local stdio server whose tools are the remote server's, called with the key."""
    import httpx2 as httpx
    import mcp_types as types
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server import Server
    from mcp.server.stdio import stdio_server

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="auto") as remote:

            async def list_tools(ctx, params) -> types.ListToolsResult:
                return await remote.list_tools()

            async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
                return await remote.session.call_tool(params.name, params.arguments or {})

            info = remote.server_info
            server = Server(info.name if info else "inventory", version=info.version if info else "",
                            instructions=remote.instructions, on_list_tools=list_tools, on_call_tool=call_tool)
            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())



