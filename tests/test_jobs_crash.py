"""Crash safety: a worker SIGKILLed in the middle of a job → the job runs again and completes
once, with no duplicate rows (Redis and the embedded filesystem broker)."""

from __future__ import annotations

import os
import signal

import pytest

from tests.test_jobs_support import (Listeners, Worker, api, brokers, free_port_on, make_network, use_broker,
                                     wait_for, wait_job)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.outside_speed_layer]

HOSTS = [f"127.77.3.{i}" for i in range(1, 5)]


@pytest.fixture
def slow_hosts():
    """Four hosts with a silent service: a deep scan spends a few seconds on each."""
    port = free_port_on(HOSTS)
    lst = Listeners()
    for h in HOSTS:
        lst.add(h, port)
    lst.port = port
    yield lst
    lst.close()


def start_scan(user, tenant, port):
    from inventory.jobs.models import Job

    network = make_network(tenant, "127.77.3.0/29", "crash")
    resp = api(user).post("/api/jobs/scan/", {"network": network.pk, "scan_type": "deep", "ports": [port]},
                          format="json")
    assert resp.status_code == 202, resp.content
    job_id = resp.json()["id"]
    # mid-job: at least one host done, more to go
    wait_for(lambda: Job.objects.get(pk=job_id).progress > 0, 40, message="the scan to make progress")
    return network, Job.objects.get(pk=job_id)


def check_completed_once(job_id, network):
    from inventory.jobs.models import DiscoveredDevice, Job

    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    assert job.attempt == 2
    assert Job.objects.count() == 1
    rows = list(DiscoveredDevice.objects.filter(network=network).values_list("ip", flat=True))
    assert sorted(rows) == HOSTS  # every host once: the rerun updated, never duplicated
    messages = [line.message for line in job.log_lines.all()]
    assert sum("died while running this job" in m for m in messages) == 1
    assert sum(m == "Finished: succeeded." for m in messages) == 1
    # the second attempt resumed after the last batch the first one recorded: no host scanned twice
    assert sum(m.startswith("Resuming the scan of 127.77.3.0/29 at 127.77.3.") for m in messages) == 1
    assert sum(m.startswith("Scanning 127.77.3.0/29") for m in messages) == 1
    for host in HOSTS:
        assert sum(m.startswith(f"{host}: open ports") for m in messages) == 1, (host, messages)
    assert job.result["hosts_found"] == 4 and sorted(job.result["hosts"]) == HOSTS and "resume" not in job.result


@pytest.mark.parametrize("broker", brokers())
def test_pool_process_killed_mid_job_is_redelivered(broker, slow_hosts, tenant_a, operator_a):
    use_broker(broker)
    worker = Worker(broker).start()
    try:
        network, job = start_scan(operator_a, tenant_a, slow_hosts.port)
        host, _, pid = job.worker.rpartition(":")
        assert int(pid) in worker.children()
        os.kill(int(pid), signal.SIGKILL)  # the pool process running the job dies
        wait_job(job.pk, timeout=60, worker=worker)
        check_completed_once(job.pk, network)
        assert "WorkerLostError" in worker.output() or "exited with 'signal 9" in worker.output()
    finally:
        worker.stop()


@pytest.mark.parametrize("broker", brokers())
def test_whole_worker_killed_mid_job_is_requeued(broker, slow_hosts, tenant_a, operator_a):
    """The whole worker dies (no warm shutdown); the periodic requeue_stale task (beat) re-sends
    the job once its heartbeat is stale, and a new worker completes it."""
    from inventory.jobs.models import Job
    from inventory.jobs.runner import holder_is_dead
    from inventory.jobs.tasks import requeue_stale

    use_broker(broker)
    first = Worker(broker).start()
    try:
        network, job = start_scan(operator_a, tenant_a, slow_hosts.port)
        first.kill()
    finally:
        first.stop()
    assert Job.objects.get(pk=job.pk).status == "running"
    # same host: dead as soon as its process is gone (else once the heartbeat is stale)
    wait_for(lambda: holder_is_dead(Job.objects.get(pk=job.pk)), 10, message="the holder to be dead")
    second = Worker(broker).start()
    try:
        assert requeue_stale() == 1
        wait_job(job.pk, timeout=60, worker=second)
        check_completed_once(job.pk, network)
    finally:
        second.stop()


def test_holder_on_another_host_is_dead_only_when_its_heartbeat_is_stale(tenant_a, settings):
    from datetime import timedelta

    from django.utils import timezone

    from inventory.jobs.models import Job
    from inventory.jobs.runner import StillRunning, claim, holder_is_dead

    settings.JOBS_STALE_AFTER = 30
    job = Job.objects.create(tenant=tenant_a, kind="command", status="running", worker="elsewhere:123",
                             attempt=1, heartbeat=timezone.now())
    assert not holder_is_dead(job)
    with pytest.raises(StillRunning):  # a duplicate delivery while it runs elsewhere: look again later
        claim(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(seconds=31))
    job.refresh_from_db()
    assert holder_is_dead(job)
    claimed = claim(job.pk)
    assert claimed.attempt == 2 and claimed.worker != "elsewhere:123"
    with pytest.raises(StillRunning):  # our own live claim is not taken over
        claim(job.pk)
    settings.JOBS_MAX_ATTEMPTS = 2
    Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(seconds=31))
    assert claim(job.pk) is None  # died too often: failed, not run a third time
    job.refresh_from_db()
    assert job.status == "failed" and "died 2 times" in job.error
