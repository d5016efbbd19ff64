"""Issue 22's "done when", for real: an MCP client over real HTTP says the Durantic sentence —
blueprint_list → blueprint_get webserver-cluster → use_blueprint(dry_run) → confirm → run — and
three machines (network namespaces on one bridge, each with an SSH server and its own
copy-on-write /etc: tests/mesh_lab.py) end up serving with nginx's configuration written, the
roles assigned, the load-balancer upstream list of the peers, and a WireGuard mesh (wireguard-go)
with a full 3×3 matrix; the outputs come back; the admin shows it; the same call plans zero
changes afterwards.

The machines have no package mirror: stand-ins for dpkg-query/apt-get (nginx "installed"),
nginx -t and systemctl (reload nginx = serve /etc/nginx/conf.d on the configured listen port
with python's http.server) are first on their PATH. Traffic goes only to loopback and to the
namespaces' addresses (198.18.N.0/24 underlay, 198.19.N.0/24 overlay)."""

from __future__ import annotations

import json
import os
import stat
import sys
import urllib.request

import anyio
import pytest

from tests import mesh_lab
from tests.test_jobs_support import one_worker, wait_job  # noqa: F401
from tests.test_mcp_support import api_key, call, confirmed, mcp_client, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]


SHIMS = {
    "dpkg-query": "#!/bin/sh\necho 'install ok installed'\n",
    "apt-get": "#!/bin/sh\necho \"apt-get $* (test stand-in: nothing to do)\"\n",
    "nginx": "#!/bin/sh\n[ \"$1\" = -t ] && test -f /etc/nginx/conf.d/inventory-site.conf "
             "&& echo 'nginx: configuration file test is successful' >&2\n",
    "systemctl": """#!/bin/sh
case "$1" in
  enable|disable|daemon-reload) exit 0 ;;
  start|reload|restart)
    [ "$2" = nginx ] || exit 0
    port=$(sed -n 's/^ *listen \\([0-9]*\\);.*/\\1/p' /etc/nginx/conf.d/inventory-site.conf | head -n 1)
    [ -f /etc/nginx/serving.pid ] && kill "$(cat /etc/nginx/serving.pid)" 2>/dev/null && sleep 0.3
    setsid PYTHON -m http.server "$port" --directory /etc/nginx/conf.d </dev/null >/dev/null 2>&1 &
    echo $! > /etc/nginx/serving.pid
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && exit 0
      sleep 0.2
    done
    exit 0 ;;
  *) exit 0 ;;
esac
""",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    shims = tmp_path_factory.mktemp("shims")
    for name, text in SHIMS.items():
        (shims / name).write_text(text.replace("PYTHON", sys.executable))
        (shims / name).chmod(0o755)
    with mesh_lab.running(3, private_etc=True, path=[str(shims)]) as machines:
        yield machines


@pytest.fixture
def server(transactional_db):
    from tests.servers import UvicornServer

    with UvicornServer(workers=1) as s:
        yield s


def register(tenant, lab):
    """The machines as devices tagged web, already in production (active), with SSH access."""
    from inventory.jobs.models import DeviceAccess
    from inventory.models import Device, IPAddress, Network, Tag

    lan = Network.objects.create(tenant=tenant, name="lab", subnet=f"{lab.subnet}0/24")
    web = Tag.objects.create(tenant=tenant, name="web")
    devices = []
    for m in lab.machines:
        device = Device.objects.create(tenant=tenant, name=f"node{m.index}", username="root", status="active")
        device.tags.add(web)
        IPAddress.objects.create(tenant=tenant, network=lan, address=m.address, device=device)
        DeviceAccess.objects.create(device=device, host=m.address, port=22, credential_type="key",
                                    secret=lab.client_private, host_key=lab.host_public)
        devices.append(device)
    return devices


def test_webserver_cluster_on_three_machines(lab, one_worker, server, tenant_a, make_user, client):
    from inventory.blueprints.models import BlueprintRun
    from inventory.configuration.models import RoleAssignment
    from inventory.jobs.models import Job, JobLogLine
    from inventory.mesh.models import Mesh, MeshPeer

    user = make_user("web_ops", {tenant_a: "admin"})
    devices = register(tenant_a, lab)
    key = api_key(user)
    overlay = lab.subnet.replace("198.18.", "198.19.") + "0/24"
    params = {"count": 3, "tag": "web", "overlay_cidr": overlay, "listen_port": 8080, "server_name": "web.test"}
    state = {}

    async def conversation():
        async with mcp_client(server.url, key) as mcp:
            listed, err = await call(mcp, "blueprint_list", {"query": "web"})
            assert not err and "webserver-cluster" in [b["name"] for b in listed["items"]], listed
            got, err = await call(mcp, "blueprint_get", {"name": "webserver-cluster"})
            assert not err and got["source"] == "official"
            assert got["parameters"]["properties"]["count"]["default"] == 3
            bad, err = await call(mcp, "blueprint_save", {"document": "name: x\nversion: 1.0.0\nsteps:\n"
                                                                       "  - {id: a, action: reboot_all}\n"})
            assert err and bad["error"]["code"] == "INVALID_PARAMS"
            assert "steps[0] (a).action: unknown action 'reboot_all'" in bad["error"]["details"]["document"][0]
            mine, err = await call(mcp, "blueprint_import", {"name": "webserver-cluster", "new_name": "my-web"})
            assert not err and mine["source"] == "private" and mine["origin"] == "official:webserver-cluster@1.0.0"
            gone, err = await confirmed(mcp, "blueprint_delete", {"id": mine["id"]})
            assert not err and gone["deleted"]
            bad, err = await call(mcp, "use_blueprint", {"name": "webserver-cluster", "dry_run": True,
                                                         "params": {**params, "count": 0}})
            assert err and bad["error"]["code"] == "INVALID_PARAMS" and "count" in bad["error"]["details"]["params"]
            plan, err = await call(mcp, "use_blueprint", {"name": "webserver-cluster", "params": params,
                                                          "dry_run": True})
            assert not err, plan
            assert plan["plan"]["confirmation_required"], "the devices are in production"
            assert [c["target"] for c in plan["plan"]["steps"][0]["unchanged"]] == ["node1", "node2", "node3"]
            assert "confirm" not in plan and "in production" in plan["impact"]["summary"]
            # a plan touching production asks first (the gateway's confirmation); nothing runs yet
            asked, err = await call(mcp, "use_blueprint", {"name": "webserver-cluster", "params": params})
            assert err and asked["error"]["code"] == "CONFIRMATION_REQUIRED", asked
            assert not await anyio.to_thread.run_sync(BlueprintRun.objects.exists)
            started, err = await call(mcp, "use_blueprint", {"name": "webserver-cluster", "params": params,
                                                             "confirm_token": asked["error"]["details"]["confirm_token"]})
            assert not err, started
            state["run"], state["job"] = started["run_id"], started["job_id"]

    run(conversation)
    job = wait_job(state["job"], worker=one_worker, timeout=240)
    assert job.status == "succeeded", (job.error, [line.message for line in job.log_lines.all()][-30:])

    async def outcome():
        async with mcp_client(server.url, key) as mcp:
            got, err = await call(mcp, "blueprint_run_get", {"id": state["run"]})
            assert not err
            return got

    result = run(outcome)
    assert result["status"] == "succeeded" and all(s["status"] == "succeeded" for s in result["steps"])
    peers = {p.device.name: p for p in MeshPeer.objects.select_related("device", "address")}
    addresses = {name: p.address.address for name, p in peers.items()}
    assert result["outputs"]["servers"] == ["node1", "node2", "node3"]
    assert result["outputs"]["overlay_addresses"] == addresses and len(set(addresses.values())) == 3
    assert all(a.startswith(lab.subnet.replace("198.18.", "198.19.")) for a in addresses.values())

    # roles assigned; every machine has nginx's site, the upstream list of the peers, the
    # hardening and its WireGuard configuration (0600), and serves on 8080
    for device in devices:
        assert list(RoleAssignment.objects.filter(device=device).values_list("role__name", flat=True)) == [
            "nginx", "web-upstreams"]
    for m in lab.machines:
        site = m.etc("nginx/conf.d/inventory-site.conf").read_text()
        assert "listen 8080;" in site and "server_name web.test;" in site and f"for node{m.index}" in site
        upstream = m.etc("nginx/conf.d/inventory-upstream.conf").read_text()
        assert all(f"server {a}:8080;" in upstream for a in addresses.values()), upstream
        assert m.etc("ssh/sshd_config.d/50-hardening.conf").exists()
        conf = m.etc("wireguard/wg-web.conf")
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600 and conf.read_text().count("[Peer]") == 2
        assert not mesh_lab.Path("/etc/nginx/conf.d/inventory-site.conf").exists(), "the host's /etc is untouched"
        page = urllib.request.urlopen(f"http://{m.address}:8080/", timeout=5).read().decode()
        assert "inventory-upstream.conf" in page
        # and over the mesh, from the next machine
        other = lab.machines[m.index % 3]
        fetched = other.run(f"{sys.executable} -c \"import urllib.request; print(urllib.request.urlopen("
                            f"'http://{addresses[f'node{m.index}']}:8080/', timeout=5).status)\"")
        assert fetched.stdout.strip() == "200"

    # the mesh: full matrix (wait_for ran the check in the run)
    mesh = Mesh.objects.get(tenant=tenant_a, name="web-mesh")
    assert mesh.last_matrix["pairs"] == 6 and mesh.last_matrix["reachable_pairs"] == 6
    wait = next(s for s in result["steps"] if s["id"] == "mesh_up")
    assert wait["outputs"] == {"mesh": "web-mesh", "reachable_pairs": 6, "pairs": 6}

    # the admin shows it all: the run with its steps, the mesh, the devices' roles
    client.force_login(user)
    page = client.get(f"/admin/blueprints/blueprintrun/{state['run']}/change/").content.decode()
    assert page.count('data-status="succeeded"') == len(result["steps"])
    assert "node1" in client.get(f"/admin/mesh/mesh/{mesh.pk}/change/").content.decode()

    # again: nothing to do, nothing to confirm
    async def again():
        async with mcp_client(server.url, key) as mcp:
            plan, err = await call(mcp, "use_blueprint", {"name": "webserver-cluster", "params": params,
                                                          "dry_run": True})
            assert not err, plan
            return plan

    plan = run(again)
    assert plan["plan"]["changes"] == 0, [s["changes"] for s in plan["plan"]["steps"] if s["changes"]]
    assert plan["plan"]["confirmation_required"] is False

    # no private key left the machines
    secrets = [p.private_key for p in MeshPeer.objects.all()]
    haystacks = [json.dumps(list(Job.objects.values("params", "result", "error", "step")), default=str),
                 "\n".join(JobLogLine.objects.values_list("message", flat=True)),
                 json.dumps(list(BlueprintRun.objects.values("params", "plan", "results", "outputs")), default=str),
                 json.dumps(result), one_worker.output(), page]
    assert not [i for i, text in enumerate(haystacks) for s in secrets if s in text]
