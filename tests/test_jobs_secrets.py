"""Secrets never leave: run jobs with a password and a private key over real SSH, started over
real MCP (uvicorn) and read back over MCP and REST, then grep every output surface."""

from __future__ import annotations

import json

import pytest

from tests.test_jobs_support import SSHServer, make_device, wait_job
from tests.test_mcp_support import api_key, call, confirmed, mcp_client, rest, run

pytestmark = pytest.mark.django_db(transaction=True)


def test_secrets_absent_from_api_mcp_log_and_audit(one_worker, ssh_server, mcp_server, tenant_a, make_user, tmp_path):
    from auditlog.models import LogEntry

    from inventory.jobs.models import DeviceAccess, JobLogLine
    from mcp_gateway.models import McpCall

    user = make_user("ops", {tenant_a: "operator"})
    pw_device = make_device(tenant_a, ssh_server, name="pw-dev", credential="password")
    key_device = make_device(tenant_a, ssh_server, name="key-dev")
    leak = tmp_path / "leak.txt"
    leak.write_text(f"password is {SSHServer.PASSWORD}\n")
    # change the credential once more so the audit log has an update of the access row
    access = DeviceAccess.objects.get(device=key_device)
    access.secret = ssh_server.client_private
    access.port = ssh_server.port
    access.save()
    key = api_key(user, scopes=["inventory:read", "jobs:execute"])
    url = mcp_server.url

    async def start():
        async with mcp_client(url, key) as client:
            a, err_a = await confirmed(client, "command_execute", {"device_id": pw_device.pk, "command": f"cat {leak}"})
            b, err_b = await confirmed(client, "command_execute", {"device_id": key_device.pk, "command": "echo ok"})
            assert not err_a and not err_b, (a, b)
            return a["job_id"], b["job_id"]

    job_a, job_b = run(start)
    assert wait_job(job_a, worker=one_worker).status == "succeeded"
    assert wait_job(job_b, worker=one_worker).status == "succeeded"

    async def read():
        async with mcp_client(url, key) as client:
            out = [await call(client, "job_get", {"id": job_a}), await call(client, "job_get", {"id": job_b}),
                   await call(client, "job_list", {})]
            return out

    mcp_out = run(read)
    assert mcp_out[0][0]["result"]["stdout"] == "password is ********\n"  # the output was redacted
    rest_out = [rest(url, key, "GET", path).text for path in (
        f"/api/jobs/{job_a}/", f"/api/jobs/{job_b}/", "/api/jobs/", f"/api/jobs/access/{pw_device.pk}/",
        f"/api/jobs/access/{key_device.pk}/")]
    assert '"has_secret":true' in rest_out[3]
    log = "\n".join(JobLogLine.objects.values_list("message", flat=True))
    audit = json.dumps([{"changes": e.changes, "repr": e.object_repr, "extra": str(e.additional_data)}
                        for e in LogEntry.objects.all()], default=str)
    assert "deviceaccess" in json.dumps([e.content_type.model for e in LogEntry.objects.all()])
    mcp_audit = json.dumps(list(McpCall.objects.values()), default=str)

    secrets = [SSHServer.PASSWORD] + [line for line in ssh_server.client_private.splitlines()
                                      if len(line) >= 16 and "PRIVATE KEY" not in line]
    surfaces = {"mcp": json.dumps(mcp_out), "rest": "\n".join(rest_out), "job log": log, "audit log": audit,
                "mcp audit": mcp_audit, "worker output": one_worker.output()}
    for name, text in surfaces.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the {name}"
