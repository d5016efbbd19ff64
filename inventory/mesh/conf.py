"""Mesh settings (imported by inventory.settings after the jobs' settings)."""

import environ

_env = environ.Env()

#: a peer is "up" when its latest handshake is at most this old (WireGuard re-handshakes
#: every 2 minutes on a live tunnel), "stale" when older
MESH_HANDSHAKE_UP_SECONDS = _env.int("MESH_HANDSHAKE_UP_SECONDS", default=180)

from inventory.jobs.conf import MCP_TOOL_MODULES as _mcp_modules  # noqa: E402

MCP_TOOL_MODULES = [*_mcp_modules, "inventory.mesh.mcp_tools"]
