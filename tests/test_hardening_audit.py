"""Issue 24 item 15: writes made by jobs are audited as the job creator's, with the correlation
id of the request that started the job and "via job #N"."""

from __future__ import annotations

import pytest

from tests.test_jobs_support import Listeners, api, free_port_on, make_device, make_network, ssh_server  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_provisioning_writes_are_attributed_to_the_creator(ssh_server, tenant_a, operator_a):
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    from inventory.jobs import provisioning, runner  # noqa: F401  (handlers register on import)
    from inventory.jobs.models import Job
    from inventory.models import Device

    network = make_network(tenant_a, "127.130.0.0/29", "audited")
    device = make_device(tenant_a, ssh_server, name="audited-1")
    before = set(LogEntry.objects.values_list("pk", flat=True))
    resp = api(operator_a).post("/api/jobs/provision/", {"device": device.pk, "network": network.pk,
                                                         "scripts": [{"name": "hi", "script": "echo hi"}]},
                                format="json", HTTP_X_CORRELATION_ID="req-7f3a")
    assert resp.status_code == 202, resp.content
    job = Job.objects.get(pk=resp.json()["id"])
    assert job.correlation_id == "req-7f3a"
    assert runner.run(job.pk) == "succeeded", Job.objects.get(pk=job.pk).error
    device_type = ContentType.objects.get_for_model(Device)
    entries = LogEntry.objects.exclude(pk__in=before).filter(content_type=device_type, object_pk=str(device.pk))
    assert entries.exists()
    for entry in entries:
        assert entry.actor_id == operator_a.pk, entry.changes
        assert entry.cid == "req-7f3a"
        assert entry.additional_data["via"] == f"job #{job.pk}"
    # the address the job allocated too
    written = LogEntry.objects.exclude(pk__in=before).exclude(content_type=device_type)
    assert written.exists() and all(e.actor_id == operator_a.pk and e.cid == "req-7f3a" for e in written)


def test_scan_writes_carry_the_job_and_a_generated_correlation_id(tenant_a, operator_a):
    from auditlog.models import LogEntry

    from inventory.jobs import discovery, runner  # noqa: F401
    from inventory.jobs.models import DiscoveredDevice, Job

    host = "127.77.9.1"
    port = free_port_on([host])
    listeners = Listeners()
    listeners.add(host, port)
    try:
        network = make_network(tenant_a, "127.77.9.0/30", "scan-audit")
        resp = api(operator_a).post("/api/jobs/scan/", {"network": network.pk, "ports": [port]}, format="json")
        job = Job.objects.get(pk=resp.json()["id"])
        assert len(job.correlation_id) >= 32  # none given: one is made for the job
        assert runner.run(job.pk) == "succeeded", Job.objects.get(pk=job.pk).error
    finally:
        listeners.close()
    found = DiscoveredDevice.objects.get(network=network)
    entry = LogEntry.objects.get_for_object(found).get()
    assert (entry.actor_id, entry.cid, entry.additional_data["via"]) == (operator_a.pk, job.correlation_id, f"job #{job.pk}")


def test_scheduled_jobs_have_no_actor_but_say_so(tenant_a):
    from auditlog.models import LogEntry

    from inventory.jobs.models import Job
    from inventory.jobs.runner import attributed_to_creator
    from inventory.models import Datacenter

    job = Job.objects.create(tenant=tenant_a, kind="discovery_scan", via="schedule", correlation_id="")
    with attributed_to_creator(job):
        dc = Datacenter.objects.create(tenant=tenant_a, name="by-schedule")
    entry = LogEntry.objects.get_for_object(dc).get()
    assert entry.actor_id is None and entry.cid == f"job-{job.pk}" and entry.additional_data["via"] == f"job #{job.pk}"
