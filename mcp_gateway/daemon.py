"""``manage.py mcp start|stop|status|logs``: the server (``manage.py serve``: web + /mcp + Celery
worker and beat) in the background, in a session of its own, with a pid file and a log under
``DATA_DIR``.

The pid file records the process's start time (``/proc/<pid>/stat``), so a pid reused by another
program after a crash is never taken for ours; ``stop`` signals only the process group that
``start`` created (``serve`` then stops its children), and waits for it to be gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings


class DaemonError(Exception):
    pass


def pid_path() -> Path:
    return Path(settings.DATA_DIR) / "mcp-server.pid"


def log_path() -> Path:
    return Path(settings.DATA_DIR) / "mcp-server.log"


def _start_ticks(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks since boot


def _recorded() -> dict | None:
    try:
        info = json.loads(pid_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    if _start_ticks(info["pid"]) != info.get("ticks"):  # gone, or the pid now belongs to another program
        return None
    return info


def _url(port: int | None) -> str:
    public = urlsplit(settings.PUBLIC_URL)
    if port is None:
        return settings.PUBLIC_URL.rstrip("/")
    host = public.hostname or "127.0.0.1"
    return urlunsplit((public.scheme or "http", f"{host}:{port}", "", "", "")).rstrip("/")


def _healthy(url: str) -> bool:
    import httpx2 as httpx

    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(*, port: int | None = None, workers: int | None = None, no_worker: bool = False, wait: float = 60) -> dict:
    running = _recorded()
    if running is not None:
        raise DaemonError(f"Already running: {running['url']} (pid {running['pid']}). Stop it first: manage.py mcp stop")
    url = _url(port)
    if _healthy(url):
        raise DaemonError(f"Something already answers on {url} (not started by mcp start).")
    Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "serve"]
    if port is not None:
        cmd += ["--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if no_worker:
        cmd.append("--no-worker")
    env = {**os.environ, "PUBLIC_URL": url}
    with open(log_path(), "ab") as log:
        proc = subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    info = {"pid": proc.pid, "ticks": _start_ticks(proc.pid), "url": url, "started": time.time(), "cmd": cmd}
    pid_path().write_text(json.dumps(info))
    deadline = time.time() + wait
    while time.time() < deadline:
        if proc.poll() is not None:
            pid_path().unlink(missing_ok=True)
            raise DaemonError(f"The server exited (code {proc.returncode}); see {log_path()}:\n{''.join(tail(20))}")
        if _healthy(url):
            return info
        time.sleep(0.3)
    return info  # still starting: status tells when it answers


def stop(timeout: float = 20) -> int:
    info = _recorded()
    if info is None:
        pid_path().unlink(missing_ok=True)
        raise DaemonError("Not running (nothing started by mcp start).")
    pid = info["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)  # the session start_new_session created: serve and its children
    except ProcessLookupError:
        pass
    deadline = time.time() + timeout
    while time.time() < deadline and _group_alive(pid):
        _reap(pid)
        time.sleep(0.2)
    if _group_alive(pid):
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    _reap(pid)
    pid_path().unlink(missing_ok=True)
    return pid


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # only when we are its parent (tests); harmless otherwise
    except ChildProcessError:
        pass


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            return True
    return False


def status() -> dict | None:
    info = _recorded()
    if info is None:
        return None
    seconds = int(time.time() - info["started"])
    info["uptime"] = f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
    info["health"] = "ok" if _healthy(info["url"]) else "not answering"
    return info


def tail(lines: int | None = 50) -> list[str]:
    try:
        with open(log_path(), "rb") as f:
            data = f.read().decode(errors="replace").splitlines(keepends=True)
    except OSError:
        return []
    return data if not lines else data[-lines:]
