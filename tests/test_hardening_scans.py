"""Issue 24 item 16: discovery scans only reach JOBS_SCAN_ALLOWED_NETWORKS (and a tenant's own,
narrower scan policy), refused on every surface before a single packet is sent.

Only loopback is ever scanned: the allowlist is narrowed to 127.0.0.0/24 and a listener on
127.99.0.1 (outside it) counts the connections it accepts, which must stay at zero."""

from __future__ import annotations

import socket
import threading

import pytest
from django.core.exceptions import ValidationError

from tests.test_jobs_support import api, free_port_on, make_network

pytestmark = pytest.mark.django_db

OUTSIDE = "127.99.0.0/30"
TARGET = "127.99.0.1"


class CountingListener:
    """A TCP listener that counts accepted connections."""

    def __init__(self, address: str):
        self.port = free_port_on([address])
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    lst = CountingListener(TARGET)
    # the listener itself answers (so a scan would have found it)
    with socket.create_connection((TARGET, lst.port), timeout=2):
        pass
    threading.Event().wait(0.3)
    assert lst.accepted == 1
    lst.accepted = 0
    yield lst
    lst.close()


@pytest.fixture
def narrow(settings):
    settings.JOBS_SCAN_ALLOWED_NETWORKS = ["127.0.0.0/24"]
    return settings


def test_default_allowlist_is_private_space(settings):
    from inventory.jobs.discovery import check_allowed

    for net in ("127.0.0.0/8", "10.1.0.0/24", "172.16.5.0/24", "192.168.1.0/24", "100.64.0.0/16", "fd00::/64", "::1/128"):
        check_allowed(net, None)
    for net in ("8.8.8.0/24", "0.0.0.0/0", "172.32.0.0/24", "100.128.0.0/24", "2001:db8::/64", "192.0.0.0/8"):
        with pytest.raises(ValueError, match="JOBS_SCAN_ALLOWED_NETWORKS"):
            check_allowed(net, None)


def test_rest_mcp_and_admin_refuse_outside(narrow, tenant_a, operator_a, superuser, listener):
    from django.test import Client

    from inventory.jobs.models import Job
    from inventory.tenancy import Principal
    from mcp_gateway.registry import registry
    from mcp_gateway.server import CallerEnv, execute

    outside = make_network(tenant_a, OUTSIDE, "outside")
    inside = make_network(tenant_a, "127.0.0.8/30", "inside")
    # REST
    resp = api(operator_a).post("/api/jobs/scan/", {"network": outside.pk, "ports": [listener.port]}, format="json")
    assert resp.status_code == 400, resp.content
    assert "JOBS_SCAN_ALLOWED_NETWORKS" in resp.json()["network"][0] and OUTSIDE in resp.json()["network"][0]
    # MCP
    env = CallerEnv(principal=Principal(operator_a, via="api_key"), ip="127.0.0.1")
    result, is_error = execute(registry.get("discovery_scan"), {"network_id": outside.pk, "ports": [listener.port]}, env)
    assert is_error and result["error"]["code"] == "INVALID_PARAMS"
    assert "JOBS_SCAN_ALLOWED_NETWORKS" in str(result["error"]["details"])
    # admin action
    client = Client()
    client.force_login(superuser)
    resp = client.post("/admin/inventory/network/", {"action": "scan_network_quick", "_selected_action": [outside.pk]},
                       follow=True)
    assert resp.status_code == 200
    assert any("JOBS_SCAN_ALLOWED_NETWORKS" in str(m) for m in resp.context["messages"])
    # any writer: the model refuses the job
    with pytest.raises(ValidationError, match="JOBS_SCAN_ALLOWED_NETWORKS"):
        Job.objects.create(tenant=tenant_a, kind="discovery_scan", network=outside, params={})
    assert not Job.objects.exists()
    # inside is fine
    resp = api(operator_a).post("/api/jobs/scan/", {"network": inside.pk}, format="json")
    assert resp.status_code == 202, resp.content
    assert listener.accepted == 0


def test_schedules_refuse_outside(narrow, tenant_a, settings, listener):
    from inventory.jobs.models import Job, ScanSchedule
    from inventory.jobs.tasks import enqueue_due_scans

    outside = make_network(tenant_a, OUTSIDE, "outside")
    with pytest.raises(ValidationError, match="JOBS_SCAN_ALLOWED_NETWORKS"):
        ScanSchedule.objects.create(network=outside, interval_minutes=60)
    settings.JOBS_SCAN_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    ScanSchedule.objects.create(network=outside, interval_minutes=60)
    settings.JOBS_SCAN_ALLOWED_NETWORKS = ["127.0.0.0/24"]  # narrowed after it was scheduled
    assert enqueue_due_scans() == 0
    assert not Job.objects.exists()
    assert ScanSchedule.objects.get(network=outside).next_run is not None  # not retried every minute
    assert listener.accepted == 0


def test_worker_checks_again_before_the_first_packet(transactional_db, tenant_a, operator_a, settings, listener):
    """A scan queued while allowed, then the allowlist narrows: the job fails, naming the
    setting, and nothing was connected to."""
    from inventory.jobs import runner
    from inventory.jobs.models import Job

    settings.JOBS_SCAN_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    outside = make_network(tenant_a, OUTSIDE, "outside")
    resp = api(operator_a).post("/api/jobs/scan/", {"network": outside.pk, "ports": [listener.port]}, format="json")
    assert resp.status_code == 202
    job_id = resp.json()["id"]
    settings.JOBS_SCAN_ALLOWED_NETWORKS = ["127.0.0.0/24"]
    from inventory.jobs import discovery  # noqa: F401  (registers the handler)

    assert runner.run(job_id) == "failed"
    job = Job.objects.get(pk=job_id)
    assert "JOBS_SCAN_ALLOWED_NETWORKS" in job.error and not job.result.get("hosts")
    assert listener.accepted == 0
    # and with the allowlist widened again, the same scan finds the listener (the test can fail)
    settings.JOBS_SCAN_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    resp = api(operator_a).post("/api/jobs/scan/", {"network": outside.pk, "ports": [listener.port]}, format="json")
    assert runner.run(resp.json()["id"]) == "succeeded"
    assert Job.objects.get(pk=resp.json()["id"]).result["hosts"] == [TARGET]
    assert listener.accepted >= 1


def test_tenant_scan_policy_narrows(tenant_a, tenant_b, operator_a, operator_b, make_user, listener):
    from django.test import Client

    from inventory.jobs.models import ScanPolicy

    with pytest.raises(ValidationError, match="outside JOBS_SCAN_ALLOWED_NETWORKS"):
        ScanPolicy.objects.create(tenant=tenant_a, allowed_networks="8.8.8.0/24")
    with pytest.raises(ValidationError, match="not a network"):
        ScanPolicy.objects.create(tenant=tenant_a, allowed_networks="10.0.0.0/33")
    ScanPolicy.objects.create(tenant=tenant_a, allowed_networks="127.0.0.0/24, 10.1.0.0/16")
    outside_a = make_network(tenant_a, OUTSIDE, "outside-a")
    outside_b = make_network(tenant_b, OUTSIDE, "outside-b")
    resp = api(operator_a).post("/api/jobs/scan/", {"network": outside_a.pk}, format="json")
    assert resp.status_code == 400 and "scan policy" in resp.json()["network"][0]
    # another tenant is not narrowed by tenant A's policy
    resp = api(operator_b).post("/api/jobs/scan/", {"network": outside_b.pk}, format="json")
    assert resp.status_code == 202, resp.content
    assert listener.accepted == 0  # nothing ran: no worker here

    # admin: a tenant admin edits their own tenant's policy only; an operator may not
    admin_a = make_user("pol_admin", {tenant_a: "admin", tenant_b: "viewer"})
    client = Client()
    client.force_login(admin_a)
    page = client.get("/admin/jobs/scanpolicy/add/")
    assert page.status_code == 200
    choices = [c[0].value for c in page.context["adminform"].form.fields["tenant"].choices if c[0]]
    assert choices == [tenant_a.pk]
    resp = client.post("/admin/jobs/scanpolicy/add/", {"tenant": tenant_b.pk, "allowed_networks": "127.0.0.0/24"})
    assert resp.status_code == 200 and "tenant" in resp.context["adminform"].form.errors
    assert not ScanPolicy.objects.filter(tenant=tenant_b).exists()
    client.force_login(operator_a)
    assert client.get("/admin/jobs/scanpolicy/add/").status_code == 403
