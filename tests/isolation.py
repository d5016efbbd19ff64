"""Keep parallel pytest-xdist workers out of each other's way (loaded with ``-p tests.isolation``).

Runs before pytest-django imports the settings. Each xdist worker (gw0, gw1, ...) gets its own
DATA_DIR (SQLite test file, embedded broker queue, logs) and its own Redis database (Celery
queue and cache; tests clear the cache). pytest-django already gives each worker its own
PostgreSQL test database. Servers and Celery workers started by tests inherit this environment.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

if WORKER.startswith("gw"):
    n = int(WORKER[2:])
    data_dir = Path(os.environ.get("DATA_DIR") or ROOT / "var").resolve()
    if data_dir.name != WORKER:
        os.environ["DATA_DIR"] = str(data_dir / WORKER)
    if os.environ.get("REDIS_URL") and not os.environ.get("XDIST_REDIS_ISOLATED"):
        parts = urlsplit(os.environ["REDIS_URL"])
        base = int(parts.path.strip("/") or 0)
        os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{(base + 1 + n) % 16}"))
        os.environ["XDIST_REDIS_ISOLATED"] = "1"  # children inherit the shifted URL as is
