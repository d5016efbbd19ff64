"""Commands and provisioning over real SSH (an in-process asyncssh server running real shell
commands) on a real worker: output, exit codes, timeouts, host keys, credentials, plans."""

from __future__ import annotations

import pytest

from tests.test_jobs_support import SSHServer, api, make_device, make_network, wait_job

pytestmark = pytest.mark.django_db(transaction=True)


def run(user, device, command, **extra):
    resp = api(user).post("/api/jobs/command/", {"device": device.pk, "command": command, **extra}, format="json")
    assert resp.status_code == 202, resp.content
    return resp.json()["id"]


def test_command_output_exit_status_timeout_and_truncation(one_worker, ssh_server, tenant_a, operator_a):
    device = make_device(tenant_a, ssh_server)
    ok = run(operator_a, device, "echo hello $(whoami >/dev/null && echo there); echo oops >&2")
    bad = run(operator_a, device, "echo before; exit 3")
    slow = run(operator_a, device, "echo started; sleep 5", timeout=1)
    big = run(operator_a, device, "head -c 5000 /dev/zero | tr '\\0' a")

    job = wait_job(ok, worker=one_worker)
    assert job.status == "succeeded", job.error
    assert job.result["stdout"] == "hello there\n" and job.result["stderr"] == "oops\n"
    assert job.result["exit_status"] == 0 and job.result["stdout_truncated"] is False
    detail = api(operator_a).get(f"/api/jobs/{ok}/").json()
    assert detail["result"]["stdout"] == "hello there\n" and detail["status"] == "succeeded"
    assert any("exit status 0" in line["message"] for line in detail["log"])

    job = wait_job(bad, worker=one_worker)
    assert job.status == "failed" and job.error == "The command exited with status 3."
    assert job.result["exit_status"] == 3 and job.result["stdout"] == "before\n"

    job = wait_job(slow, worker=one_worker)
    assert job.status == "failed" and "timed out after 1 s" in job.error
    assert job.result["timed_out"] is True and job.result["exit_status"] is None
    assert job.result["stdout"] == "started\n"  # partial output kept

    job = wait_job(big, worker=one_worker)
    assert job.status == "succeeded"
    assert job.result["stdout"] == "a" * 1000  # JOBS_OUTPUT_LIMIT in the worker
    assert job.result["stdout_truncated"] is True and job.result["stdout_bytes"] == 5000
    assert any("stdout truncated to 1000 of 5000 bytes" in line.message for line in job.log_lines.all())


def test_host_keys_first_use_approval_and_mismatch(one_worker, ssh_server, tenant_a, operator_a):
    import asyncssh

    from inventory.jobs.models import DeviceAccess

    device = make_device(tenant_a, ssh_server, host_key=False)
    job = wait_job(run(operator_a, device, "echo hi"), worker=one_worker)
    assert job.status == "failed" and "not approved yet" in job.error
    access = DeviceAccess.objects.get(device=device)
    assert access.pending_host_key == ssh_server.host_public and access.host_key == ""
    assert access.pending_host_key_fingerprint in job.error

    # approving a different fingerprint is refused; the right one pins the key
    client = api(operator_a)
    url = f"/api/jobs/access/{device.pk}/approve-host-key/"
    assert client.post(url, {"fingerprint": "SHA256:nope"}, format="json").status_code == 409
    resp = client.post(url, {"fingerprint": access.pending_host_key_fingerprint.split()[-1]}, format="json")
    assert resp.status_code == 200 and resp.json()["host_key"] == ssh_server.host_public
    assert client.post(url, {}, format="json").status_code == 409  # nothing pending any more
    job = wait_job(run(operator_a, device, "echo hi"), worker=one_worker)
    assert job.status == "succeeded" and job.result["stdout"] == "hi\n"

    # a different pinned key: the job fails and nothing runs
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    resp = client.patch(f"/api/jobs/access/{device.pk}/", {"host_key": other}, format="json")
    assert resp.status_code == 200, resp.content
    job = wait_job(run(operator_a, device, "touch /tmp/should-not-run-$$"), worker=one_worker)
    assert job.status == "failed" and "Host key mismatch" in job.error
    assert access.pending_host_key_fingerprint.split()[-1] in job.error  # what the host presented
    assert "exit_status" not in job.result


def test_bad_credentials_and_password_auth(one_worker, ssh_server, tenant_a, operator_a):
    import asyncssh

    wrong = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()
    device = make_device(tenant_a, ssh_server, name="wrong-key", secret=wrong)
    job = wait_job(run(operator_a, device, "echo hi"), worker=one_worker)
    assert job.status == "failed" and "Authentication failed for user 'deploy'" in job.error

    device = make_device(tenant_a, ssh_server, name="bad-pw", credential="password", secret="not-the-password")
    job = wait_job(run(operator_a, device, "echo hi"), worker=one_worker)
    assert job.status == "failed" and "Authentication failed" in job.error
    assert "not-the-password" not in job.error

    device = make_device(tenant_a, ssh_server, name="pw", credential="password")
    job = wait_job(run(operator_a, device, "echo pw-ok"), worker=one_worker)
    assert job.status == "succeeded" and job.result["stdout"] == "pw-ok\n"

    unreachable = make_device(tenant_a, ssh_server, name="down")
    from inventory.jobs.models import DeviceAccess

    DeviceAccess.objects.filter(device=unreachable).update(port=1)
    job = wait_job(run(operator_a, unreachable, "echo hi"), worker=one_worker)
    assert job.status == "failed" and "Cannot connect to 127.0.0.1:1" in job.error


def test_provisioning_plan_success(one_worker, ssh_server, tenant_a, operator_a):
    from inventory.models import Datacenter, Device, IPAddress, IPPool

    dc = Datacenter.objects.create(tenant=tenant_a, name="dc1")
    network = make_network(tenant_a, "127.120.0.0/24", "prov")
    network.datacenter = dc
    network.save()
    IPPool.objects.create(network=network, name="servers", start_address="127.120.0.10", end_address="127.120.0.20")
    device = make_device(tenant_a, ssh_server, name="app-1")
    device.datacenter = dc
    device.save()
    scripts = [
        {"name": "Say hello", "script": "echo hello {{ device.name|shquote }} at {{ address }}"},
        {"name": "Show tenant", "script": "echo tenant={{ tenant.slug }}; echo warn >&2"},
    ]
    resp = api(operator_a).post("/api/jobs/provision/", {"device": device.pk, "scripts": scripts}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_job(resp.json()["id"], worker=one_worker)
    assert job.status == "succeeded", job.error
    address = IPAddress.objects.get(device=device)
    assert address.address == "127.120.0.10" and address.pool.name == "servers"
    steps = job.result["steps"]
    assert [s["status"] for s in steps] == ["succeeded"] * 4
    assert steps[0]["address"] == "127.120.0.10"
    assert steps[1]["stdout"] == "hello app-1 at 127.120.0.10\n" and steps[1]["exit_status"] == 0
    assert steps[2]["stdout"] == "tenant=tenant-a\n" and steps[2]["stderr"] == "warn\n"
    device = Device.objects.get(pk=device.pk)
    assert device.status == "active" and device.facts["provisioning"]["status"] == "succeeded"

    # provisioning_status (MCP handler) reports the steps
    from inventory.jobs.mcp_tools import provisioning_status
    from inventory.tenancy import Principal
    from mcp_gateway.registry import ToolContext, registry

    ctx = ToolContext(principal=Principal(operator_a), tool=registry.get("provisioning_status"))
    status = provisioning_status(ctx, {"job_id": job.pk})
    assert status["status"] == "succeeded" and [s["name"] for s in status["steps"]] == [
        "Allocate a primary address", "Say hello", "Show tenant", "Mark the device active"]


def test_provisioning_failure_marks_device_failed(one_worker, ssh_server, tenant_a, operator_a):
    from inventory.models import Device, IPAddress

    network = make_network(tenant_a, "127.121.0.0/29", "small")
    device = make_device(tenant_a, ssh_server, name="app-2")
    scripts = [{"name": "Break", "script": "echo partial; echo 'disk full' >&2; exit 4"},
               {"name": "Never", "script": "echo never"}]
    resp = api(operator_a).post("/api/jobs/provision/", {"device": device.pk, "network": network.pk,
                                                         "scripts": scripts}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_job(resp.json()["id"], worker=one_worker)
    assert job.status == "failed"
    assert job.error == "Step 2 'Break' failed: exited with status 4: disk full"
    steps = job.result["steps"]
    assert [s["status"] for s in steps] == ["succeeded", "failed", "pending", "pending"]
    assert steps[1]["stdout"] == "partial\n" and steps[1]["exit_status"] == 4
    assert IPAddress.objects.get(device=device).address == "127.121.0.1"
    device = Device.objects.get(pk=device.pk)
    assert device.status == "failed" and "disk full" in device.facts["provisioning"]["reason"]
