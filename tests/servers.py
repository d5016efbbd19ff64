"""Start the real ASGI app under uvicorn (and Celery workers) against the test database."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent


# Each pytest-xdist worker takes its ports from a range of its own (gw0: 20000-20999, gw1: 21000-...),
# below the kernel's ephemeral range (32768+), and walks it in turn. Asking the kernel for port 0 and
# closing the socket again let two workers be handed the same port: one test then talked to the other
# worker's server (a 401 from a server that did not know its token).
_PORTS_PER_WORKER = 1000


def _port_walk():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = 20000 + _PORTS_PER_WORKER * (int(worker) if worker.isdigit() else 0)
    start = (os.getpid() * 37) % _PORTS_PER_WORKER  # a later run of the same worker starts elsewhere
    while True:
        for i in range(_PORTS_PER_WORKER):
            yield base + (start + i) % _PORTS_PER_WORKER


_ports = _port_walk()


def free_port(addresses: tuple[str, ...] | list[str] = ("127.0.0.1",)) -> int:
    """A port of this worker's range that is free on 0.0.0.0 and on every address given."""
    for _ in range(_PORTS_PER_WORKER):
        port = next(_ports)
        try:
            for addr in ("0.0.0.0", *addresses):
                with socket.socket() as s:
                    s.bind((addr, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port in this worker's range")


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
