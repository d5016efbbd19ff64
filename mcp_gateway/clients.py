"""Ready-to-paste MCP client configurations (formats: /work/shared/mcp-clients.md).

One source for ``GET /api/mcp/config``, ``manage.py mcp config|init`` and the admin's
"MCP Server" dialog. Without an API key the snippets rely on OAuth (clients discover it from
the 401 challenge); with one, the key goes in a header (or the env of a stdio bridge).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

from django.conf import settings

CLIENTS = ("claude", "claude-code", "cursor", "windsurf", "vscode")


def endpoint() -> str:
    return settings.PUBLIC_URL.rstrip("/") + "/mcp"


def server_name() -> str:
    return getattr(settings, "MCP_SERVER_NAME", "inventory")


def _headers(api_key: str | None) -> dict:
    return {"headers": {"Authorization": f"Bearer {api_key}"}} if api_key else {}


def entry(client: str, *, url: str | None = None, api_key: str | None = None) -> dict:
    """The server entry for ``client`` (what goes under mcpServers/servers → NAME)."""
    url = url or endpoint()
    if client == "claude":  # Claude Desktop's JSON file takes commands: the mcp-remote bridge
        args = ["-y", "mcp-remote", url]
        if api_key:
            return {"command": "npx", "args": [*args, "--header", "Authorization:${AUTH_HEADER}"],
                    "env": {"AUTH_HEADER": f"Bearer {api_key}"}}
        return {"command": "npx", "args": args}
    if client == "claude-code":
        return {"type": "http", "url": url, **_headers(api_key)}
    if client == "cursor":
        return {"url": url, **_headers(api_key)}
    if client == "windsurf":
        return {"serverUrl": url, **_headers(api_key)}
    if client == "vscode":
        return {"type": "http", "url": url, **_headers(api_key)}
    raise ValueError(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")


def root_key(client: str) -> str:
    return "servers" if client == "vscode" else "mcpServers"


def snippet(client: str, *, url: str | None = None, api_key: str | None = None, name: str | None = None) -> dict:
    return {root_key(client): {name or server_name(): entry(client, url=url, api_key=api_key)}}


def config_path(client: str, home: Path | None = None, cwd: Path | None = None) -> Path:
    home = Path(home or Path.home())
    if client == "claude":
        if sys.platform == "darwin":
            return home / "Library/Application Support/Claude/claude_desktop_config.json"
        if os.name == "nt":
            return Path(os.environ.get("APPDATA", home)) / "Claude/claude_desktop_config.json"
        return home / ".config/Claude/claude_desktop_config.json"
    if client == "claude-code":
        return home / ".claude.json"
    if client == "cursor":
        return home / ".cursor/mcp.json"
    if client == "windsurf":
        return home / ".codeium/windsurf/mcp_config.json"
    if client == "vscode":
        return Path(cwd or Path.cwd()) / ".vscode/mcp.json"
    raise ValueError(f"unknown client {client!r}")


def describe(*, api_key: str | None = None) -> dict:
    """Everything a client needs: endpoint, transports, auth discovery and per-client snippets."""
    from oauth.challenges import resource_metadata_url

    url = endpoint()
    name = server_name()
    snippets = {c: snippet(c, url=url, api_key=api_key, name=name) for c in CLIENTS}
    return {
        "name": name,
        "url": url,
        "transport": "streamable-http",
        "sse_url": url + "/sse",
        "protocol_versions": ["2026-07-28", "2025-11-25", "2025-06-18"],
        "auth": {
            "type": "oauth2",
            "resource": url,
            "resource_metadata": resource_metadata_url("/mcp"),
            "authorization_server": settings.PUBLIC_URL.rstrip("/"),
            "api_keys": "Authorization: Bearer <API key> is accepted too.",
        },
        "clients": snippets,
        "commands": {
            "claude-code": f"claude mcp add --transport http {name} {url}"
            + (f' --header "Authorization: Bearer {api_key}"' if api_key else ""),
            "stdio": "INVENTORY_API_KEY=<key> python manage.py mcp stdio",
            "stdio-bridge": f"INVENTORY_API_KEY=<key> python manage.py mcp stdio --url {url}",
        },
    }


def merge_into(path: Path, client: str, *, url: str | None = None, api_key: str | None = None,
               name: str | None = None) -> tuple[Path, Path | None]:
    """Add/replace our entry in the client's config file, keeping everything else.

    The old file is copied to ``<file>.bak-<timestamp>`` first. A file holding a key is 0600.
    Returns (path, backup or None). Refuses (ValueError) to touch a file that is not a JSON object.
    """
    path = Path(path)
    data: dict = {}
    backup = None
    if path.exists():
        text = path.read_text() or "{}"
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); fix or move it first") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} does not hold a JSON object")
        backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d%H%M%S')}")
        shutil.copy2(path, backup)
    root = root_key(client)
    servers = data.get(root)
    if servers is None:
        servers = data[root] = {}
    if not isinstance(servers, dict):
        raise ValueError(f"{path}: '{root}' is not a JSON object")
    servers[name or server_name()] = entry(client, url=url, api_key=api_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    mode = 0o600 if api_key else 0o644
    if path.exists() and not api_key:
        mode = stat.S_IMODE(path.stat().st_mode)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    if backup is not None:  # the old file may hold keys too
        os.chmod(backup, 0o600)
    return path, backup
