"""Settings for the benchmark server: the project's settings plus a PostgreSQL connection
pool (psycopg_pool via Django's ``OPTIONS["pool"]``) unless the project already has one.

Under ASGI, Django's persistent connections (CONN_MAX_AGE) are not reused across requests
(each request runs in a fresh thread), so without a pool every request opens a connection
(a PostgreSQL backend fork). ``benchmarks/run.py --no-pool`` measures the plain settings.
"""

from inventory.settings import *  # noqa: F401,F403
from inventory.settings import DATABASES

_db = DATABASES["default"]
if "postgresql" in _db["ENGINE"] and "pool" not in _db.get("OPTIONS", {}):
    _db["CONN_MAX_AGE"] = 0  # Django refuses pools with persistent connections
    _db.setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 8, "timeout": 10}
