"""Job pages in the admin: progress, step, duration and log at the top, the result as tables with
links (found hosts → discovered devices → promote), a green bar on success, a self-refreshing list
while jobs run, empty states that say how to start a scan; bounded queries by role at two sizes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.jobs.models import DiscoveredDevice, Job
from inventory.models import Device, Network, Tenant

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15


@pytest.fixture
def sites(make_user, superuser):
    a, b = Tenant.objects.create(name="Acme"), Tenant.objects.create(name="Beta")
    return {"a": a, "b": b, "superuser": superuser,
            "operator": make_user("op", {a: "operator"}), "viewer": make_user("viewer", {a: "viewer"})}


def scan(tenant, octet: int, hosts: int, status="succeeded"):
    net = Network.objects.get_or_create(tenant=tenant, name=f"lo-{octet}", defaults={"subnet": f"127.{octet}.0.0/24"})[0]
    ips = [f"127.{octet}.0.{i + 1}" for i in range(hosts)]
    now = timezone.now()
    job = Job.objects.create(tenant=tenant, kind="discovery_scan", network=net, target=net.subnet, status=status,
                             progress=100 if status == "succeeded" else 40, step="done",
                             params={"network": net.pk, "scan_type": "quick"}, started=now - timedelta(seconds=3),
                             finished=now if status != "running" else None,
                             result={"addresses_scanned": 254, "hosts_found": hosts, "hosts": ips, "ports_scanned": 3,
                                     "scan_type": "quick", "icmp": False})
    found = [DiscoveredDevice.objects.create(tenant=tenant, network=net, ip=ip, hostname=f"h{i}.lab", open_ports=[22, 80],
                                             last_scan=job) for i, ip in enumerate(ips)]
    return job, found


def test_finished_scan_page(client, sites):
    job, found = scan(sites["a"], 7, 2)
    found[0].device = Device.objects.create(tenant=sites["a"], name="promoted-one")
    found[0].save()
    scan(sites["b"], 8, 2)
    client.force_login(sites["operator"])
    body = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    top = body.index('id="job-progress"')
    assert top < body.index('id="job-result"') < body.index('class="form-row field-kind')  # progress and result first
    assert 'id="job-bar" data-status="succeeded"' in body and "background:#2e7d32" in body  # green
    assert "Duration: <span id=\"job-duration\">3.0 s</span>" in body
    table = body[body.index('id="job-found-hosts"'):]
    assert f'href="/admin/jobs/discovereddevice/{found[0].pk}/change/">127.7.0.1</a>' in table
    assert f'href="/admin/inventory/device/{found[0].device_id}/change/">promoted-one</a>' in table
    assert f'name="_selected_action" value="{found[1].pk}"' in table and "Promote to device" in table
    assert "127.8." not in body and "Beta" not in body
    # a viewer sees the table but no promote button
    client.force_login(sites["viewer"])
    assert "Promote to device" not in client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()


def test_promote_from_the_job_page(client, sites):
    job, found = scan(sites["a"], 7, 1)
    client.force_login(sites["operator"])
    response = client.post("/admin/jobs/discovereddevice/", {"action": "promote", "_selected_action": [found[0].pk]})
    assert response.status_code == 302
    found[0].refresh_from_db()
    assert found[0].device is not None and found[0].device.name == "h0"
    assert "promoted" in client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()


def test_running_job_polls_and_list_refreshes(client, sites):
    job, _ = scan(sites["a"], 7, 1, status="running")
    client.force_login(sites["operator"])
    body = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "jobs/job/%d/log/" % job.pk in body and 'id="job-result"' not in body and "so far" in body
    data = client.get(f"/admin/jobs/job/{job.pk}/log/").json()
    assert data["progress"] == 40 and data["finished"] is False and data["duration"].endswith("so far")
    assert 'id="jobs-refreshing"' in client.get("/admin/jobs/job/").content.decode()
    job.status, job.finished = "succeeded", timezone.now()
    job.save()
    assert 'id="jobs-refreshing"' not in client.get("/admin/jobs/job/").content.decode()


def test_empty_states_say_how_to_start_a_scan(client, sites):
    scan(sites["b"], 8, 1)  # another tenant's jobs do not count
    client.force_login(sites["operator"])
    body = client.get("/admin/jobs/job/").content.decode()
    assert 'id="jobs-empty"' in body and "Scan network (quick)" in body and "/admin/inventory/network/" in body
    assert 'id="discovered-empty"' in client.get("/admin/jobs/discovereddevice/").content.decode()
    scan(sites["a"], 7, 1)
    assert 'id="jobs-empty"' not in client.get("/admin/jobs/job/").content.decode()


def test_failed_job_result_and_generic_result_tables(client, sites):
    net = Network.objects.create(tenant=sites["a"], name="n", subnet="127.9.0.0/24")
    job = Job.objects.create(tenant=sites["a"], kind="command", network=net, target="x", status="failed",
                             error="boom", started=timezone.now(), finished=timezone.now(),
                             result={"steps": [{"step": "uname", "exit_status": 1}], "summary": {"ok": 0}})
    client.force_login(sites["operator"])
    body = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "background:#c62828" in body and "boom" in body
    assert "<table class='job-rows'><thead><tr><th>step</th><th>exit_status</th>" in body
    assert "<th>ok</th><td>0</td>" in body


@pytest.mark.parametrize("role", ["viewer", "operator", "superuser"])
def test_job_pages_queries_are_bounded(client, sites, role):
    client.force_login(sites[role])
    job, _ = scan(sites["a"], 7, 3)
    scan(sites["b"], 8, 3)

    def counts():
        out = {}
        for path in (f"/admin/jobs/job/{job.pk}/change/", "/admin/jobs/job/", f"/admin/jobs/job/{job.pk}/log/",
                     "/admin/jobs/discovereddevice/"):
            client.get(path)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            assert response.status_code == 200, path
            out[path] = len(ctx.captured_queries)
        return out

    few = counts()
    hosts = [f"127.7.0.{i}" for i in range(4, 44)]
    job.result["hosts"] += hosts
    job.save()
    for ip in hosts:
        DiscoveredDevice.objects.create(tenant=sites["a"], network=job.network, ip=ip, open_ports=[22], last_scan=job)
    for i in range(10):
        scan(sites["a"], 20 + i, 1)
    scan(sites["b"], 9, 10)
    many = counts()
    assert many == few, {p: (few[p], many[p]) for p in few if few[p] != many[p]}
    assert all(n <= MAX_QUERIES for n in many.values()), many
