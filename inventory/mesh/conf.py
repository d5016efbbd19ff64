"""Mesh settings (imported by inventory.settings after the jobs' settings)."""

import environ

_env = environ.Env()

#: a peer is "up" when its latest handshake is at most this old (WireGuard re-handshakes
#: every 2 minutes on a live tunnel), "stale" when older
MESH_HANDSHAKE_UP_SECONDS = _env.int("MESH_HANDSHAKE_UP_SECONDS", default=180)
#: mesh_status / mesh_check: SSH sessions to peers at the same time (one event loop in the job)
MESH_CONCURRENCY = _env.int("MESH_CONCURRENCY", default=8)

#: appended to JOBS_SECRET_PROVIDERS by inventory.settings: a device's mesh private keys are masked
#: wherever a job's input or output is stored or shown (role steps of type join_mesh put them in files)
MESH_SECRET_PROVIDERS = ["inventory.mesh.steps.device_private_keys"]

from inventory.jobs.conf import MCP_TOOL_MODULES as _mcp_modules  # noqa: E402

MCP_TOOL_MODULES = [*_mcp_modules, "inventory.mesh.mcp_tools"]
