"""Settings of the configuration app (imported by inventory.settings)."""

import environ

from inventory.jobs.conf import JOBS_PLAN_PROVIDERS as _providers
from inventory.jobs.conf import MCP_TOOL_MODULES as _mcp_modules

_env = environ.Env()

#: role templates: render time (seconds) and output size (bytes) caps per template or command
CONFIGURATION_RENDER_TIMEOUT = _env.float("CONFIGURATION_RENDER_TIMEOUT", default=2.0)
CONFIGURATION_RENDER_MAX_BYTES = _env.int("CONFIGURATION_RENDER_MAX_BYTES", default=262144)

#: devices with roles are provisioned from their roles; others by the next provider
_ROLE_PLAN = "inventory.configuration.plans.role_plan"
JOBS_PLAN_PROVIDERS = _providers if _ROLE_PLAN in _providers else [_ROLE_PLAN, *_providers]
MCP_TOOL_MODULES = [*_mcp_modules, "inventory.configuration.mcp_tools"]
