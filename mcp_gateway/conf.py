"""MCP gateway settings (imported by inventory.settings)."""

import environ as _environ

_env = _environ.Env()

#: modules that register MCP tools when imported (mcp_gateway.registry), in tool order
MCP_TOOL_MODULES = [
    "mcp_gateway.tools.inventory",
    "mcp_gateway.tools.ipam",
    "mcp_gateway.tools.tenants",
    "mcp_gateway.tools.kinds",  # every kind declared with an mcp part (inventory/kinds.py)
    "mcp_gateway.tools.catalog",  # tool_search, custom tools, progressive listing
]
#: tools/list: "full" (every tool the caller may call) or "progressive" (MCP_CORE_TOOLS + MCP_PINNED_TOOLS,
#: the rest through tool_search); an API key or OAuth client may choose its own
MCP_TOOL_LIST_MODE = _env.str("MCP_TOOL_LIST_MODE", default="full")
MCP_CORE_TOOLS = ["search", "device_list", "device_get", "job_get", "tool_search"]
MCP_PINNED_TOOLS = _env.list("MCP_PINNED_TOOLS", default=[])
#: name of the server in client configs and serverInfo
MCP_SERVER_NAME = _env.str("MCP_SERVER_NAME", default="inventory")
#: list tools: default page size and hard cap
MCP_LIST_DEFAULT_LIMIT = 50
MCP_LIST_MAX_LIMIT = _env.int("MCP_LIST_MAX_LIMIT", default=200)
#: extra Host / Origin values accepted on /mcp besides ALLOWED_HOSTS and PUBLIC_URL's origin
MCP_ALLOWED_HOSTS = _env.list("MCP_ALLOWED_HOSTS", default=[])
MCP_ALLOWED_ORIGINS = _env.list("MCP_ALLOWED_ORIGINS", default=[])
#: an OpenTelemetry span per MCP message (the SDK's OpenTelemetryMiddleware). Off by default: with
#: only opentelemetry-api installed (as here) every span is a no-op that still costs CPU on each
#: call; turn it on where an OpenTelemetry SDK and exporter are set up.
MCP_OPENTELEMETRY = _env.bool("MCP_OPENTELEMETRY", default=False)
#: keep audit rows this many days (mcp purge_audit)
MCP_AUDIT_RETENTION_DAYS = _env.int("MCP_AUDIT_RETENTION_DAYS", default=180)

#: seconds a confirmation (token, elicitation, input_required round) stays valid
MCP_CONFIRMATION_TTL = _env.int("MCP_CONFIRMATION_TTL", default=300)
#: keys sealing 2026-07-28 requestState (newest first, >= 32 characters); default derived from SECRET_KEY
MCP_REQUEST_STATE_KEYS = _env.list("MCP_REQUEST_STATE_KEYS", default=[])
#: job tools (discovery_scan, provisioning_trigger, command_execute, job_get, ...): seconds they wait
#: for the job when the client sent a progressToken and no ``wait``, the most ``wait`` may ask, and
#: how often the job is looked at while waiting
MCP_JOB_WAIT_DEFAULT = _env.int("MCP_JOB_WAIT_DEFAULT", default=10)
MCP_JOB_WAIT_MAX = _env.int("MCP_JOB_WAIT_MAX", default=120)
MCP_JOB_POLL_INTERVAL = 0.25
