"""Issue 24 item 14: a known secret typed into a command is masked wherever the command is
stored or shown (Job.params, REST, admin, the MCP audit row), while the worker runs it as typed
(kept encrypted at rest in Job.sealed)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.test_jobs_support import SSHServer, api, make_device, ssh_server  # noqa: F401

PASSWORD = SSHServer.PASSWORD
COMMAND = f"printf %s '{PASSWORD}' | wc -c"


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_command_with_the_device_password_is_masked_everywhere_but_runs_as_typed(ssh_server, tenant_a, operator_a,
                                                                                   superuser, settings):
    from django.test import Client

    from inventory.jobs import provisioning, runner  # noqa: F401  (handlers register on import)
    from inventory.jobs.models import Job
    from inventory.tenancy import Principal
    from mcp_gateway.models import McpCall
    from mcp_gateway.registry import registry
    from mcp_gateway.server import CallerEnv, execute

    device = make_device(tenant_a, ssh_server, credential="password")
    # REST
    resp = api(operator_a).post("/api/jobs/command/", {"device": device.pk, "command": COMMAND}, format="json")
    assert resp.status_code == 202, resp.content
    job = Job.objects.get(pk=resp.json()["id"])
    assert PASSWORD not in str(job.params) and job.params["command"] == "printf %s '********' | wc -c"
    assert PASSWORD not in resp.content.decode()
    assert PASSWORD not in _raw("jobs_job", "params", job.pk) and PASSWORD not in _raw("jobs_job", "sealed", job.pk)
    assert PASSWORD not in api(operator_a).get(f"/api/jobs/{job.pk}/").content.decode()
    # the worker runs what was typed: the password's length is counted
    assert runner.run(job.pk) == "succeeded", Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    assert job.result["stdout"].strip() == str(len(PASSWORD))
    assert PASSWORD not in str(job.result) and all(PASSWORD not in line.message for line in job.log_lines.all())
    # admin
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert page.status_code == 200 and PASSWORD not in page.content.decode()
    # MCP: the job and the audit row
    env = CallerEnv(principal=Principal(operator_a, via="api_key"), ip="127.0.0.1")
    from mcp_gateway.models import Confirmation
    from tests.test_mcp_support import execute_confirmed

    result, is_error = execute_confirmed(registry.get("command_execute"), {"device_id": device.pk, "command": COMMAND}, env)
    assert not is_error, result
    assert PASSWORD not in str(Job.objects.get(pk=result["job_id"]).params)
    row = McpCall.objects.get(tool="command_execute", outcome="ok")
    assert PASSWORD not in str(row.arguments) and "***" in row.arguments["command"]
    assert PASSWORD not in _raw("mcp_gateway_mcpcall", "arguments", row.pk)
    # the question asked first (pending call row, confirmation row) holds no password either
    pending = McpCall.objects.get(tool="command_execute", outcome="pending")
    assert PASSWORD not in str(pending.arguments) + pending.error_message
    asked = Confirmation.objects.get(tool="command_execute")
    assert PASSWORD not in str(asked.arguments) + str(asked.impact) + asked.impact_text and "***" in asked.impact_text
    # refused calls are masked too
    result, is_error = execute(registry.get("command_execute"), {"device_id": device.pk, "command": COMMAND, "timeout": 0}, env)
    assert is_error
    assert all(PASSWORD not in str(r.arguments) for r in McpCall.objects.all())


@pytest.mark.django_db
def test_secret_providers_add_secrets(tenant_a, operator_a, settings):
    """Other apps (roles' secrets) add values through JOBS_SECRET_PROVIDERS."""
    from inventory.jobs import masking

    device = make_device(tenant_a, None, name="prov1")
    settings.JOBS_SECRET_PROVIDERS = ["tests.test_hardening_secrets.role_secrets"]
    assert masking.device_secrets(device) == {"role-secret-value-42"}
    assert masking.mask({"c": ["x role-secret-value-42 y"]}, masking.device_secrets(device)) == {"c": ["x ******** y"]}
    settings.JOBS_SECRET_PROVIDERS = []
    assert masking.device_secrets(device) == set()


def role_secrets(device):
    return ["role-secret-value-42", "ab"]  # too short values are never masked


@pytest.mark.django_db(transaction=True)
def test_a_password_typed_into_a_custom_command_tool_is_masked_in_the_audit_and_the_question(
        ssh_server, tenant_a, tenant_b, operator_a):
    """A custom command tool declares the known secrets of the devices it would run on, as
    command_execute does for its device: a password typed into a parameter is never stored."""
    from inventory.jobs.models import Job
    from inventory.models import Tag
    from inventory.tenancy import Principal
    from mcp_gateway.custom.models import CustomTool
    from mcp_gateway.custom.provider import as_tool, rows
    from mcp_gateway.models import Confirmation, McpCall
    from mcp_gateway.server import CallerEnv
    from tests.test_mcp_support import execute_confirmed

    device = make_device(tenant_a, ssh_server, credential="password", name="a-web")
    device.tags.set([Tag.objects.create(tenant=tenant_a, name="web")])
    CustomTool(tenant=tenant_a, name="echo_on_web", description="Echo a word on the web servers.", kind="command",
               parameters={"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
               definition={"command": "echo {{ word }}", "selector": {"tags": ["web"]}, "max_devices": 2}).save()
    tool = as_tool(next(r for r in rows() if r.name == "echo_on_web"))
    assert tool.destructive  # a command tool asks first unless declared otherwise
    env = CallerEnv(principal=Principal(operator_a, via="api_key"), ip="127.0.0.1")
    result, is_error = execute_confirmed(tool, {"word": f"x{PASSWORD}y"}, env)
    assert not is_error, result
    job = Job.objects.get(pk=result["jobs"][0]["job_id"])
    assert PASSWORD not in str(job.params)
    stored = [str(r.arguments) + r.error_message for r in McpCall.objects.filter(tool="echo_on_web")]
    assert len(stored) == 2 and all(PASSWORD not in s and "***" in s for s in stored), stored  # pending, then ok
    asked = Confirmation.objects.get(tool="echo_on_web")
    assert PASSWORD not in str(asked.arguments) + str(asked.impact) + asked.impact_text
