"""``manage.py mcp start|status|logs|stop``: a real background server (web + /mcp + worker), a real
tool call through it, and nothing left running afterwards; ``mcp stdio`` keeps stderr quiet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests import servers
from tests.servers import ROOT, free_port
from tests.test_mcp_support import api_key, call, mcp_client, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.outside_speed_layer]


def _mcp(env, *args, timeout=120):
    return subprocess.run([sys.executable, "manage.py", "mcp", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


def test_start_status_call_stop_leaves_nothing_running(make_user, tenant_a):
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="mcp-daemon-", dir=os.environ.get("DATA_DIR") or None)
    env = {**servers.server_env(), "DATA_DIR": data_dir, "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    env.pop("REDIS_URL", None) if not os.environ.get("REDIS_URL") else None
    key = api_key(make_user("d_admin", {tenant_a: "admin"}))
    started = _mcp(env, "start", "--port", str(port), "--wait", "90", timeout=150)
    pid = None
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        assert f"http://127.0.0.1:{port}" in started.stdout
        pid = json.loads((Path(data_dir) / "mcp-server.pid").read_text())["pid"]
        assert len(_group_members(pid)) >= 3  # serve, uvicorn, the Celery worker (and beat)

        again = _mcp(env, "start", "--port", str(port))
        assert again.returncode != 0 and "Already running" in again.stderr, again.stderr

        status = _mcp(env, "status")
        assert status.returncode == 0, status.stderr
        assert f"http://127.0.0.1:{port}" in status.stdout and f"pid {pid}" in status.stdout
        assert "up 0h" in status.stdout and "health: ok" in status.stdout

        async def body():
            async with mcp_client(f"http://127.0.0.1:{port}", key) as client:
                return await call(client, "device_save", {"name": "via-daemon"})

        out, err = run(body)
        assert not err and out["name"] == "via-daemon", out
        logs = _mcp(env, "logs", "--lines", "200")
        assert logs.returncode == 0 and "Serving on" in logs.stdout, logs.stdout[-2000:]
    finally:
        stopped = _mcp(env, "stop")
    assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout, stopped.stderr
    assert pid is not None and _group_members(pid) == []
    assert not (Path(data_dir) / "mcp-server.pid").exists()
    assert _mcp(env, "status").returncode == 3
    again = _mcp(env, "stop")
    assert again.returncode != 0 and "Not running" in again.stderr


def test_stale_pid_file_is_not_trusted(tmp_path):
    """A pid file naming a live process that start did not create (here: this test) is ignored."""
    env = {**servers.server_env(), "DATA_DIR": str(tmp_path)}
    (tmp_path / "mcp-server.pid").write_text(json.dumps({"pid": os.getpid(), "ticks": "1", "url": "http://x",
                                                         "started": 0}))
    assert _mcp(env, "status").returncode == 3
    stopped = _mcp(env, "stop")
    assert stopped.returncode != 0 and "Not running" in stopped.stderr
    assert os.getpid()  # still alive: nothing was signalled


def test_stdio_has_no_library_noise_on_stderr(make_user, tenant_a):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    key = api_key(make_user("q_admin", {tenant_a: "admin"}))
    env = {**servers.server_env(), "INVENTORY_API_KEY": key}
    env.pop("REDIS_URL", None)  # the embedded broker: kombu warned "No hostname was supplied" here
    errlog = tempfile.TemporaryFile("w+")
    params = StdioServerParameters(command=sys.executable, args=["manage.py", "mcp", "stdio"], env=env, cwd=str(ROOT))

    async def body():
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            out, err = await call(client, "device_save", {"name": "quiet"})
            assert not err, out
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "discovery_scan" in tools
            return await call(client, "job_list")

    out, err = run(body)
    assert not err
    errlog.seek(0)
    noise = errlog.read()
    assert "No hostname" not in noise and "HTTP Request" not in noise, noise
