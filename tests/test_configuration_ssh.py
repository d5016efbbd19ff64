"""Provisioning from roles over real SSH (the in-process asyncssh server running real shell
commands) on a real Celery worker; role_test(compare=true) diffs; the MCP conversation of
issue 20's "done when" over real HTTP; the secret is absent from every surface afterwards."""

from __future__ import annotations

import json
import stat
import time

import pytest

from tests.test_jobs_support import api, make_device, one_worker, ssh_server, wait_job  # noqa: F401
from tests.test_mcp_support import api_key, call, confirmed, mcp_client, mcp_server, run  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "Pr0v-Secret-Value-9f3a"


def roles_for(tmp_path, operator):
    root, log = tmp_path / "machine", tmp_path / "machine" / "log.txt"
    base = {"name": "base", "defaults": {"greeting": "hello"},
            "templates": [{"path": str(root / "etc/base.conf"), "mode": "0600", "content": "{{ greeting }} {{ device.name }}\n"}],
            "steps": [{"type": "upload_templates"},
                      {"name": "Base marker", "type": "run", "args": {"command": f"echo base-ran >> {log}"}}]}
    client = api(operator)
    resp = client.post("/api/roles/", base, format="json")
    assert resp.status_code == 201, resp.content
    base_id = resp.json()["id"]
    app = {"name": "app", "defaults": {"port": 8080}, "dependencies": [base_id],
           "templates": [{"path": str(root / "etc/app.conf"), "mode": "0640",
                          "content": "port={{ port }}\npassword={{ secret('db_password') }}\n"}],
           "steps": [{"name": "Config", "type": "upload_templates"},
                     {"name": "After base", "type": "run", "args": {"command": f"echo app {{{{ port }}}} >> {log}"},
                      "only_if": f"test -f {root / 'etc/base.conf'}"},
                     {"name": "Skipped by unless", "type": "run", "args": {"command": f"echo never >> {log}"},
                      "unless": "true"},
                     {"name": "Skipped by only_if", "type": "run", "args": {"command": f"echo never2 >> {log}"},
                      "only_if": "false"},
                     {"name": "Uses the secret", "type": "run",
                      "args": {"command": "echo connecting with {{ secret('db_password') }}"}}]}
    resp = client.post("/api/roles/", app, format="json")
    assert resp.status_code == 201, resp.content
    return base_id, resp.json()["id"], root, log


def test_provisioning_two_roles_compare_and_failures(one_worker, ssh_server, tenant_a, operator_a, tmp_path):
    from inventory.jobs.models import Job
    from inventory.models import Device, Network

    Network.objects.create(tenant=tenant_a, name="lo", subnet="127.77.1.0/29")
    device = make_device(tenant_a, ssh_server, name="app-1")
    net = Network.objects.get(name="lo")
    base_id, app_id, root, log = roles_for(tmp_path, operator_a)
    client = api(operator_a)
    assert client.post(f"/api/devices/{device.pk}/roles/", {"role": app_id}, format="json").status_code == 201

    # a role that fails its test (no secret yet) cannot be provisioned unless forced
    resp = client.post("/api/jobs/provision/", {"device": device.pk, "network": net.pk}, format="json")
    assert resp.status_code == 400 and "db_password" in str(resp.json()["device"])
    client.post("/api/secrets/", {"scope": "device", "device": device.pk, "name": "db_password", "value": SECRET},
                format="json")

    # compare before: the files do not exist yet
    result = client.post(f"/api/roles/{app_id}/test/", {"device": device.pk, "compare": True}, format="json").json()
    assert result["ok"] and "compare_job_id" in result
    job = wait_job(result["compare_job_id"], worker=one_worker)
    assert job.status == "succeeded", job.error
    [entry] = job.result["files"]
    assert entry["status"] == "would create" and "+port=8080" in entry["diff"] and job.result["changed"] is True
    assert SECRET not in json.dumps(job.result) and "+password=********" in entry["diff"]
    assert not (root / "etc").exists()  # compare only reads

    resp = client.post("/api/jobs/provision/", {"device": device.pk, "network": net.pk}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_job(resp.json()["id"], worker=one_worker)
    assert job.status == "succeeded", (job.error, job.result)
    names = [s["name"] for s in job.result["steps"]]
    assert names == ["Allocate a primary address", "base: upload_templates", "base: Base marker", "app: Config",
                     "app: After base", "app: Skipped by unless", "app: Skipped by only_if", "app: Uses the secret",
                     "Mark the device active"]
    # files landed with content and mode; commands ran in order; guards honoured
    assert (root / "etc/base.conf").read_text() == "hello app-1\n"
    assert stat.S_IMODE((root / "etc/base.conf").stat().st_mode) == 0o600
    assert (root / "etc/app.conf").read_text() == f"port=8080\npassword={SECRET}\n"
    assert stat.S_IMODE((root / "etc/app.conf").stat().st_mode) == 0o640
    assert log.read_text().split() == ["base-ran", "app", "8080"]
    steps = {s["name"]: s for s in job.result["steps"]}
    assert steps["app: Skipped by unless"]["skipped"] and "unless" in steps["app: Skipped by unless"]["output"]
    assert steps["app: Skipped by only_if"]["skipped"]
    used = steps["app: Uses the secret"]
    assert used["commands"][0]["command"] == "echo connecting with «secret:db_password»"
    assert used["commands"][0]["stdout"] == "connecting with ********\n"
    assert steps["app: Config"]["files"][0]["bytes"] == len(f"port=8080\npassword={SECRET}\n")
    device.refresh_from_db()
    assert device.status == "active"

    # compare after: unchanged
    result = client.post(f"/api/roles/{app_id}/test/", {"device": device.pk, "compare": True}, format="json").json()
    job2 = wait_job(result["compare_job_id"], worker=one_worker)
    assert job2.result["files"][0]["status"] == "unchanged" and job2.result["summary"] == "unchanged"
    # a drifted file shows up as a diff
    (root / "etc/app.conf").write_text("port=1\n")
    result = client.post(f"/api/roles/{app_id}/test/", {"device": device.pk, "compare": True}, format="json").json()
    job3 = wait_job(result["compare_job_id"], worker=one_worker)
    assert job3.result["files"][0]["status"] == "would change" and "-port=1" in job3.result["files"][0]["diff"]

    # the secret is in no job output, log or API answer
    for j in Job.objects.all():
        assert SECRET not in json.dumps(j.result) + json.dumps(j.params) + j.error
        assert all(SECRET not in line.message for line in j.log_lines.all())
        assert SECRET not in client.get(f"/api/jobs/{j.pk}/").content.decode()
    assert SECRET not in one_worker.output()

    # a failing step stops the run with a clear reason; the next steps do not run
    broken = {"name": "broken", "steps": [{"name": "Fails", "type": "run", "args": {"command": "echo out; echo 'no disk' >&2; exit 5"}},
                                         {"name": "Never", "type": "run", "args": {"command": f"echo never3 >> {log}"}}]}
    broken_id = client.post("/api/roles/", broken, format="json").json()["id"]
    other = make_device(tenant_a, ssh_server, name="app-2")
    client.post(f"/api/devices/{other.pk}/roles/", {"role": broken_id}, format="json")
    job = wait_job(client.post("/api/jobs/provision/", {"device": other.pk, "network": net.pk},
                               format="json").json()["id"], worker=one_worker)
    assert job.status == "failed"
    assert job.error == "Step 2 'broken: Fails' failed: `echo out; echo 'no disk' >&2; exit 5` exited with status 5: no disk"
    assert [s["status"] for s in job.result["steps"]] == ["succeeded", "failed", "pending", "pending"]
    assert "never3" not in log.read_text()
    assert Device.objects.get(pk=other.pk).status == "failed"


async def finished(client, job_id, timeout=60.0):
    """Poll job_get (as the AI client would) until the job has finished."""
    import anyio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job, err = await call(client, "job_get", {"id": job_id})
        assert not err, job
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        await anyio.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_mcp_conversation_create_assign_test_provision_and_no_secret_anywhere(
        one_worker, ssh_server, mcp_server, tenant_a, operator_a, tmp_path):
    from auditlog.models import LogEntry

    from inventory.configuration.models import Secret
    from inventory.jobs.models import Job
    from mcp_gateway.models import McpCall

    device = make_device(tenant_a, ssh_server, name="mcp-box")
    from inventory.models import IPAddress, Network

    net = Network.objects.create(tenant=tenant_a, name="lo2", subnet="127.77.2.0/29")
    IPAddress.objects.create(tenant=tenant_a, network=net, address="127.77.2.1", device=device)
    key = api_key(operator_a, scopes=["inventory:read", "inventory:write", "inventory:delete", "jobs:execute"])
    target = tmp_path / "srv" / "app.env"

    async def conversation():
        async with mcp_client(mcp_server.url, key) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"role_list", "role_get", "role_save", "role_test", "device_assign_role",
                    "device_remove_role", "variable_list", "variable_set", "device_variables",
                    "secret_list", "secret_set"} <= tools
            assert not {"role_delete", "variable_delete", "secret_delete"} & tools  # operators do not delete
            role, err = await call(client, "role_save", {
                "name": "envfile", "defaults": {"mode_name": "prod"},
                "templates": [{"path": str(target), "mode": "0600", "content": "MODE={{ mode_name }}\nTOKEN={{ secret('api_token') }}\n"}],
                "steps": [{"type": "upload_templates"}, {"type": "run", "args": {"command": f"cat {target} | wc -l"}}]})
            assert not err, role
            secret, err = await call(client, "secret_set", {"scope": "device", "scope_id": device.pk,
                                                            "name": "api_token", "generate": True, "length": 30})
            assert not err and secret["name"] == "api_token" and "value" not in secret
            assigned, err = await call(client, "device_assign_role", {"device_id": device.pk, "role_id": role["id"],
                                                                      "variables": {"mode_name": "staging"}})
            assert not err and assigned["role"] == role["id"]
            effective, err = await call(client, "device_variables", {"device_id": device.pk})
            assert {v["key"]: v["scope"] for v in effective["variables"]} == {"mode_name": "role_assignment"}
            tested, err = await call(client, "role_test", {"role_id": role["id"], "device_id": device.pk, "compare": True})
            assert not err and tested["ok"], tested
            assert tested["files"][0]["content"] == "MODE=staging\nTOKEN=«secret:api_token»\n"
            got = await finished(client, tested["compare_job_id"])
            assert got["status"] == "succeeded", got
            assert got["result"]["files"][0]["status"] == "would create"
            started, err = await call(client, "provisioning_trigger", {"device_id": device.pk})
            assert not err, started
            await finished(client, started["job_id"])
            status, err = await call(client, "provisioning_status", {"job_id": started["job_id"]})
            assert status["status"] == "succeeded", status
            got, err = await call(client, "job_get", {"id": started["job_id"]})
            outputs = [c["stdout"] for s in got["result"]["steps"] for c in s.get("commands", [])]
            assert outputs == ["2\n"]
            tested, err = await call(client, "role_test", {"role_id": role["id"], "device_id": device.pk, "compare": True})
            after = await finished(client, tested["compare_job_id"])
            assert after["result"]["summary"] == "unchanged"
            listed, err = await call(client, "secret_list", {})
            removed, err = await confirmed(client, "device_remove_role", {"device_id": device.pk, "role_id": role["id"]})
            assert not err and removed["removed"]
            return [role, secret, assigned, effective, tested, got, after, listed, status]

    results = run(conversation)
    value = Secret.objects.get(name="api_token").value
    assert len(value) == 30 and target.read_text() == f"MODE=staging\nTOKEN={value}\n"
    surfaces = {
        "mcp results": json.dumps(results),
        "rest": "".join(api(operator_a).get(p).content.decode() for p in (
            "/api/secrets/", f"/api/devices/{device.pk}/variables/", "/api/jobs/", "/api/roles/")),
        "jobs": "".join(json.dumps(j.result) + json.dumps(j.params) + j.error
                        + "".join(line.message for line in j.log_lines.all()) for j in Job.objects.all()),
        "auditlog": "".join(json.dumps(e.changes) + str(e.additional_data) for e in LogEntry.objects.all()),
        "mcp audit": "".join(json.dumps(c.arguments) + c.error_message for c in McpCall.objects.all()),
        "server log": mcp_server.output(),
        "worker log": one_worker.output(),
    }
    for name, text in surfaces.items():
        assert value not in text, name
    assert McpCall.objects.filter(tool="secret_set").exists()
