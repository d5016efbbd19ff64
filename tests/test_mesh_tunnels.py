"""The mesh against real WireGuard: three machines (network namespaces with an SSH server each,
tests/mesh_lab.py), an MCP client over real HTTP, a real Celery worker. The mesh is created,
joined (provisioning step join_mesh over SSH), reported up, checked (a full 3×3 matrix), broken
(an interface down, then a wrong key) and diagnosed; the same seen over REST and in the admin.

Traffic goes only to loopback and to addresses inside the namespaces this test creates."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from tests import mesh_lab
from tests.test_jobs_support import one_worker, wait_for, wait_job  # noqa: F401
from tests.test_mcp_support import api_key, call, mcp_client, rest, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]



@pytest.fixture(scope="module")
def lab():
    with mesh_lab.running(3) as machines:
        yield machines


@pytest.fixture
def server(transactional_db):
    from tests.servers import UvicornServer

    with UvicornServer(workers=1) as s:
        yield s


def _register(tenant, lab):
    """The three machines as devices with SSH access (pinned host key) and an underlay address."""
    from inventory.jobs.models import DeviceAccess
    from inventory.models import Device, IPAddress, Network

    lan = Network.objects.create(tenant=tenant, name="lab", subnet=f"{lab.subnet}0/24")
    devices = []
    for m in lab.machines:
        device = Device.objects.create(tenant=tenant, name=f"node{m.index}", username="root")
        IPAddress.objects.create(tenant=tenant, network=lan, address=m.address, device=device)
        DeviceAccess.objects.create(device=device, host=m.address, port=22, credential_type="key",
                                    secret=lab.client_private, host_key=lab.host_public)
        devices.append(device)
    return devices


def _wait_jobs(ids, worker):
    jobs = [wait_job(i, worker=worker, timeout=90) for i in ids]
    for job in jobs:
        assert job.status == "succeeded", (job.pk, job.error, [line.message for line in job.log_lines.all()])
    return jobs


def test_mesh_of_three_real_tunnels(lab, one_worker, server, tenant_a, make_user, client):
    from auditlog.models import LogEntry

    from inventory.jobs.models import Job, JobLogLine
    from inventory.mesh.models import Mesh, MeshPeer
    from mcp_gateway.models import McpCall

    user = make_user("mesh_ops", {tenant_a: "admin"})
    devices = _register(tenant_a, lab)
    key = api_key(user)
    overlay = lab.subnet.replace("198.18.", "198.19.") + "0/24"
    overlay6 = f"fd00:{lab.suffix[:4]}::/64"  # dual stack: an IPv6 overlay as well
    state = {}

    async def create_and_join():
        async with mcp_client(server.url, key) as mcp:
            mesh, err = await call(mcp, "mesh_save", {"name": "lab", "overlay_cidr": overlay, "tenant_id": tenant_a.pk,
                                                     "second_cidr": overlay6, "persistent_keepalive": 2})
            assert not err, mesh
            state["mesh"] = mesh["id"]
            # bad input first: nothing is written
            bad, err = await call(mcp, "mesh_save", {"name": "lab2", "overlay_cidr": overlay, "tenant_id": tenant_a.pk})
            assert err and "overlay_cidr" in bad["error"]["details"]
            bad, err = await call(mcp, "mesh_add_peer", {"mesh_id": mesh["id"], "device_id": devices[0].pk,
                                                         "endpoint": "not an endpoint"})
            assert err and "endpoint" in bad["error"]["details"]
            for device, machine in zip(devices, lab.machines):
                added, err = await call(mcp, "mesh_add_peer", {"mesh_id": mesh["id"], "device_id": device.pk,
                                                               "interface": machine.interface})
                assert not err, added
            again, err = await call(mcp, "mesh_add_peer", {"mesh_id": mesh["id"], "device_id": devices[0].pk})
            assert err and "device_id" in again["error"]["details"]
            peers, _ = await call(mcp, "mesh_peers", {"mesh_id": mesh["id"]})
            assert [p["address"] for p in peers["items"]] == [overlay.replace("0/24", str(i)) for i in (1, 2, 3)]
            conf, _ = await call(mcp, "mesh_peer_config", {"peer_id": peers["items"][0]["id"]})
            assert "PrivateKey = ********" in conf["config"] and conf["config"].count("[Peer]") == 2
            # two peers join through the plan action, the third through a role with a join_mesh step
            applied, err = await call(mcp, "mesh_apply", {"mesh_id": mesh["id"],
                                                          "peer_ids": [p["id"] for p in peers["items"][:2]]})
            assert not err and len(applied["jobs"]) == 2, applied
            role, err = await call(mcp, "role_save", {"name": "wg-lab", "steps": [
                {"type": "join_mesh", "args": {"mesh": "lab"}}]})
            assert not err, role
            tested, err = await call(mcp, "role_test", {"role_id": role["id"], "device_id": devices[2].pk})
            assert not err and tested["ok"] and "PrivateKey = ********" in str(tested), tested
            assigned, err = await call(mcp, "device_assign_role", {"device_id": devices[2].pk, "role_id": role["id"]})
            assert not err, assigned
            started, err = await call(mcp, "provisioning_trigger", {"device_id": devices[2].pk})
            assert not err, started
            state["join_jobs"] = [j["job_id"] for j in applied["jobs"]] + [started["job_id"]]

    run(create_and_join)
    _wait_jobs(state["join_jobs"], one_worker)
    mesh = Mesh.objects.get(pk=state["mesh"])
    peers = list(MeshPeer.objects.filter(mesh=mesh).select_related("device", "address").order_by("address__address_key"))
    # the role's job recorded what it installed, and its records never hold the key
    role_job = Job.objects.get(pk=state["join_jobs"][2])
    assert all(p.applied_digest for p in peers)
    assert peers[2].private_key not in str(role_job.params) + str(role_job.result) + " ".join(
        JobLogLine.objects.filter(job=role_job).values_list("message", flat=True))

    # the file on each machine: 0600, the decrypted private key in it (and only there)
    for peer, machine in zip(peers, lab.machines):
        path = machine.etc_wireguard / f"{machine.interface}.conf"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert f"PrivateKey = {peer.private_key}" in text and text.count("[Peer]") == 2
        assert machine.run(f"wg show {machine.interface} public-key").stdout.strip() == peer.public_key
        assert peer.second_address.address in machine.run(f"ip -6 addr show dev {machine.interface}").stdout

    def tool(name, args):
        async def one():
            async with mcp_client(server.url, key) as mcp:
                return await call(mcp, name, args)

        return run(one)

    state["status"] = None
    for _ in range(20):  # the handshakes follow the joins by a few seconds
        started, err = tool("mesh_status", {"mesh_id": state["mesh"]})
        assert not err, started
        job = wait_job(started["job_id"], worker=one_worker)
        assert job.status == "succeeded", job.error
        if all(p["status"] == "up" for p in job.result["peers"]):
            state["status"] = job.result
            break
        time.sleep(1)
    checked, err = tool("mesh_check", {"mesh_id": state["mesh"]})
    assert not err and checked["job_id"], checked
    state["check"] = checked["job_id"]
    assert state["status"] is not None, "the three peers never reported up"
    assert [p["status"] for p in state["status"]["peers"]] == ["up", "up", "up"]
    assert all(p["handshake_age"] is not None and p["rx_bytes"] > 0 for p in state["status"]["peers"])
    job = wait_job(state["check"], worker=one_worker, timeout=90)
    assert job.status == "succeeded", job.error
    matrix = job.result["matrix"]
    assert job.result["pairs"] == 6 and job.result["reachable_pairs"] == 6, json.dumps(job.result, indent=1)
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix.values())
    assert all(c["rtt_ms"] is not None and c["rtt_ms"] >= 0 for row in matrix.values() for c in row.values()
               if not c.get("self"))
    assert MeshPeer.objects.filter(mesh=mesh, last_status="up").count() == 3

    # the IPv6 overlay carries traffic too (a TCP connect from node1 to node2's SSH port)
    v6 = peers[1].second_address.address
    lab.machines[0].run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{v6}/22'")

    # REST mirrors it
    r = rest(server.url, key, "GET", f"/api/mesh/meshes/{mesh.pk}/status/")
    assert r.status_code == 200 and [p["last_status"] for p in r.json()] == ["up", "up", "up"]

    # key rotation: a new key for node1, installed everywhere; the old one is dropped after that
    first = peers[0]
    rotated, err = tool("mesh_rotate_key", {"peer_id": first.pk})
    assert not err and rotated["peer"]["key_rotation_pending"] is True and rotated["outdated_peers"] == [
        p.pk for p in peers]
    applied, err = tool("mesh_apply", {"mesh_id": mesh.pk, "only_outdated": True})
    assert not err and len(applied["jobs"]) == 3
    _wait_jobs([j["job_id"] for j in applied["jobs"]], one_worker)
    first = MeshPeer.objects.get(pk=first.pk)
    assert first.public_key == rotated["peer"]["public_key"] and first.retired_public_key == ""
    assert lab.machines[0].run(f"wg show {lab.machines[0].interface} public-key").stdout.strip() == first.public_key
    assert first.public_key in lab.machines[1].run(f"wg show {lab.machines[1].interface} peers").stdout
    for _ in range(20):
        checked, err = tool("mesh_check", {"mesh_id": mesh.pk})
        job = wait_job(checked["job_id"], worker=one_worker, timeout=90)
        if job.result.get("reachable_pairs") == 6:
            break
        time.sleep(1)
    assert job.result["reachable_pairs"] == 6, job.result["diagnoses"]

    # break one: node3's interface goes down; its row and column turn red with the diagnosis
    third = peers[2]
    lab.machines[2].run(f"ip link set {lab.machines[2].interface} down")
    r = rest(server.url, key, "POST", f"/api/mesh/meshes/{mesh.pk}/check/")
    assert r.status_code == 202, r.text
    job = wait_job(r.json()["id"], worker=one_worker, timeout=90)
    assert job.status == "succeeded", job.error
    matrix = job.result["matrix"]
    for src in peers:
        for dst in peers:
            if src.pk == dst.pk:
                continue
            cell = matrix[str(src.pk)][str(dst.pk)]
            involved = third.pk in (src.pk, dst.pk)
            assert cell["ok"] is (not involved), (src.device.name, dst.device.name, cell)
            if involved:
                assert f"interface {lab.machines[2].interface} is down" in cell["diagnosis"], cell
    assert MeshPeer.objects.get(pk=third.pk).last_status == "down"

    # the admin shows it: the picture with node3's edges red, the matrix, the badges
    client.force_login(user)
    html = client.get(f"/admin/mesh/mesh/{mesh.pk}/change/").content.decode()
    assert f'<desc id="edge-{peers[0].pk}-{peers[1].pk}" data-state="ok">' in html
    assert f'<desc id="edge-{peers[0].pk}-{third.pk}" data-state="fail">' in html
    assert "is down" in html and 'data-status="down"' in html

    # a wrong key: the others are configured with a key node3 does not have → no handshake
    lab.machines[2].run(f"ip link set {lab.machines[2].interface} up")
    from inventory.mesh import keys

    _wrong_private, wrong_public = keys.generate()
    MeshPeer.objects.filter(pk=third.pk).update(public_key=wrong_public)
    r = rest(server.url, key, "POST", f"/api/mesh/meshes/{mesh.pk}/apply/?only_outdated=1")
    # (node3's own file changes too: it names the public key on record)
    assert r.status_code == 202 and sorted(j["device"] for j in r.json()) == sorted(p.device_id for p in peers)
    _wait_jobs([j["id"] for j in r.json()], one_worker)
    assert "updated" in " ".join(line.message for line in JobLogLine.objects.filter(job_id=r.json()[0]["id"]))
    r = rest(server.url, key, "POST", f"/api/mesh/meshes/{mesh.pk}/check/")
    job = wait_job(r.json()["id"], worker=one_worker, timeout=90)
    matrix = job.result["matrix"]
    assert matrix[str(peers[0].pk)][str(peers[1].pk)]["ok"] is True
    for src in peers[:2]:
        cell = matrix[str(src.pk)][str(third.pk)]
        assert cell["ok"] is False and cell["diagnosis"] == "No handshake: key or endpoint mismatch.", cell

    # the private keys never left: not in job params, results or logs, audit entries, MCP audit,
    # the worker's output or any API response
    secrets = [p.private_key for p in MeshPeer.objects.filter(mesh=mesh)] + [peers[0].private_key]
    haystacks = [json.dumps(list(Job.objects.values("params", "result", "error", "step")), default=str),
                 "\n".join(JobLogLine.objects.values_list("message", flat=True)),
                 json.dumps(list(LogEntry.objects.values("changes", "changes_text", "additional_data")), default=str),
                 json.dumps(list(McpCall.objects.values()), default=str), one_worker.output(),
                 rest(server.url, key, "GET", f"/api/mesh/meshes/{mesh.pk}/peers/").text,
                 rest(server.url, key, "GET", f"/api/mesh/peers/{third.pk}/config/").text, html]
    for secret in secrets:
        leaks = [i for i, text in enumerate(haystacks) if secret in text]
        assert not leaks, [haystacks[i][max(0, haystacks[i].index(secret) - 300):haystacks[i].index(secret) + 100]
                           for i in leaks]
    assert Job.objects.filter(kind="mesh_check").count() >= 4
