"""Settings of the configuration app (imported by inventory.settings)."""

import environ

from inventory.jobs.conf import JOBS_PLAN_PROVIDERS as _providers
from inventory.jobs.conf import JOBS_SECRET_PROVIDERS as _secret_providers

_env = environ.Env()

#: role templates: render time (seconds) and output size (bytes) caps per template or command
CONFIGURATION_RENDER_TIMEOUT = _env.float("CONFIGURATION_RENDER_TIMEOUT", default=2.0)
CONFIGURATION_RENDER_MAX_BYTES = _env.int("CONFIGURATION_RENDER_MAX_BYTES", default=262144)

#: devices with roles are provisioned from their roles; others by the next provider
_ROLE_PLAN = "inventory.configuration.plans.role_plan"
JOBS_PLAN_PROVIDERS = _providers if _ROLE_PLAN in _providers else [_ROLE_PLAN, *_providers]
#: the device's secrets (every scope it sees) are masked wherever a job's input is stored or shown
_SECRETS = "inventory.configuration.resolve.secret_values"
JOBS_SECRET_PROVIDERS = _secret_providers if _SECRETS in _secret_providers else [*_secret_providers, _SECRETS]
#: appended to MCP_TOOL_MODULES by inventory.settings after every app's settings (each app's conf
#: extends the jobs' list, so the last import would drop the others' modules)
CONFIGURATION_MCP_TOOL_MODULES = ["inventory.configuration.mcp_tools"]
