"""Django settings, read from the environment (12-factor).

Every knob has a safe embedded default so `make run` works on a fresh machine with
SQLite and no Redis; production sets DATABASE_URL, REDIS_URL, PUBLIC_URL, ALLOWED_HOSTS.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_from_file(name: str, factory) -> str:
    """Read a secret kept under DATA_DIR, creating it (mode 0600) on first use."""
    path = DATA_DIR / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = factory()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
    except FileExistsError:  # pragma: no cover - lost a race with another process
        return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _secret_from_file(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
DEBUG = env.bool("DEBUG", default=False)

PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
_public = urlsplit(PUBLIC_URL)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[_public.hostname or "127.0.0.1", "127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=[f"{_public.scheme}://{_public.netloc}"]
)
#: addresses (or CIDRs) of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are
#: believed (inventory/asgi.py); empty: none, the client is the TCP peer. Run uvicorn with
#: --no-proxy-headers: its own default believes 127.0.0.1.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "inventory.admin_apps.InventoryAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "oauth2_provider",
    "auditlog",
    "import_export",  # admin import/export (inventory/admin/importing.py)
    "inventory",
    "inventory.jobs",
    "inventory.configuration",
    "inventory.mesh",
    "inventory.blueprints",
    "oauth",
    "mcp_gateway",
]

# Sync middleware: the web process runs the chain in one worker thread per request
# (inventory/runtime/asgi_handler.py). Async-only middleware goes in ASYNC_MIDDLEWARE, which the web
# process runs on the event loop, outside (before) this chain.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "inventory.auditing.AuditlogMiddleware",  # auditlog's, keeping its context on the request
]

ASYNC_MIDDLEWARE = [
    "servestatic.middleware.ServeStaticMiddleware",  # static files, answered without a thread
]
# The speed layer (inventory/runtime/): FAST_PATHS=off runs Django's, DRF's and asyncio's stock paths.
from inventory import runtime as _runtime  # noqa: E402

FAST_PATHS = sorted(_runtime.ENABLED)  # what this process uses (read from the environment once)
if not _runtime.enabled("threaded_handler"):  # Django's own ASGIHandler runs every middleware
    MIDDLEWARE = [MIDDLEWARE[0], *ASYNC_MIDDLEWARE, *MIDDLEWARE[1:]]
    ASYNC_MIDDLEWARE = []
#: worker threads per web process for Django views and MCP tool calls (inventory/runtime/threads.py)
WEB_THREADS = env.int("WEB_THREADS", default=16)

ROOT_URLCONF = "inventory.urls"
ASGI_APPLICATION = "inventory.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "inventory.admin_site.chrome",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web workers, Celery) write: WAL + immediate transactions.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
    }
elif env.bool("DATABASE_POOL", default=False) and env.int("DATABASE_POOL_MAX_SIZE", default=8) > 0:
    # PostgreSQL in the ASGI web process (inventory/asgi.py turns DATABASE_POOL on): a psycopg
    # pool per process. Set DATABASE_POOL=off behind PgBouncer.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses pools with persistent connections
    # timeout: how long a request waits for a connection; with PostgreSQL down it is what a
    # request waits before its 503 (inventory/outages.py)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=8),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=3.0),
    }
else:
    # PostgreSQL elsewhere (Celery workers, management commands): persistent connections.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("DATABASE_PREPARED", default=True):
    # Server-side parameters, and each query prepared once per connection after it ran
    # ``prepare_threshold`` times: PostgreSQL then skips parsing and planning, which cost more
    # than running most of our queries (e.g. the next-IP gap search: 1.3 ms → 0.5 ms). Set
    # DATABASE_PREPARED=off behind a pooler that cannot keep prepared statements (PgBouncer < 1.21
    # in transaction mode).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=env.int("DATABASE_PREPARE_THRESHOLD", default=2))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # an unreachable server is reported within this many seconds (a 503), not after the OS's ~2 min
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=2))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker ---------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "inventory.runtime.redis_cache.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "cache",  # clear() deletes these keys only: the broker's share the database
                          # an unreachable Redis answers within a bounded time (503, not a hang)
                          "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 5}}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            # credentials and counts live here too: keep the default 300 entries from thrashing
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

# Longest job we allow; the broker's visibility timeout must exceed it.
JOB_HARD_TIME_LIMIT = env.int("JOB_HARD_TIME_LIMIT", default=3600)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = JOB_HARD_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = JOB_HARD_TIME_LIMIT - 60
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The broker: CELERY_BROKER_URL if set (a broker apart from the cache), else REDIS_URL, else embedded.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
if env.str("CELERY_BROKER_URL", default="") or REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
    # JOBS_VISIBILITY_TIMEOUT: an override (tests of crash redelivery use a short one)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("JOBS_VISIBILITY_TIMEOUT", default=0) or JOB_HARD_TIME_LIMIT + 600,
        "socket_connect_timeout": 2}
else:
    # Embedded default: a broker that needs no server (kombu's filesystem transport).
    from inventory.broker import EMBEDDED_BROKER_URL, embedded_broker_options

    CELERY_BROKER_URL = EMBEDDED_BROKER_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = embedded_broker_options(DATA_DIR)

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/admin/"

# --- I18N / static --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG

# --- Audit log ------------------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False

# --- Admin import / export (inventory/admin/importing.py) ------------------------------------
# Imports run in the request, refused above these limits (split larger files); each object is
# audited by django-auditlog, so the admin's own LogEntry per import is not written.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=2 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=5000)
IMPORT_EXPORT_SKIP_ADMIN_LOG = True

# --- App fragments --------------------------------------------------------------------
# REST framework, OAuth and MCP settings live beside their code.
from inventory.api.settings import *  # noqa: E402,F401,F403
from oauth.conf import *  # noqa: E402,F401,F403

OAUTH2_PROVIDER = {**OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": PUBLIC_URL}  # noqa: F405 - the pinned issuer
from mcp_gateway.conf import *  # noqa: E402,F401,F403
from inventory.jobs.conf import *  # noqa: E402,F401,F403
from inventory.configuration.conf import *  # noqa: E402,F401,F403
from inventory.mesh.conf import *  # noqa: E402,F401,F403
from inventory.blueprints.conf import *  # noqa: E402,F401,F403

MCP_TOOL_MODULES = [*MCP_TOOL_MODULES, *CONFIGURATION_MCP_TOOL_MODULES, *BLUEPRINTS_MCP_TOOL_MODULES]  # noqa: F405
JOBS_SECRET_PROVIDERS = list(dict.fromkeys([*JOBS_SECRET_PROVIDERS, *MESH_SECRET_PROVIDERS]))  # noqa: F405

# Housekeeping (inventory.tasks.maintenance): expired OAuth grants and never-authorized
# registered clients hourly, MCP audit rows past MCP_AUDIT_RETENTION_DAYS daily.
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,  # noqa: F405
    "oauth-cleanup": {"task": "inventory.maintenance", "schedule": 3600.0, "args": ["oauth_cleanup"]},
    "mcp-purge-audit": {"task": "inventory.maintenance", "schedule": 86400.0, "args": ["mcp", "purge-audit"]},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # asyncssh logs every command line at INFO; rendered role commands may carry secrets
        "asyncssh": {"level": env.str("ASYNCSSH_LOG_LEVEL", default="WARNING")},
    },
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # a file, not memory, so that servers and workers started by tests see the test data
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
