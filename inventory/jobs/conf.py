"""Job settings (imported last by inventory.settings, so it may override CELERY_* there)."""

import environ

_env = environ.Env()

#: Fernet keys for inventory.fields.EncryptedTextField, newest first (comma-separated in the
#: environment). Empty: a key file is created under DATA_DIR on first use (mode 0600).
FIELD_ENCRYPTION_KEYS = _env.list("FIELD_ENCRYPTION_KEYS", default=[])

#: discovery: refuse networks with more addresses than this (default: a /16)
JOBS_SCAN_MAX_HOSTS = _env.int("JOBS_SCAN_MAX_HOSTS", default=65536)
#: discovery scans only reach addresses inside these networks (CIDRs, comma-separated in the
#: environment); default loopback, RFC 1918, RFC 6598 (carrier-grade NAT) and IPv6 ULA. A
#: tenant's admin may narrow it further (admin: Scan policies). Checked before a packet is sent.
JOBS_SCAN_ALLOWED_NETWORKS = _env.list("JOBS_SCAN_ALLOWED_NETWORKS", default=[
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"])
#: parallel probes (host × port connects) in flight at once
JOBS_SCAN_CONCURRENCY = _env.int("JOBS_SCAN_CONCURRENCY", default=256)
#: hosts probed between two progress/cancellation checks
JOBS_SCAN_BATCH = _env.int("JOBS_SCAN_BATCH", default=64)
JOBS_SCAN_CONNECT_TIMEOUT = _env.float("JOBS_SCAN_CONNECT_TIMEOUT", default=1.0)
JOBS_SCAN_BANNER_TIMEOUT = _env.float("JOBS_SCAN_BANNER_TIMEOUT", default=2.0)
#: ICMP echo: "auto" (when the process may open an unprivileged ICMP socket) or "off"
JOBS_SCAN_ICMP = _env.str("JOBS_SCAN_ICMP", default="auto")

#: SSH: connect timeout, default and maximum command timeout (seconds), output cap per stream
JOBS_SSH_CONNECT_TIMEOUT = _env.float("JOBS_SSH_CONNECT_TIMEOUT", default=15.0)
JOBS_COMMAND_TIMEOUT = _env.int("JOBS_COMMAND_TIMEOUT", default=300)
JOBS_COMMAND_MAX_TIMEOUT = _env.int("JOBS_COMMAND_MAX_TIMEOUT", default=3600)
JOBS_OUTPUT_LIMIT = _env.int("JOBS_OUTPUT_LIMIT", default=65536)

#: crash safety: a running job writes a heartbeat this often; a job whose worker died (or
#: whose heartbeat is older than JOBS_STALE_AFTER) is claimed again by a redelivered message
#: or re-sent by the periodic `jobs.requeue_stale` task
JOBS_HEARTBEAT_SECONDS = _env.float("JOBS_HEARTBEAT_SECONDS", default=10.0)
JOBS_STALE_AFTER = _env.float("JOBS_STALE_AFTER", default=120.0)
#: a job is attempted at most this many times (crash redeliveries included)
JOBS_MAX_ATTEMPTS = _env.int("JOBS_MAX_ATTEMPTS", default=3)

#: secrets known for a device besides its SSH credential: callables "module.function" (device) ->
#: iterable of str; their values are masked in stored job parameters and MCP audit rows
JOBS_SECRET_PROVIDERS = _env.list("JOBS_SECRET_PROVIDERS", default=[])

#: provisioning: callables "module.function" (device, params) -> list of step dicts or None;
#: the first that returns steps supplies the plan (roles/blueprints can plug in here)
JOBS_PLAN_PROVIDERS = _env.list("JOBS_PLAN_PROVIDERS", default=["inventory.jobs.plans.default_plan"])

# Celery beat: django-celery-beat cannot be installed (it pins Django<6.1), so scheduled
# scans are rows of jobs.ScanSchedule and beat runs these two tasks every minute.
CELERY_BEAT_SCHEDULE = {
    "jobs-enqueue-due-scans": {"task": "jobs.enqueue_due_scans", "schedule": 60.0},
    "jobs-requeue-stale": {"task": "jobs.requeue_stale", "schedule": 60.0},
    "jobs-send-unsent": {"task": "jobs.send_unsent", "schedule": 60.0},
}

# MCP tools of this app (mcp_gateway.registry), after the gateway's own modules.
from mcp_gateway.conf import MCP_TOOL_MODULES as _mcp_modules  # noqa: E402

MCP_TOOL_MODULES = [*_mcp_modules, "inventory.jobs.mcp_tools"]
