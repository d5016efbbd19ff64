"""MCP resources (templates, paged list, reads, tenancy, subscriptions on a session) and prompts,
through the official SDK client and the MCP Inspector CLI."""

from __future__ import annotations

import json
import os
import subprocess

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.test_mcp_schemas import inspector
from tests.test_mcp_support import MODES, api_key, mcp_client, mcp_server, run  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _data(tenant_a, tenant_b, n=105):
    from inventory.jobs.models import Job, JobLogLine
    from inventory.models import Device, Network

    Device.objects.bulk_create([Device(tenant=tenant_a, name=f"r{i:03}") for i in range(n)])
    theirs = Device.objects.create(tenant=tenant_b, name="theirs")
    net = Network.objects.create(tenant=tenant_a, name="lan", subnet="127.11.0.0/24")
    job = Job.objects.create(tenant=tenant_a, kind="discovery_scan", target="127.11.0.0/24", network=net, status="running",
                             progress=40, step="scanning 127.11.0.9")
    JobLogLine.objects.create(job=job, message="scan started")
    return theirs, net, job


@pytest.mark.parametrize("mode", MODES)
def test_resources_and_prompts_through_the_sdk(mcp_server, make_user, tenant_a, tenant_b, mode):
    from inventory.models import Device

    theirs, net, job = _data(tenant_a, tenant_b)
    viewer = make_user("r_viewer", {tenant_a: "viewer"})
    key = api_key(viewer, scopes=["inventory:read"])
    mine = Device.objects.filter(tenant=tenant_a).order_by("pk").first()

    async def body():
        async with mcp_client(mcp_server.url, key, mode) as client:
            templates = (await client.list_resource_templates()).resource_templates
            assert {t.uri_template for t in templates} == {
                "inventory://devices/{id}", "inventory://networks/{id}", "inventory://pools/{id}",
                "inventory://jobs/{id}", "inventory://tenants/{id}/summary"}
            uris, cursor, pages = [], None, 0
            while True:
                page = await client.list_resources(cursor=cursor) if cursor else await client.list_resources()
                assert len(page.resources) <= 100
                uris += [str(r.uri) for r in page.resources]
                pages += 1
                cursor = page.next_cursor
                if not cursor:
                    break
            assert pages >= 2 and len(uris) == len(set(uris))
            assert f"inventory://tenants/{tenant_a.pk}/summary" in uris
            assert f"inventory://tenants/{tenant_b.pk}/summary" not in uris
            assert f"inventory://devices/{theirs.pk}" not in uris
            assert f"inventory://jobs/{job.pk}" in uris and f"inventory://networks/{net.pk}" in uris
            assert sum(u.startswith("inventory://devices/") for u in uris) == 105

            got = await client.read_resource(f"inventory://devices/{mine.pk}")
            device = json.loads(got.contents[0].text)
            assert device["name"] == mine.name and device["url"].startswith("http")
            summary = json.loads((await client.read_resource(f"inventory://tenants/{tenant_a.pk}/summary"))
                                 .contents[0].text)
            assert summary["counts"]["devices"] == 105 and summary["counts"]["jobs"] == 1
            log = (await client.read_resource(f"inventory://jobs/{job.pk}")).contents[0]
            assert log.mime_type == "text/plain" and "scan started" in log.text and "progress: 40%" in log.text
            # another tenant's, unknown, malformed: errors, nothing leaks
            for uri in (f"inventory://devices/{theirs.pk}", f"inventory://tenants/{tenant_b.pk}/summary",
                        "inventory://devices/999999", "inventory://secrets/1", "inventory://devices/x",
                        f"inventory://tenants/{tenant_a.pk}"):
                with pytest.raises(MCPError) as exc:
                    await client.read_resource(uri)
                assert "theirs" not in str(exc.value)
            with pytest.raises(MCPError):
                await client.list_resources(cursor="garbage")

            prompts = {p.name: p for p in (await client.list_prompts()).prompts}
            assert set(prompts) == {"investigate_ip", "audit_tenant", "plan_provisioning", "explain_job"}
            assert [a.name for a in prompts["investigate_ip"].arguments] == ["address"]
            got = await client.get_prompt("explain_job", {"job_id": str(job.pk)})
            assert f"inventory://jobs/{job.pk}" in got.messages[0].content.text
            got = await client.get_prompt("investigate_ip", {"address": "127.11.0.9"})
            assert "127.11.0.9" in got.messages[0].content.text
            for name, args in (("investigate_ip", {}), ("explain_job", {"job_id": "x"}), ("nope", {}),
                               ("audit_tenant", {"tenant": "a", "extra": "1"})):
                with pytest.raises(MCPError):
                    await client.get_prompt(name, args)
            # no session on stateless HTTP: subscribing says so (2026-07-28 has no resources/subscribe)
            with pytest.raises(MCPError) as exc:
                await client.subscribe_resource(f"inventory://jobs/{job.pk}")
            assert "session" in str(exc.value) if mode == "legacy" else "not found" in str(exc.value)

    run(body)


def test_job_subscription_over_sse_session(mcp_server, make_user, tenant_a, tenant_b):
    from mcp import Client
    from mcp.client.sse import sse_client

    from inventory.jobs.models import Job, JobLogLine

    theirs, _net, job = _data(tenant_a, tenant_b, n=1)
    other_job = Job.objects.create(tenant=tenant_b, kind="discovery_scan", target="127.12.0.0/24", status="running")
    viewer = make_user("s_viewer", {tenant_a: "viewer"})
    key = api_key(viewer)
    updates: list[str] = []

    async def handler(message):
        if getattr(message, "method", None) == "notifications/resources/updated":
            updates.append(str(message.params.uri))

    async def subscribed():
        async with Client(sse_client(f"{mcp_server.url}/mcp/sse", headers={"Authorization": f"Bearer {key}"}),
                          mode="legacy", message_handler=handler) as client:
            with pytest.raises(MCPError):  # another tenant's job
                await client.subscribe_resource(f"inventory://jobs/{other_job.pk}")
            await client.subscribe_resource(f"inventory://jobs/{job.pk}")
            await anyio.sleep(1.2)
            await anyio.to_thread.run_sync(progress, 70)
            with anyio.fail_after(15):
                while not updates:
                    await anyio.sleep(0.1)
            await anyio.to_thread.run_sync(progress, 100, "succeeded")
            with anyio.fail_after(15):
                while len(updates) < 2:
                    await anyio.sleep(0.1)
            await client.unsubscribe_resource(f"inventory://jobs/{job.pk}")

    def progress(value, status="running"):
        from django.db import close_old_connections

        Job.objects.filter(pk=job.pk).update(progress=value, status=status)
        JobLogLine.objects.create(job=job, message=f"at {value}")
        close_old_connections()

    run(subscribed)
    assert updates[:2] == [f"inventory://jobs/{job.pk}"] * 2


def test_inspector_cli_lists_resources_and_prompts(mcp_server, make_user, tenant_a, tenant_b):
    cli = inspector()
    if cli is None:
        if os.environ.get("CI"):
            pytest.fail("the MCP Inspector CLI is missing: .ci/run installs it into var/node")
        pytest.skip("MCP Inspector CLI not installed (bash .ci/run installs it)")
    theirs, _net, job = _data(tenant_a, tenant_b, n=3)
    key = api_key(make_user("i_viewer", {tenant_a: "viewer"}))

    def cli_call(*args):
        proc = subprocess.run([cli, "--cli", f"{mcp_server.url}/mcp", "--transport", "http", "--header",
                               f"Authorization: Bearer {key}", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    listed = cli_call("--method", "resources/list")
    uris = {r["uri"] for r in listed["resources"]}
    assert f"inventory://jobs/{job.pk}" in uris and f"inventory://devices/{theirs.pk}" not in uris
    read = cli_call("--method", "resources/read", "--uri", f"inventory://jobs/{job.pk}")
    assert "scan started" in read["contents"][0]["text"]
    templates = cli_call("--method", "resources/templates/list")
    assert len(templates["resourceTemplates"]) == 5
    prompts = cli_call("--method", "prompts/list")
    assert {p["name"] for p in prompts["prompts"]} >= {"investigate_ip", "explain_job"}
    got = cli_call("--method", "prompts/get", "--prompt-name", "audit_tenant", "--prompt-args", "tenant=Tenant A")
    assert "Tenant A" in got["messages"][0]["content"]["text"]
