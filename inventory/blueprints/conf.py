"""Blueprint settings (imported by inventory.settings)."""

import environ

_env = environ.Env()

#: a plan that creates more devices than this needs confirmation (as does one that changes
#: devices already in production, status "active")
BLUEPRINTS_CONFIRM_CREATED_DEVICES = _env.int("BLUEPRINTS_CONFIRM_CREATED_DEVICES", default=3)
#: appended to MCP_TOOL_MODULES by inventory.settings
BLUEPRINTS_MCP_TOOL_MODULES = ["inventory.blueprints.mcp_tools"]
