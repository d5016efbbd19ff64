"""``manage.py mcp config|init|stdio``: client setup and the stdio transport.

- ``mcp config [--client NAME] [--api-key KEY]``: print the endpoint and client snippets.
- ``mcp init claude|claude-code|cursor|windsurf|vscode [--path FILE] [--home DIR] [--api-key KEY]``:
  merge our server into that client's config file (other servers kept, old file backed up,
  0600 when the entry holds a key).
- ``mcp purge-audit [--days N]``: delete audit rows older than N days (MCP_AUDIT_RETENTION_DAYS).
- ``mcp stdio``: serve the same tools over stdin/stdout as the owner of ``INVENTORY_API_KEY``.
  ``mcp stdio --url https://host/mcp``: bridge stdio to a remote server's /mcp with that key.
  Nothing but MCP messages on stdout, and only warnings of our own on stderr.
- ``mcp start [--port P] [--workers N] [--no-worker]``: run the server (web + /mcp + Celery worker
  and beat, as ``make run``) in the background: pid file and log under ``DATA_DIR``; refuses a
  second start. ``mcp status``: URL, pid, uptime, health and the last log lines. ``mcp logs
  [--lines N]``. ``mcp stop``: ends the process group ``start`` started, nothing else.
"""

from __future__ import annotations

import json
import os

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory.management.cli import WithExamples
from mcp_gateway import clients


class Command(WithExamples, BaseCommand):
    help = "MCP gateway: print client config, write it into a client, or serve over stdio."
    examples = ("config --client claude-code", "init cursor --api-key-env INVENTORY_API_KEY", "stdio",
                "start --port 8001 --workers 2", "status", "logs --lines 100", "purge-audit --days 30")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True)
        config = sub.add_parser("config", help="Print the endpoint and client snippets (JSON).")
        config.add_argument("--client", choices=clients.CLIENTS)
        config.add_argument("--api-key", help="Put this API key in the snippets (default: OAuth, no key).")

        init = sub.add_parser("init", help="Merge the server into a client's config file.")
        init.add_argument("client", choices=clients.CLIENTS)
        init.add_argument("--path", help="Config file to write (default: the client's usual file).")
        init.add_argument("--home", help="Home directory to find the client's file in (default: ~).")
        init.add_argument("--api-key", help="Authenticate with this API key (default: OAuth in the client). "
                                            "Prefer --api-key-stdin / --api-key-env: a command line is visible to others.")
        init.add_argument("--api-key-stdin", action="store_true", help="Read the API key from stdin.")
        init.add_argument("--api-key-env", metavar="VAR", help="Read the API key from this environment variable.")
        init.add_argument("--name", help="Server name in the client (default: MCP_SERVER_NAME).")
        init.add_argument("--url", help="Endpoint (default: PUBLIC_URL/mcp).")

        purge = sub.add_parser("purge-audit", help="Delete MCP audit rows older than --days.")
        purge.add_argument("--days", type=int, help="Default: MCP_AUDIT_RETENTION_DAYS.")

        stdio = sub.add_parser("stdio", help="Serve the tools over stdio (INVENTORY_API_KEY).")
        stdio.add_argument("--url", help="Bridge to this remote /mcp endpoint instead of serving locally.")

        start = sub.add_parser("start", help="Run the server (web + MCP + worker) in the background.")
        start.add_argument("--port", type=int, help="Default: PUBLIC_URL's port.")
        start.add_argument("--workers", type=int, help="uvicorn workers (default: WEB_WORKERS or 1).")
        start.add_argument("--no-worker", action="store_true", help="Do not start Celery.")
        start.add_argument("--wait", type=float, default=60, help="Seconds to wait for it to answer (default 60).")
        sub.add_parser("stop", help="Stop what `mcp start` started.")
        sub.add_parser("status", help="URL, pid, uptime and the last log lines of `mcp start`'s server.")
        logs = sub.add_parser("logs", help="The log of `mcp start`'s server.")
        logs.add_argument("--lines", type=int, default=50, help="Last N lines (default 50; 0: all).")

    def handle(self, *args, sub, **opts):
        return getattr(self, f"do_{sub.replace('-', '_')}")(**opts)

    # --- config / init -------------------------------------------------------------------
    def do_config(self, client=None, api_key=None, **_):
        data = clients.describe(api_key=api_key)
        out = data["clients"][client] if client else data
        self.stdout.write(json.dumps(out, indent=2))

    def do_init(self, client, path=None, home=None, api_key=None, name=None, url=None, api_key_stdin=False,
                api_key_env=None, **_):
        import sys

        if sum(bool(x) for x in (api_key, api_key_stdin, api_key_env)) > 1:
            raise CommandError("Give the key one way: --api-key, --api-key-stdin or --api-key-env.")
        if api_key_stdin:
            api_key = sys.stdin.readline().strip()
            if not api_key:
                raise CommandError("No API key on stdin.")
        elif api_key_env:
            api_key = os.environ.get(api_key_env, "").strip()
            if not api_key:
                raise CommandError(f"The environment variable {api_key_env} is empty or unset.")
        if api_key:  # checked before anything is written
            from mcp_gateway.server import authenticate

            if authenticate(api_key, resource=None) is None:
                raise CommandError("That API key is not valid (unknown, revoked or expired): nothing was written.")
        target = Path(path) if path else clients.config_path(client, home=Path(home) if home else None)
        try:
            written, backup = clients.merge_into(target, client, url=url, api_key=api_key, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote {name or clients.server_name()} to {written}")
        if backup:
            self.stdout.write(f"Backup of the previous file: {backup}")
        if client == "vscode" and api_key:
            self.stdout.write(f"The key is not in the file: VS Code asks for it (input '{clients.VSCODE_INPUT}') "
                              "when it first starts the server and keeps it in its secret storage.")
        elif not api_key:
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

    # --- background server --------------------------------------------------------------------
    def do_start(self, port=None, workers=None, no_worker=False, wait=60, **_):
        from mcp_gateway import daemon

        try:
            info = daemon.start(port=port, workers=workers, no_worker=no_worker, wait=wait)
        except daemon.DaemonError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Started: {info['url']} (pid {info['pid']}; log {daemon.log_path()}). "
                          f"MCP endpoint: {info['url'].rstrip('/')}/mcp")

    def do_stop(self, **_):
        from mcp_gateway import daemon

        try:
            pid = daemon.stop()
        except daemon.DaemonError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Stopped (pid {pid}).")

    def do_status(self, **_):
        from mcp_gateway import daemon

        info = daemon.status()
        if info is None:
            self.stdout.write("Not running (start it with: manage.py mcp start).")
            raise SystemExit(3)
        self.stdout.write(f"Running: {info['url']}  pid {info['pid']}  up {info['uptime']}  "
                          f"health: {info['health']}  log: {daemon.log_path()}")
        self.stdout.write("".join(daemon.tail(10)))

    def do_logs(self, lines=50, **_):
        from mcp_gateway import daemon

        self.stdout.write("".join(daemon.tail(lines or None)), ending="")

    # --- stdio ------------------------------------------------------------------------------
    def do_stdio(self, url=None, **_):
        import anyio

        quiet_libraries()

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


def quiet_libraries() -> None:
    """stdio: stderr is the user's terminal or the client's log; libraries' chatter stays out
    (kombu's "No hostname was supplied", a line per HTTP request in --url mode)."""
    import logging

    for name in ("kombu", "celery", "httpx", "httpx2", "httpcore", "mcp", "uvicorn", "asyncio"):
        logging.getLogger(name).setLevel(logging.ERROR)


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
