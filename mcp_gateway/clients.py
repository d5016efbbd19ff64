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
    if client == "vscode":  # the key is a VS Code input: VS Code asks for it and keeps it in its secret storage
        return {"type": "http", "url": url,
                **({"headers": {"Authorization": f"Bearer ${{input:{VSCODE_INPUT}}}"}} if api_key else {})}
    raise ValueError(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")


VSCODE_INPUT = "inventory-api-key"


def vscode_input() -> dict:
    return {"type": "promptString", "id": VSCODE_INPUT, "description": f"API key for {server_name()} ({endpoint()})",
            "password": True}


#: where each client's snippet belongs (the admin dialog and ``mcp config`` name it)
FILES = {
    "claude": "Claude Desktop: claude_desktop_config.json (macOS ~/Library/Application Support/Claude/, "
              "Windows %APPDATA%\\Claude\\, Linux ~/.config/Claude/)",
    "claude-code": "Claude Code: .mcp.json in the project, or ~/.claude.json",
    "cursor": "Cursor: ~/.cursor/mcp.json, or .cursor/mcp.json in the project",
    "windsurf": "Windsurf: ~/.codeium/windsurf/mcp_config.json",
    "vscode": "VS Code: .vscode/mcp.json in the workspace (or the user mcp.json)",
}


def root_key(client: str) -> str:
    return "servers" if client == "vscode" else "mcpServers"


def snippet(client: str, *, url: str | None = None, api_key: str | None = None, name: str | None = None) -> dict:
    data = {root_key(client): {name or server_name(): entry(client, url=url, api_key=api_key)}}
    if client == "vscode" and api_key:
        data = {"inputs": [vscode_input()], **data}
    return data


def config_path(client: str, home: Path | None = None, cwd: Path | None = None) -> Path:
    home_given = home is not None
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
        if home_given:  # the user-level file
            if sys.platform == "darwin":
                return home / "Library/Application Support/Code/User/mcp.json"
            return home / ".config/Code/User/mcp.json"
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
        "files": dict(FILES),
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
    header = ""
    if path.exists():
        text = path.read_text() or "{}"
        try:
            data = json.loads(strip_jsonc(text))  # VS Code & co. write JSON with comments and trailing commas
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); fix or move it first") from None
        header = leading_comments(text)
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
    if client == "vscode" and api_key:
        inputs = data.get("inputs")
        if inputs is None:
            inputs = data["inputs"] = []
        if not isinstance(inputs, list):
            raise ValueError(f"{path}: 'inputs' is not a JSON array")
        inputs[:] = [i for i in inputs if not (isinstance(i, dict) and i.get("id") == VSCODE_INPUT)]
        inputs.append(vscode_input())
        api_key = None  # nothing secret is written: VS Code asks for the key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    mode = 0o600 if api_key else 0o644
    if path.exists() and not api_key:
        mode = stat.S_IMODE(path.stat().st_mode)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(header)
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    if backup is not None:  # the old file may hold keys too
        os.chmod(backup, 0o600)
    return path, backup


def strip_jsonc(text: str) -> str:
    """JSON with comments (``//``, ``/* */``) and trailing commas → JSON (strings untouched)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    cleaned = "".join(out)
    # trailing commas: a comma followed (after whitespace) by } or ]
    result, k = [], 0
    in_string = False
    while k < len(cleaned):
        c = cleaned[k]
        if in_string:
            result.append(c)
            if c == "\\":
                result.append(cleaned[k + 1:k + 2])
                k += 2
                continue
            if c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            result.append(c)
        elif c == ",":
            rest = cleaned[k + 1:].lstrip()
            if not rest.startswith(("}", "]")):
                result.append(c)
        else:
            result.append(c)
        k += 1
    return "".join(result)


def leading_comments(text: str) -> str:
    """The comment lines before the top-level value (kept when the file is rewritten; comments
    inside it are not, the backup has them)."""
    kept = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("//") or not stripped:
            kept.append(line)
        else:
            break
    return "".join(kept).lstrip("\n") if any(l.strip() for l in kept) else ""
