"""REST, MCP-handler and admin surfaces of jobs: bad input, permissions and tenant isolation.

No worker here: under the ``db`` fixture jobs are recorded but never sent (on_commit)."""

from __future__ import annotations

import pytest

from tests.test_jobs_support import SSHServer, api, make_network

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tenant_a, tenant_b, operator_a, operator_b, viewer_a):
    from inventory.jobs.models import DeviceAccess, DiscoveredDevice, Job
    from inventory.models import Device

    server = SSHServer()
    net_a = make_network(tenant_a, "127.101.0.0/24", "a-net")
    net_b = make_network(tenant_b, "127.102.0.0/24", "b-net")
    dev_a = Device.objects.create(tenant=tenant_a, name="a1", username="root")
    dev_b = Device.objects.create(tenant=tenant_b, name="b1", username="root")
    for dev in (dev_a, dev_b):
        DeviceAccess.objects.create(device=dev, host="127.0.0.1", secret=server.client_private,
                                    host_key=server.host_public)
    job_b = Job.objects.create(tenant=tenant_b, kind="command", device=dev_b, params={"command": "id"})
    found_a = DiscoveredDevice.objects.create(network=net_a, ip="127.101.0.7", open_ports=[22], hostname="h7.example")
    found_b = DiscoveredDevice.objects.create(network=net_b, ip="127.102.0.7", open_ports=[22])
    return {"net_a": net_a, "net_b": net_b, "dev_a": dev_a, "dev_b": dev_b, "job_b": job_b,
            "found_a": found_a, "found_b": found_b, "server": server}


def bearer(user, scopes, tenant=None):
    from rest_framework.test import APIClient

    from oauth.models import ApiKey

    _key, raw = ApiKey.create(user, "k", scopes=scopes, tenant=tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_start_scan_bad_input_permissions_and_isolation(setup, operator_a, viewer_a, operator_b):
    from inventory.jobs.models import Job

    before = Job.objects.count()
    client = api(operator_a)
    assert client.post("/api/jobs/scan/", {}, format="json").json() == {"network": ["This field is required."]}
    resp = client.post("/api/jobs/scan/", {"network": setup["net_b"].pk}, format="json")
    assert resp.status_code == 400 and "No network with id" in resp.json()["network"][0]
    resp = client.post("/api/jobs/scan/", {"network": setup["net_a"].pk, "scan_type": "fast"}, format="json")
    assert resp.status_code == 400 and "scan_type" in resp.json()
    resp = client.post("/api/jobs/scan/", {"network": setup["net_a"].pk, "ports": [0, 70000]}, format="json")
    assert resp.status_code == 400 and "ports" in resp.json()
    resp = client.post("/api/jobs/scan/", {"network": "x"}, format="json")
    assert resp.status_code == 400
    resp = api(viewer_a).post("/api/jobs/scan/", {"network": setup["net_a"].pk}, format="json")
    assert resp.status_code == 403 and "role" in resp.json()["detail"]
    resp = bearer(operator_a, ["inventory:read", "inventory:write"]).post(
        "/api/jobs/scan/", {"network": setup["net_a"].pk}, format="json")
    assert resp.status_code == 403 and "jobs:execute" in resp.json()["detail"]
    from rest_framework.test import APIClient

    assert APIClient().post("/api/jobs/scan/", {"network": setup["net_a"].pk}, format="json").status_code == 401
    assert Job.objects.count() == before

    resp = bearer(operator_a, ["jobs:execute", "inventory:read"]).post(
        "/api/jobs/scan/", {"network": setup["net_a"].pk, "scan_type": "deep", "ports": [22, 22, 80]}, format="json")
    assert resp.status_code == 202, resp.content
    job = Job.objects.get(pk=resp.json()["id"])
    assert (job.status, job.kind, job.tenant_id, job.via) == ("queued", "discovery_scan", setup["net_a"].tenant_id, "api_key")
    assert job.params == {"scan_type": "deep", "ports": [22, 80]} and job.created_by == operator_a


def test_start_command_and_provisioning_bad_input(setup, operator_a, settings):
    from inventory.jobs.models import DeviceAccess, Job
    from inventory.models import Device

    client = api(operator_a)
    dev_a = setup["dev_a"]
    cases = [
        ({"device": dev_a.pk}, "command"),
        ({"device": dev_a.pk, "command": "   "}, "command"),
        ({"device": dev_a.pk, "command": "id", "timeout": 0}, "timeout"),
        ({"device": dev_a.pk, "command": "id", "timeout": settings.JOBS_COMMAND_MAX_TIMEOUT + 1}, "timeout"),
        ({"device": setup["dev_b"].pk, "command": "id"}, "device"),
    ]
    for body, field in cases:
        resp = client.post("/api/jobs/command/", body, format="json")
        assert resp.status_code == 400 and field in resp.json(), (body, resp.content)
    bare = Device.objects.create(tenant=dev_a.tenant, name="no-access")
    resp = client.post("/api/jobs/command/", {"device": bare.pk, "command": "id"}, format="json")
    assert resp.status_code == 400 and "no SSH access" in resp.json()["device"][0]
    DeviceAccess.objects.create(device=bare, secret="")
    resp = client.post("/api/jobs/command/", {"device": bare.pk, "command": "id"}, format="json")
    assert resp.status_code == 400

    resp = client.post("/api/jobs/provision/", {"device": dev_a.pk, "network": setup["net_b"].pk}, format="json")
    assert resp.status_code == 400 and "network" in resp.json()
    resp = client.post("/api/jobs/provision/", {"device": dev_a.pk, "scripts": [{"name": "x", "script": "{% if %}"}]},
                       format="json")
    assert resp.status_code == 400 and "Template error" in str(resp.json())
    assert not Job.objects.filter(device=dev_a).exists()
    resp = client.post("/api/jobs/provision/", {"device": dev_a.pk}, format="json")
    assert resp.status_code == 202
    plan = Job.objects.get(pk=resp.json()["id"]).params["plan"]
    assert [s["action"] for s in plan] == ["allocate_address", "ssh", "ssh", "set_status"]
    resp = client.post("/api/jobs/provision/", {"device": dev_a.pk}, format="json")
    assert resp.status_code == 409 and "already being provisioned" in resp.json()["detail"]


def test_job_list_detail_cancel_isolation(setup, operator_a, viewer_a, operator_b):
    from inventory.jobs.models import Job

    job_b = setup["job_b"]
    resp = api(operator_a).post("/api/jobs/command/", {"device": setup["dev_a"].pk, "command": "uptime"}, format="json")
    job_a = resp.json()["id"]
    listed = api(operator_a).get("/api/jobs/").json()
    assert [j["id"] for j in listed["results"]] == [job_a] and listed["count"] == 1
    assert api(operator_a).get("/api/jobs/?status=queued&kind=command").json()["count"] == 1
    assert api(operator_a).get("/api/jobs/?status=running").json()["count"] == 0
    assert api(operator_a).get("/api/jobs/?status=bogus").status_code == 400
    assert api(operator_a).get("/api/jobs/?kind=bogus").status_code == 400
    assert api(operator_a).get(f"/api/jobs/{job_b.pk}/").status_code == 404
    assert api(operator_a).post(f"/api/jobs/{job_b.pk}/cancel/").status_code == 404
    assert api(operator_a).get("/api/jobs/99999999/").status_code == 404
    assert api(operator_b).get(f"/api/jobs/{job_a}/").status_code == 404

    detail = api(viewer_a).get(f"/api/jobs/{job_a}/").json()
    assert detail["status"] == "queued" and detail["log"][0]["message"].startswith("Queued by operator_a")
    assert api(viewer_a).get(f"/api/jobs/{job_a}/?log_after=x").status_code == 400
    assert api(viewer_a).get(f"/api/jobs/{job_a}/?log_after={detail['log'][-1]['id']}").json()["log"] == []
    assert api(viewer_a).post(f"/api/jobs/{job_a}/cancel/").status_code == 403

    resp = api(operator_a).post(f"/api/jobs/{job_a}/cancel/")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert Job.objects.get(pk=job_a).finished is not None
    resp = api(operator_a).post(f"/api/jobs/{job_a}/cancel/")
    assert resp.status_code == 409 and "already finished" in resp.json()["detail"]
    assert Job.objects.get(pk=job_b.pk).status == "queued"


def test_discovery_list_and_promote_errors(setup, operator_a, viewer_a):
    from inventory.models import Device

    found_a, found_b = setup["found_a"], setup["found_b"]
    listed = api(viewer_a).get("/api/jobs/discovered/").json()
    assert [r["ip"] for r in listed["results"]] == ["127.101.0.7"]
    assert api(viewer_a).get(f"/api/jobs/discovered/?network={setup['net_b'].pk}").status_code == 404
    assert api(viewer_a).get("/api/jobs/discovered/?network=abc").status_code == 400
    url = f"/api/jobs/discovered/{found_a.pk}/promote/"
    assert api(viewer_a).post(url, {"name": "x"}, format="json").status_code == 403
    assert api(operator_a).post(f"/api/jobs/discovered/{found_b.pk}/promote/", {"name": "x"},
                                format="json").status_code == 404
    assert api(operator_a).post(url, {"name": ""}, format="json").status_code == 400
    resp = api(operator_a).post(url, {"name": "a1"}, format="json")  # taken
    assert resp.status_code == 400 and "already exists" in resp.json()["name"][0]
    assert Device.objects.filter(tenant=found_a.tenant).count() == 1
    resp = api(operator_a).post(url, {"name": "h7"}, format="json")
    assert resp.status_code == 201 and resp.json()["device_name"] == "h7"
    device = Device.objects.get(name="h7")
    assert device.facts["discovery"]["open_ports"] == [22]
    assert device.addresses.get().dns_name == "h7.example"


def test_access_settings_api(setup, operator_a, viewer_a):
    from inventory.jobs.models import DeviceAccess

    dev_a, server = setup["dev_a"], setup["server"]
    body = api(viewer_a).get(f"/api/jobs/access/{dev_a.pk}/").json()
    assert body["has_secret"] is True and "secret" not in body
    assert body["host_key_fingerprint"].startswith("ssh-ed25519 SHA256:")
    assert server.client_private.splitlines()[1] not in str(body)
    assert api(viewer_a).patch(f"/api/jobs/access/{dev_a.pk}/", {"port": 2222}, format="json").status_code == 403
    assert api(operator_a).get(f"/api/jobs/access/{setup['dev_b'].pk}/").status_code == 404
    resp = api(operator_a).patch(f"/api/jobs/access/{dev_a.pk}/", {"port": 70000}, format="json")
    assert resp.status_code == 400 and "port" in resp.json()
    resp = api(operator_a).patch(f"/api/jobs/access/{dev_a.pk}/", {"secret": "garbage"}, format="json")
    assert resp.status_code == 400 and "Not a private key" in resp.json()["secret"][0]
    resp = api(operator_a).patch(f"/api/jobs/access/{dev_a.pk}/", {"credential_type": "password",
                                                                   "secret": "pw-12345678"}, format="json")
    assert resp.status_code == 200 and "pw-12345678" not in resp.content.decode()
    assert DeviceAccess.objects.get(device=dev_a).secret == "pw-12345678"
    resp = api(operator_a).patch(f"/api/jobs/access/{dev_a.pk}/", {"port": 2200}, format="json")
    assert resp.status_code == 200 and DeviceAccess.objects.get(device=dev_a).secret == "pw-12345678"


def test_mcp_handlers_map_errors_and_isolate_tenants(setup, operator_a, viewer_a):
    """Through the gateway's call path: service errors become tool errors (one mapping), field
    errors under the tool's argument names; lists use the one envelope."""
    from inventory.tenancy import Principal
    from mcp_gateway.registry import registry
    from mcp_gateway.server import CallerEnv, execute

    def call(user, name, args):
        env = CallerEnv(principal=Principal(user, via="api_key"), ip="127.0.0.1", user_agent="pytest")
        result, is_error = execute(registry.get(name), args, env)
        return result["error"] if is_error else result

    err = call(operator_a, "discovery_scan", {"network_id": setup["net_b"].pk})
    assert err["code"] == "INVALID_PARAMS" and "network_id" in err["details"]
    started = call(operator_a, "discovery_scan", {"network_id": setup["net_a"].pk})
    assert started["status"] == "queued" and isinstance(started["job_id"], int)
    assert call(operator_a, "job_get", {"id": setup["job_b"].pk})["code"] == "NOT_FOUND"
    assert call(operator_a, "provisioning_status", {"job_id": setup["job_b"].pk})["code"] == "NOT_FOUND"
    assert call(operator_a, "provisioning_status", {"job_id": started["job_id"]})["code"] == "INVALID_PARAMS"
    listed = call(viewer_a, "job_list", {"kind": "discovery_scan"})
    assert [j["id"] for j in listed["items"]] == [started["job_id"]] and listed["has_more"] is False
    brief = call(viewer_a, "job_list", {"fields": ["status"]})
    assert set(brief["items"][0]) == {"id", "status"}
    call(operator_a, "job_cancel", {"id": started["job_id"]})
    assert call(operator_a, "job_cancel", {"id": started["job_id"]})["code"] == "CONFLICT"
    found = call(viewer_a, "discovery_list", {})
    assert [r["ip"] for r in found["items"]] == ["127.101.0.7"] and found["count"] == 1
    promoted = call(operator_a, "discovery_promote", {"discovered_id": setup["found_a"].pk, "name": "p1"})
    assert promoted["device_name"] == "p1"
    assert call(operator_a, "discovery_promote", {"discovered_id": setup["found_a"].pk, "name": "p2"})["code"] == "CONFLICT"
    err = call(operator_a, "command_execute", {"device_id": setup["dev_b"].pk, "command": "id"})
    assert err["code"] == "INVALID_PARAMS" and "device_id" in err["details"]


def test_admin_pages_and_actions(setup, operator_a, client):
    from inventory.jobs.models import Job, JobLogLine

    client.force_login(operator_a)
    job = Job.objects.create(tenant=setup["dev_a"].tenant, kind="command", device=setup["dev_a"], status="running",
                             progress=40, step="Running", params={"command": "id"})
    JobLogLine.objects.create(job=job, message="hello from the log")
    page = client.get("/admin/jobs/job/").content.decode()
    assert 'title="40%"' in page and f"/admin/jobs/job/{job.pk}/change/" in page
    assert f"/admin/jobs/job/{setup['job_b'].pk}/change/" not in page
    page = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "hello from the log" in page and "Cancel job" in page and "jobs_job_log" not in page
    assert "/log/" in page
    data = client.get(f"/admin/jobs/job/{job.pk}/log/?after=0").json()
    assert data["progress"] == 40 and data["log"][0]["message"] == "hello from the log"
    assert client.get(f"/admin/jobs/job/{setup['job_b'].pk}/log/").status_code == 404
    client.post(f"/admin/jobs/job/{job.pk}/cancel/")
    assert Job.objects.get(pk=job.pk).cancel_requested is True

    # "Scan network (quick)" on the Network changelist, "Run command" on the Device changelist
    resp = client.post("/admin/inventory/network/", {"action": "scan_network_quick",
                                                     "_selected_action": [setup["net_a"].pk]})
    assert resp.status_code == 302
    assert Job.objects.filter(network=setup["net_a"], kind="discovery_scan").count() == 1
    resp = client.post("/admin/inventory/device/", {"action": "run_command", "_selected_action": [setup["dev_a"].pk]})
    assert resp.status_code == 200 and "Run a command" in resp.content.decode()
    resp = client.post("/admin/inventory/device/", {"action": "run_command", "_selected_action": [setup["dev_a"].pk],
                                                    "apply": "1", "command": "uname -a", "timeout": "5"})
    assert resp.status_code == 302
    assert Job.objects.get(device=setup["dev_a"], params__command="uname -a").params["timeout"] == 5
    resp = client.post("/admin/inventory/device/", {"action": "provision_device",
                                                    "_selected_action": [setup["dev_a"].pk]})
    assert Job.objects.filter(device=setup["dev_a"], kind="provisioning").count() == 1
    access_page = client.get(f"/admin/jobs/deviceaccess/{setup['dev_a'].access.pk}/change/").content.decode()
    assert setup["server"].client_private.splitlines()[1] not in access_page
