"""Discovery over real loopback listeners: the scanner, the scan job on a real worker (Redis
and the embedded broker), rescans, promotion, the size guard and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from tests.test_jobs_support import Listeners, api, free_port_on, make_network, wait_for, wait_job

pytestmark = pytest.mark.outside_speed_layer

HOSTS = ["127.77.0.2", "127.77.0.3", "127.77.0.5"]


@pytest.fixture(scope="module")
def listeners():
    ports = [free_port_on(HOSTS) for _ in range(3)]
    lst = Listeners()
    lst.add(HOSTS[0], ports[0])
    lst.add(HOSTS[1], ports[0])
    lst.add(HOSTS[1], ports[1])
    lst.add(HOSTS[2], ports[2])
    lst.ports = ports
    lst.closed_port = free_port_on(HOSTS)
    lst.expected = {HOSTS[0]: [ports[0]], HOSTS[1]: sorted(ports[:2]), HOSTS[2]: [ports[2]]}
    yield lst
    lst.close()


def test_scanner_finds_exactly_the_listeners(listeners):
    from inventory.jobs.discovery import scan_hosts

    hosts = [f"127.77.0.{i}" for i in range(1, 7)]
    results = asyncio.run(scan_hosts(hosts, [*listeners.ports, listeners.closed_port], concurrency=4, timeout=1))
    assert {r.ip: r.open_ports for r in results} == listeners.expected
    assert all(r.mac == "" for r in results)  # loopback has no ARP entries


def test_deep_scan_reads_banners():
    from inventory.jobs.discovery import scan_hosts

    host = "127.77.1.9"
    ssh_port, http_port, tls_port, silent_port = (free_port_on([host]) for _ in range(4))
    lst = Listeners()
    try:
        lst.add(host, ssh_port, "ssh")
        lst.add(host, http_port, "http")
        lst.add(host, tls_port, "tls")
        lst.add(host, silent_port, "silent")
        [r] = asyncio.run(scan_hosts([host], [ssh_port, http_port, tls_port, silent_port], deep=True,
                                     timeout=1, banner_timeout=0.5))
    finally:
        lst.close()
    assert r.open_ports == sorted([ssh_port, http_port, tls_port, silent_port])
    assert r.services[str(ssh_port)] == {"service": "ssh", "banner": "SSH-2.0-OpenSSH_9.9 test"}
    assert r.services[str(http_port)]["server"] == "test-httpd/1.0"
    tls = r.services[str(tls_port)]
    assert tls["service"] == "tls" and tls["subject_cn"] == ["tls.test"] and "alt.tls.test" in tls["san"]
    assert str(silent_port) not in r.services


def test_size_guard_refuses_large_networks(db, tenant_a, operator_a, settings):
    from inventory.jobs.models import Job

    big = make_network(tenant_a, "127.100.0.0/15", "big")
    resp = api(operator_a).post("/api/jobs/scan/", {"network": big.pk}, format="json")
    assert resp.status_code == 400
    assert "131072 addresses" in resp.json()["network"][0] and "65536" in resp.json()["network"][0]
    settings.JOBS_SCAN_MAX_HOSTS = 256
    mid = make_network(tenant_a, "127.102.0.0/23", "mid")
    resp = api(operator_a).post("/api/jobs/scan/", {"network": mid.pk}, format="json")
    assert resp.status_code == 400 and "limited to 256" in resp.json()["network"][0]
    assert not Job.objects.exists()


def _scan(user, network, **extra):
    resp = api(user).post("/api/jobs/scan/", {"network": network.pk, **extra}, format="json")
    assert resp.status_code == 202, resp.content
    return resp.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_scan_job_rescan_and_promote(worker, listeners, tenant_a, operator_a):
    from inventory.jobs.models import DiscoveredDevice
    from inventory.models import Device, IPAddress

    network = make_network(tenant_a)
    ports = [*listeners.ports, listeners.closed_port]
    job = wait_job(_scan(operator_a, network, ports=ports), worker=worker)
    assert job.status == "succeeded", (job.error, worker.output())
    assert job.progress == 100 and job.result["hosts_found"] == 3 and job.result["addresses_scanned"] == 6
    found = {d.ip: d.open_ports for d in DiscoveredDevice.objects.filter(network=network)}
    assert found == listeners.expected
    first = {d.ip: (d.first_seen, d.last_seen) for d in DiscoveredDevice.objects.all()}

    # the REST view shows them; a rescan updates last_seen without duplicates
    listed = api(operator_a).get(f"/api/jobs/discovered/?network={network.pk}").json()
    assert {r["ip"] for r in listed["results"]} == set(HOSTS)
    job2 = wait_job(_scan(operator_a, network, ports=ports), worker=worker)
    assert job2.status == "succeeded"
    assert DiscoveredDevice.objects.count() == 3
    for d in DiscoveredDevice.objects.all():
        assert d.first_seen == first[d.ip][0] and d.last_seen > first[d.ip][1] and d.last_scan_id == job2.pk

    # promote once: a device with the address in the network; twice: 409
    found = DiscoveredDevice.objects.get(ip=HOSTS[1])
    resp = api(operator_a).post(f"/api/jobs/discovered/{found.pk}/promote/", {"name": "found-1"}, format="json")
    assert resp.status_code == 201, resp.content
    device = Device.objects.get(name="found-1", tenant=tenant_a)
    assert resp.json()["device"] == device.pk
    address = IPAddress.objects.get(device=device)
    assert address.address == HOSTS[1] and address.network_id == network.pk
    resp = api(operator_a).post(f"/api/jobs/discovered/{found.pk}/promote/", {"name": "found-2"}, format="json")
    assert resp.status_code == 409 and "already promoted" in resp.json()["detail"]
    assert Device.objects.filter(tenant=tenant_a).count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancel_running_scan_stops_between_hosts(worker, tenant_a, operator_a):
    from inventory.jobs.models import DiscoveredDevice, Job

    # eight hosts with a silent service each: a deep scan waits for banners on every host
    hosts = [f"127.77.2.{i}" for i in range(1, 9)]
    port = free_port_on(hosts)
    lst = Listeners()
    try:
        for h in hosts:
            lst.add(h, port)
        network = make_network(tenant_a, "127.77.2.0/28", "slow")
        job_id = _scan(operator_a, network, scan_type="deep", ports=[port])
        wait_for(lambda: Job.objects.get(pk=job_id).progress > 0 or Job.objects.get(pk=job_id).is_finished,
                 30, message="scan progress")
        running = Job.objects.get(pk=job_id)
        assert running.status == "running", (running.error, worker.output())
        resp = api(operator_a).post(f"/api/jobs/{job_id}/cancel/")
        assert resp.status_code == 200 and resp.json()["cancel_requested"] is True
        job = wait_job(job_id, worker=worker)
    finally:
        lst.close()
    assert job.status == "cancelled", (job.error, worker.output())
    assert job.finished is not None and job.progress < 100
    scanned = DiscoveredDevice.objects.filter(network=network).count()
    assert 1 <= scanned < len(hosts)
    assert any("Cancellation requested" in line.message for line in job.log_lines.all())
    assert api(operator_a).post(f"/api/jobs/{job_id}/cancel/").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_scheduled_scan_runs_on_the_worker(worker, listeners, tenant_a):
    from inventory.jobs.models import DiscoveredDevice, Job, ScanSchedule
    from inventory.jobs.tasks import enqueue_due_scans

    network = make_network(tenant_a, "127.77.0.0/29", "scheduled")
    schedule = ScanSchedule.objects.create(network=network, interval_minutes=60, scan_type="quick")
    ScanSchedule.objects.create(network=make_network(tenant_a, "127.109.0.0/24", "off"), enabled=False)
    assert enqueue_due_scans() == 1
    assert enqueue_due_scans() == 0  # not due again for an hour
    job = Job.objects.get(network=network)
    assert job.via == "schedule" and job.created_by is None
    schedule.refresh_from_db()
    assert schedule.last_job_id == job.pk and schedule.next_run > schedule.last_run
    job = wait_job(job.pk, worker=worker)
    assert job.status == "succeeded", job.error
    # quick scans look at the common ports only: our listeners are on other ports
    assert DiscoveredDevice.objects.filter(network=network).count() == 0
