"""README's run command works on a clean checkout: `make run` serves the admin login.

The checkout is a copy of the tracked files in a temporary folder, on the embedded
default (SQLite, filesystem broker: DATABASE_URL/REDIS_URL unset); it reuses this
checkout's virtualenv instead of installing a second one.
"""

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.servers import ROOT, free_port


def clean_checkout(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_make_run_serves_admin_login(tmp_path):
    work = clean_checkout(tmp_path / "checkout")
    tracked = {p.name for p in work.iterdir()}
    port = free_port()
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "PUBLIC_URL")}
    env.update(PUBLIC_URL=f"http://127.0.0.1:{port}", VENV=str(venv), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(["make", "run", "-o", f"{venv}/.installed"], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, status = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2).status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        log.seek(0)
        output = log.read()
        assert status == 200, output[-3000:]
        assert "Log in at /admin/ as 'admin' with password:" in output
        assert (work / "var" / "db.sqlite3").exists() and (work / "var" / "secret_key").exists()
        assert oct((work / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"
        # the worker came up on the embedded broker too
        deadline = time.time() + 60
        while "ready" not in output and time.time() < deadline:
            time.sleep(0.5)
            log.seek(0)
            output = log.read()
        assert "celery@" in output and "ready" in output, output[-3000:]
        # all state lives under DATA_DIR: nothing else appears in the checkout (broker folders...)
        assert {p.name for p in work.iterdir()} - tracked == {"var"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.django_db
def test_seed_demo_loads_consistent_data():
    from django.core.management import call_command

    from inventory.models import Device, IPAddress, Network, Tenant

    call_command("seed_demo", devices=60)
    assert Tenant.objects.count() == 3
    assert Device.objects.count() == 60
    acme = Tenant.objects.get(name="Acme Corp")
    ip = IPAddress.objects.filter(tenant=acme).select_related("device", "network").first()
    assert ip.network.contains(ip.address) and ip.device.tenant_id == acme.id
    assert ip.address in ip.device.search_text
    for net in Network.objects.all():  # derived columns as save() computes them
        fresh = Network(tenant=net.tenant, name=net.name, subnet=net.subnet)
        fresh.clean_fields()
        assert (fresh.start_key, fresh.end_key) == (net.start_key, net.end_key)
    demo_v4 = [ipaddress.ip_network(n.subnet) for n in Network.objects.all() if ":" not in n.subnet]
    assert demo_v4 and all(n.subnet_of(ipaddress.ip_network("127.0.0.0/8")) for n in demo_v4)  # loopback only
    call_command("seed_demo", devices=60)  # again: existing tenants are left alone
    assert Device.objects.count() == 60
