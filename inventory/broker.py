"""The embedded Celery broker: kombu's filesystem transport under DATA_DIR (no server needed).

Used by settings when REDIS_URL is unset, and by tests that run a worker on it.
"""

from pathlib import Path

EMBEDDED_BROKER_URL = "filesystem://"


def embedded_broker_options(data_dir: Path) -> dict:
    """Transport options with every folder (queue, processed messages, exchange table) under
    ``data_dir/broker``; kombu's defaults would write into the working directory."""
    base = Path(data_dir) / "broker"
    folders = {sub: base / sub for sub in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "polling_interval": 0.1,
    }
