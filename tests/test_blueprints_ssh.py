"""A blueprint run on a real Celery worker over real SSH (the in-process asyncssh server of
tests/test_jobs_support.py, running real shell commands on loopback): a step fails mid-way, the
run stops with what was done, ``resume`` finishes it without redoing the earlier steps; every
write is audited with the caller, the job and the starting request's correlation id; the same blueprint planned again
changes nothing; the secret parameter is absent from every surface."""

from __future__ import annotations

import json

import pytest

from tests.test_jobs_support import api, make_device, one_worker, ssh_server, wait_job  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "Resume-Secret-Token-51d2"


def blueprint(root) -> dict:
    return {
        "name": "marker-stack", "version": "1.2.0", "title": "Marker",
        "parameters": {"type": "object", "additionalProperties": False, "properties": {
            "greeting": {"type": "string", "default": "hello"},
            "token": {"type": "string", "writeOnly": True, "description": "An API token (secret)."}}},
        "steps": [
            {"id": "nodes", "action": "select_devices", "args": {"names": ["app-1"]}},
            {"id": "token", "action": "set_secret", "args": {"name": "api_token", "value": "{{ params.token }}"}},
            {"id": "generated", "action": "set_secret", "args": {"name": "gen_token", "generate": True}},
            {"id": "role", "action": "ensure_role", "args": {"role": {
                "name": "marker", "defaults": {"greeting": "hi"},
                "templates": [{"path": str(root / "etc/marker.conf"), "mode": "0640",
                               "content": "{{ greeting }} from {{ device.name }} token={{ secret('api_token') }}\n"
                                          "generated={{ secret('gen_token') }}\n"}],
                "steps": [{"name": "Marker file", "type": "upload_templates"}]}}},
            {"id": "assign", "action": "assign_role", "args": {
                "role": "marker", "devices": "{{ steps.nodes.devices }}",
                "variables": {"greeting": "{{ params.greeting }}"}}},
            {"id": "provision", "action": "provision", "args": {"devices": "{{ steps.nodes.devices }}"}},
            {"id": "gate", "action": "run_command", "args": {
                "devices": "{{ steps.nodes.devices }}",
                # the command prints the role's secret: the run's record masks it as the job's log does
                "command": f"test -f {root / 'go'} && echo gate-open && cat {root / 'etc/marker.conf'}"}},
            {"id": "result", "action": "output", "args": {"values": {"nodes": "{{ steps.nodes.devices }}"}}},
        ],
    }


def test_failure_mid_way_then_resume_then_nothing_to_do(one_worker, ssh_server, tenant_a, operator_a, tmp_path):
    from auditlog.models import LogEntry

    from inventory.blueprints.models import BlueprintRun
    from inventory.configuration.models import RoleAssignment
    from inventory.jobs.models import Job, JobLogLine
    from inventory.models import IPAddress, Network

    net = Network.objects.create(tenant=tenant_a, name="lo", subnet="127.79.1.0/29")
    device = make_device(tenant_a, ssh_server, name="app-1")
    IPAddress.objects.create(tenant=tenant_a, network=net, address="127.79.1.2", device=device)
    root = tmp_path / "machine"
    client = api(operator_a)
    assert client.post("/api/blueprints/", {"document": blueprint(root)}, format="json").status_code == 201
    body = {"name": "marker-stack", "params": {"greeting": "hey", "token": SECRET}}

    r = client.post("/api/blueprints/use/", body, format="json")
    assert r.status_code == 202, r.content
    run_id, job_id = r.json()["run_id"], r.json()["job_id"]
    job = wait_job(job_id, worker=one_worker, timeout=60)
    assert job.status == "failed" and "Step 7/8 'gate' (run_command) failed" in job.error, job.error
    run = client.get(f"/api/blueprint-runs/{run_id}/").json()
    assert run["status"] == "failed" and run["can_resume"] is True
    assert [s["status"] for s in run["steps"]] == ["succeeded"] * 6 + ["failed", "pending"]
    assert "app-1: the command exited with status 1" in run["steps"][6]["error"]
    done = {s["id"]: s for s in run["steps"]}
    assert [c["op"] for c in done["role"]["changes"]] == ["create_role"]
    assert done["provision"]["changes"][0]["target"] == "app-1"
    # what was done is there: the role assigned, the file on the machine (with the secret), the device active
    assert RoleAssignment.objects.filter(device=device, role__name="marker", variables={"greeting": "hey"}).exists()
    from inventory.configuration.models import Secret

    generated = Secret.objects.get(name="gen_token").value
    assert len(generated) == 32
    assert (root / "etc/marker.conf").read_text() == f"hey from app-1 token={SECRET}\ngenerated={generated}\n"
    device.refresh_from_db()
    assert device.status == "active"

    # resume: a new job starting at the failed step
    (root / "go").write_text("")
    r = client.post(f"/api/blueprint-runs/{run_id}/resume/", format="json")
    assert r.status_code == 202, r.content
    assert client.post(f"/api/blueprint-runs/{run_id}/resume/", format="json").status_code == 409
    second = r.json()["job"]["id"]
    assert second != job_id and r.json()["jobs"] == [job_id, second]
    job2 = wait_job(second, worker=one_worker, timeout=60)
    assert job2.status == "succeeded", (job2.error, [line.message for line in job2.log_lines.all()])
    run = client.get(f"/api/blueprint-runs/{run_id}/").json()
    assert run["status"] == "succeeded" and [s["status"] for s in run["steps"]] == ["succeeded"] * 8
    assert run["outputs"] == {"nodes": ["app-1"]}
    assert "gate-open" in run["steps"][6]["ran"]["app-1"]["stdout"]
    assert "hey from app-1 token=********\ngenerated=********" in run["steps"][6]["ran"]["app-1"]["stdout"]
    log2 = [line.message for line in JobLogLine.objects.filter(job_id=second)]
    assert "Step 6/8 'provision' (provision) already done." in log2
    assert not any("Marker file" in line for line in log2)  # the provisioning did not run again

    # audited as the job's: the caller as actor, "via job #N", the correlation id of the request
    first = Job.objects.get(pk=job_id)
    entries = LogEntry.objects.filter(additional_data__job=job_id)
    models = {e.content_type.model for e in entries}
    assert {"role", "roleassignment", "secret"} <= models, models
    assert {e.actor_id for e in entries} == {operator_a.pk}
    assert {e.cid for e in entries} == {first.correlation_id} and first.correlation_id
    assert {e.additional_data["via"] for e in entries} == {f"job #{job_id}"}

    # the same blueprint and params again: nothing to do
    r = client.post("/api/blueprints/use/", {**body, "dry_run": True}, format="json")
    assert r.status_code == 200, r.content
    plan = r.json()["plan"]
    assert plan["changes"] == 0, [s["changes"] for s in plan["steps"] if s["changes"]]
    assert plan["confirmation_required"] is False  # nothing touches the (now active) device
    # a changed parameter changes the assignment, so the device is provisioned again; it is in
    # production (active) now: that needs confirmation
    r = client.post("/api/blueprints/use/", {**body, "params": {"greeting": "bye", "token": SECRET},
                                             "dry_run": True}, format="json")
    plan = r.json()["plan"]
    assert [c["op"] for s in plan["steps"] for c in s["changes"]] == ["update_assignment", "provision", "run_command"]
    assert plan["confirmation_required"] and "app-1" in plan["confirmation_reasons"][0]

    # the secret parameter: nowhere but the machine's file (and encrypted at rest)
    haystacks = [json.dumps(list(Job.objects.values("params", "result", "error", "step")), default=str),
                 "\n".join(JobLogLine.objects.values_list("message", flat=True)),
                 json.dumps(list(BlueprintRun.objects.values("params", "plan", "results", "outputs", "error")),
                            default=str),
                 json.dumps(list(LogEntry.objects.values("changes", "changes_text", "additional_data")), default=str),
                 client.get(f"/api/blueprint-runs/{run_id}/").content.decode(), one_worker.output()]
    leaks = [(i, s) for i, text in enumerate(haystacks) for s in (SECRET, generated) if s in text]
    assert not leaks, leaks
