"""Start the real ASGI app under uvicorn (and Celery workers) against the test database."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict:
    """Environment that points a child process at the database pytest-django set up."""
    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env["DATA_DIR"] = str(settings.DATA_DIR)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class UvicornServer:
    def __init__(self, workers: int = 1, env: dict | None = None, port: int | None = None,
                 app: str = "inventory.asgi:application", start_timeout: float = 60):
        self.app, self.start_timeout = app, start_timeout
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.extra_env = env or {}
        self.proc = None

    def __enter__(self):
        env = server_env()
        env.setdefault("PUBLIC_URL", self.url)
        env["PUBLIC_URL"] = self.extra_env.get("PUBLIC_URL", self.url)
        env.update(self.extra_env)
        self.log = open(Path(env["DATA_DIR"]) / f"uvicorn-{self.port}.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--log-level", "warning",
             "--no-proxy-headers",  # as in production: the app believes only TRUSTED_PROXIES
             "--loop", "inventory.runtime.serving:loop_factory"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        output = self.output()
        self.__exit__(None, None, None)  # a `with` body that never ran will not call it: stop the server here
        raise RuntimeError(f"uvicorn did not start: {output}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-5000:]

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
