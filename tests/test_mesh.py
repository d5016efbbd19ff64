"""WireGuard mesh: model rules, configuration rendering, keys at rest, REST, MCP handlers and
the admin, without tunnels (tests/test_mesh_tunnels.py runs real WireGuard in namespaces)."""

from __future__ import annotations

import base64
import re

import pytest

from tests.test_jobs_support import api

pytestmark = pytest.mark.django_db


def mesh_of(tenant, name="m1", cidr="198.19.10.0/24", **extra):
    from inventory.mesh.models import Mesh

    return Mesh.objects.create(tenant=tenant, name=name, overlay_cidr=cidr, **extra)


def device(tenant, name, underlay=None):
    from inventory.models import Device, IPAddress, Network

    d = Device.objects.create(tenant=tenant, name=name)
    if underlay:
        net = Network.objects.filter(tenant=tenant, name="lab").first() or Network.objects.create(
            tenant=tenant, name="lab", subnet="198.18.200.0/24")
        IPAddress.objects.create(tenant=tenant, network=net, address=underlay, device=d)
    return d


def add(principal_or_user, mesh, dev, **data):
    from inventory.mesh import services
    from inventory.tenancy import Principal

    return services.add_peer(Principal.of(principal_or_user), {"mesh": mesh.pk, "device": dev.pk, **data})


# --- model ---------------------------------------------------------------------------------------
def test_mesh_creates_its_network_and_refuses_overlaps(tenant_a, tenant_b):
    from django.core.exceptions import ValidationError

    from inventory.mesh.models import Mesh
    from inventory.models import Network

    mesh = mesh_of(tenant_a, cidr="198.19.10.7/24" if False else "198.19.10.0/24")
    assert mesh.network.subnet == "198.19.10.0/24" and mesh.network.tenant_id == tenant_a.pk
    assert mesh.interface_name == "wg-m1"
    with pytest.raises(ValidationError) as err:
        Mesh.objects.create(tenant=tenant_a, name="m2", overlay_cidr="198.19.10.128/25")
    assert "overlaps the overlay 198.19.10.0/24 of mesh 'm1'" in str(err.value)
    assert not Mesh.objects.filter(name="m2").exists() and Network.objects.filter(tenant=tenant_a).count() == 1
    mesh_of(tenant_b, cidr="198.19.10.0/24")  # another tenant: its own address space
    v6 = mesh_of(tenant_a, name="six", cidr="fd00:10::/64")
    assert v6.network.family == 6
    with pytest.raises(ValidationError):
        Mesh.objects.create(tenant=tenant_a, name="bad", overlay_cidr="198.19.11.1/24")  # host bits
    mesh.delete()
    assert not Network.objects.filter(pk=mesh.network_id).exists()


def test_peer_rules_keys_and_addresses(tenant_a, tenant_b, operator_a):
    from rest_framework.exceptions import ValidationError

    from inventory.mesh import keys
    from inventory.mesh.models import MeshPeer

    mesh = mesh_of(tenant_a)
    a, b = device(tenant_a, "a", "198.18.200.1"), device(tenant_a, "b")
    peer = add(operator_a, mesh, a)
    assert peer.address.address == "198.19.10.1" and peer.address.device_id == a.pk
    assert keys.public_key(peer.private_key) == peer.public_key and len(base64.b64decode(peer.public_key)) == 32
    # at rest the private key is ciphertext
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM mesh_meshpeer WHERE id = %s", [peer.pk])
        stored = cursor.fetchone()[0]
    assert peer.private_key not in stored and stored.startswith("gAAAA")
    from inventory.fields import encrypted_fields

    assert ("private_key" in dict((m._meta.label, f) for m, f in encrypted_fields())["mesh.MeshPeer"])

    count = MeshPeer.objects.count()
    for bad, field in [({"endpoint": "no-port"}, "endpoint"), ({"endpoint": "h:99999"}, "endpoint"),
                       ({"allowed_ips": ["10.0.0.1/8"]}, "allowed_ips"), ({"interface": "way-too-long-name"}, "interface")]:
        with pytest.raises(ValidationError) as err:
            add(operator_a, mesh, b, **bad)
        assert field in err.value.detail, err.value.detail
    with pytest.raises(ValidationError) as err:
        add(operator_a, mesh, a)
    assert "already a peer" in str(err.value.detail["device"])
    with pytest.raises(ValidationError) as err:  # another tenant's device: not visible
        add(operator_a, mesh, device(tenant_b, "x"))
    assert "device" in err.value.detail
    assert MeshPeer.objects.count() == count
    from inventory.models import IPAddress

    assert IPAddress.objects.filter(network=mesh.network).count() == 1  # nothing allocated by the failures
    peer_b = add(operator_a, mesh, b, endpoint="[fd00::2]:51000", allowed_ips=["10.9.0.0/16"])
    assert peer_b.address.address == "198.19.10.2" and peer_b.endpoint == "[fd00::2]:51000"


def test_config_rendering_is_deterministic_and_masked(tenant_a, operator_a):
    from inventory.mesh import config, services
    from inventory.tenancy import Principal

    mesh = mesh_of(tenant_a, mtu=1380, dns=["198.19.10.53"], persistent_keepalive=15)
    a, b, c = (device(tenant_a, n, f"198.18.200.{i}") for i, n in enumerate("abc", 1))
    pa, pb, pc = add(operator_a, mesh, a), add(operator_a, mesh, b, allowed_ips=["10.8.0.0/24"]), add(operator_a, mesh, c)
    text = config.render(pa)
    assert text == config.render(pa)  # same state, same text
    assert pa.private_key not in text and "PrivateKey = ********" in text
    assert "Address = 198.19.10.1/24" in text and "ListenPort = 51820" in text and "MTU = 1380" in text
    assert "DNS = 198.19.10.53" in text
    assert text.count("[Peer]") == 2 and f"PublicKey = {pb.public_key}" in text
    assert f"# This peer's public key: {pa.public_key}" in text and f"PublicKey = {pa.public_key}" not in text
    assert "AllowedIPs = 198.19.10.2/32, 10.8.0.0/24" in text and "Endpoint = 198.18.200.2:51820" in text
    assert "PersistentKeepalive = 15" in text
    filled = config.with_key(text, pa.private_key)
    assert f"PrivateKey = {pa.private_key}" in filled
    # hub topology: spokes only know the hub, which routes the overlay
    mesh.topology = "hub"
    mesh.save()
    services.update_peer(Principal(operator_a), pb.pk, {"is_hub": True})
    spoke = config.render(services.get_peer(Principal(operator_a), pa.pk))
    assert spoke.count("[Peer]") == 1 and "AllowedIPs = 198.19.10.0/24, 198.19.10.2/32, 10.8.0.0/24" in spoke
    hub = config.render(services.get_peer(Principal(operator_a), pb.pk))
    assert hub.count("[Peer]") == 2
    # a disabled peer leaves the others' configurations
    services.update_peer(Principal(operator_a), pc.pk, {"enabled": False})
    assert config.render(services.get_peer(Principal(operator_a), pb.pk)).count("[Peer]") == 1


def test_rotation_keeps_old_key_until_applied(tenant_a, operator_a):
    from inventory.mesh import config, services
    from inventory.mesh.models import MeshPeer
    from inventory.tenancy import Principal

    mesh = mesh_of(tenant_a)
    pa, pb = add(operator_a, mesh, device(tenant_a, "a")), add(operator_a, mesh, device(tenant_a, "b"))

    def install_all():
        for peer in MeshPeer.objects.filter(mesh=mesh):
            MeshPeer.objects.filter(pk=peer.pk).update(applied_digest=config.digest(config.render(peer)))

    install_all()
    assert services.outdated(mesh) == []
    old = pa.public_key
    rotated = services.rotate_key(Principal(operator_a), pa.pk)
    assert rotated.public_key != old and rotated.retired_public_key == old
    assert {p.pk for p in services.outdated(mesh)} == {pa.pk, pb.pk}  # its own file has a new key too
    assert services.confirm_rotations(mesh) == []  # not installed anywhere yet
    install_all()
    assert services.confirm_rotations(mesh) == [pa.pk]
    assert MeshPeer.objects.get(pk=pa.pk).retired_public_key == ""


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_never_collide(tenant_a, operator_a):
    """32 devices join at once, each in its own thread and database connection."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from inventory.mesh.models import MeshPeer

    mesh = mesh_of(tenant_a, cidr="198.19.40.0/26")
    devices = [device(tenant_a, f"c{i:02d}") for i in range(32)]

    def join(dev):
        try:
            return add(operator_a, mesh, dev).address.address
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        addresses = list(pool.map(join, devices))
    assert len(set(addresses)) == 32 and MeshPeer.objects.filter(mesh=mesh).count() == 32
    assert sorted(addresses, key=lambda a: int(a.rsplit(".", 1)[1])) == [f"198.19.40.{i}" for i in range(1, 33)]


# --- REST ------------------------------------------------------------------------------------------
def test_rest_crud_peers_config_and_isolation(tenant_a, tenant_b, operator_a, operator_b, viewer_a, admin_a):
    from inventory.mesh.models import Mesh

    client = api(operator_a)
    r = client.post("/api/mesh/meshes/", {"name": "corp", "overlay_cidr": "198.19.20.0/24", "tenant": tenant_a.pk},
                    format="json")
    assert r.status_code == 201, r.content
    mesh = r.json()
    assert mesh["network"] and mesh["interface_name"] == "wg-corp"
    bad = client.post("/api/mesh/meshes/", {"name": "corp2", "overlay_cidr": "198.19.20.0/25", "tenant": tenant_a.pk},
                      format="json")
    assert bad.status_code == 400 and "overlaps" in bad.json()["overlay_cidr"][0]
    assert Mesh.objects.filter(tenant=tenant_a).count() == 1

    d1, d2 = device(tenant_a, "d1", "198.18.200.1"), device(tenant_a, "d2", "198.18.200.2")
    r = client.post(f"/api/mesh/meshes/{mesh['id']}/peers/", {"device": d1.pk}, format="json")
    assert r.status_code == 201, r.content
    p1 = r.json()
    assert p1["address"] == "198.19.20.1" and p1["effective_endpoint"] == "198.18.200.1:51820"
    assert "private_key" not in p1 and p1["last_status"] == "unknown"
    assert client.post(f"/api/mesh/meshes/{mesh['id']}/peers/", {"device": d1.pk}, format="json").status_code == 400
    r = client.post(f"/api/mesh/meshes/{mesh['id']}/peers/", {"device": d2.pk, "endpoint": "bad endpoint"},
                    format="json")
    assert r.status_code == 400 and "host:port" in r.json()["endpoint"][0]
    r = client.post(f"/api/mesh/meshes/{mesh['id']}/peers/", {"device": d2.pk, "endpoint": "vpn.example.net:4500"},
                    format="json")
    assert r.status_code == 201
    p2 = r.json()
    peers = client.get(f"/api/mesh/meshes/{mesh['id']}/peers/").json()
    assert [p["device_name"] for p in peers] == ["d1", "d2"]
    conf = client.get(f"/api/mesh/peers/{p1['id']}/config/").json()
    assert conf["path"] == "/etc/wireguard/wg-corp.conf" and conf["applied"] is False
    assert "PrivateKey = ********" in conf["config"] and "Endpoint = vpn.example.net:4500" in conf["config"]
    r = client.patch(f"/api/mesh/peers/{p2['id']}/", {"allowed_ips": ["10.1.0.0/16"]}, format="json")
    assert r.status_code == 200 and r.json()["allowed_ips"] == ["10.1.0.0/16"]
    assert client.patch(f"/api/mesh/peers/{p2['id']}/", {"allowed_ips": ["nope"]}, format="json").status_code == 400

    # viewers read, may not write; another tenant sees nothing (404), cannot add its device
    assert api(viewer_a).get(f"/api/mesh/peers/{p1['id']}/config/").status_code == 200
    assert api(viewer_a).post(f"/api/mesh/meshes/{mesh['id']}/peers/", {"device": d2.pk}, format="json").status_code == 403
    other = api(operator_b)
    assert other.get(f"/api/mesh/meshes/{mesh['id']}/").status_code == 404
    assert other.get(f"/api/mesh/peers/{p1['id']}/config/").status_code == 404
    assert other.get("/api/mesh/meshes/").json()["count"] == 0
    r = other.get(f"/api/mesh/peers/?mesh={mesh['id']}")  # another tenant's mesh in a filter: "not visible"
    assert r.status_code == 400 and "not visible" in r.json()["mesh"][0]
    assert other.get(f"/api/mesh/peers/?mesh_id={mesh['id']}").status_code == 400
    assert client.get(f"/api/mesh/peers/?mesh={mesh['name']}").json()["count"] == client.get(
        f"/api/mesh/peers/?mesh_id={mesh['id']}").json()["count"] >= 1
    assert other.post(f"/api/mesh/meshes/{mesh['id']}/check/").status_code == 404
    assert other.delete(f"/api/mesh/peers/{p1['id']}/").status_code == 404
    foreign = device(tenant_b, "theirs")
    r = client.post(f"/api/mesh/meshes/{mesh['id']}/peers/", {"device": foreign.pk}, format="json")
    assert r.status_code == 400 and "device" in r.json()
    # jobs need SSH access settings first
    r = client.post(f"/api/mesh/meshes/{mesh['id']}/check/")
    assert r.status_code == 400 and "SSH access" in str(r.json())

    # removing a peer frees its address; deleting the mesh (admin role) its network
    assert client.delete(f"/api/mesh/peers/{p2['id']}/").status_code == 200
    assert [p["device_name"] for p in client.get(f"/api/mesh/meshes/{mesh['id']}/peers/").json()] == ["d1"]
    assert client.delete(f"/api/mesh/meshes/{mesh['id']}/").status_code == 403
    assert api(admin_a).delete(f"/api/mesh/meshes/{mesh['id']}/").status_code == 204
    from inventory.models import IPAddress, Network

    assert not Network.objects.filter(pk=mesh["network"]).exists()
    assert not IPAddress.objects.filter(address__startswith="198.19.20.").exists()


# --- MCP handlers (tools over real HTTP: tests/test_mesh_tunnels.py) --------------------------------
class _Err:
    def __init__(self, data):
        self.code, self.details, self.data = data["error"]["code"], data["error"]["details"], data

    def as_dict(self):
        return self.data


def _call(user, name, args):
    """One call through the gateway's execute() (schema check, policy, error mapping, audit)."""
    from inventory.tenancy import Principal
    from mcp_gateway.registry import registry
    from mcp_gateway.server import CallerEnv, execute

    env = CallerEnv(principal=Principal(user, scopes=None))
    result, is_error = execute(registry.get(name), args, env)
    if is_error and result["error"]["code"] == "CONFIRMATION_REQUIRED":  # destructive: the user confirms
        token = result["error"]["details"]["confirm_token"]
        result, is_error = execute(registry.get(name), {**args, "confirm_token": token}, env)
    return (None, _Err(result)) if is_error else (result, None)


def test_mcp_tools_registered_and_guarded(tenant_a, tenant_b, operator_a, operator_b):
    from mcp_gateway.registry import registry

    names = {t.name for t in registry.all() if t.group == "mesh"}
    assert {"mesh_list", "mesh_get", "mesh_save", "mesh_delete", "mesh_add_peer", "mesh_remove_peer", "mesh_peers",
            "mesh_peer_config", "mesh_status", "mesh_check"} <= names
    created, err = _call(operator_a, "mesh_save", {"name": "m", "overlay_cidr": "198.19.30.0/24", "tenant_id": tenant_a.pk})
    assert err is None, err and err.as_dict()
    d = device(tenant_a, "d")
    added, err = _call(operator_a, "mesh_add_peer", {"mesh_id": created["id"], "device_id": d.pk})
    assert err is None and added["peer"]["address"] == "198.19.30.1"
    assert "private_key" not in str(added)
    _, err = _call(operator_a, "mesh_add_peer", {"mesh_id": created["id"], "device_id": d.pk})
    assert err.code == "INVALID_PARAMS" and "device_id" in err.details
    _, err = _call(operator_a, "mesh_add_peer", {"mesh_id": created["id"], "device_id": device(tenant_b, "x").pk})
    assert err.code == "INVALID_PARAMS" and "device_id" in err.details
    _, err = _call(operator_a, "mesh_add_peer", {"mesh_id": created["id"], "device_id": device(tenant_a, "e").pk,
                                                "endpoint": "1.2.3.4"})
    assert err.code == "INVALID_PARAMS" and "endpoint" in err.details
    conf, _ = _call(operator_a, "mesh_peer_config", {"peer_id": added["peer"]["id"]})
    assert "PrivateKey = ********" in conf["config"]
    status, err = _call(operator_a, "mesh_status", {"mesh_id": created["id"], "refresh": False})
    assert status["peers"][0]["status"] == "unknown"
    # another tenant: every id is NOT_FOUND
    for name, args in [("mesh_get", {"id": created["id"]}), ("mesh_peers", {"mesh_id": created["id"]}),
                       ("mesh_peer_config", {"peer_id": added["peer"]["id"]}),
                       ("mesh_check", {"mesh_id": created["id"]}), ("mesh_status", {"mesh_id": created["id"]}),
                       ("mesh_remove_peer", {"peer_id": added["peer"]["id"]})]:
        _, err = _call(operator_b, name, args)
        assert err is not None and err.code == "NOT_FOUND", (name, err and err.as_dict())
    _, err = _call(operator_a, "mesh_save", {"name": "m2", "overlay_cidr": "198.19.30.0/23", "tenant_id": tenant_a.pk})
    assert err.code == "INVALID_PARAMS" and "overlay_cidr" in err.details
    removed, err = _call(operator_a, "mesh_remove_peer", {"peer_id": added["peer"]["id"]})
    assert removed["removed"] and "leave_job_id" not in removed  # never installed


# --- admin ---------------------------------------------------------------------------------------
def test_admin_pages_picture_and_isolation(client, tenant_a, tenant_b, make_user):
    from inventory.mesh.models import Mesh

    user = make_user("mesh_admin_a", {tenant_a: "admin"})
    mesh = mesh_of(tenant_a)
    pa = add(user, mesh, device(tenant_a, "alpha", "198.18.200.1"))
    pb = add(user, mesh, device(tenant_a, "beta", "198.18.200.2"))
    Mesh.objects.filter(pk=mesh.pk).update(last_matrix={"checked": "now", "matrix": {
        str(pa.pk): {str(pa.pk): {"ok": True, "self": True}, str(pb.pk): {"ok": False, "diagnosis": "No handshake: key or endpoint mismatch."}},
        str(pb.pk): {str(pb.pk): {"ok": True, "self": True}, str(pa.pk): {"ok": False, "diagnosis": "No handshake: key or endpoint mismatch."}}}})
    other_mesh = mesh_of(tenant_b, name="theirs")
    client.force_login(user)
    page = client.get(f"/admin/mesh/mesh/{mesh.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg id="mesh-picture"' in html and 'data-state="fail"' in html and "alpha" in html
    assert 'id="mesh-matrix"' in html and "No handshake: key or endpoint mismatch." in html
    assert pa.private_key not in html
    peer_page = client.get(f"/admin/mesh/meshpeer/{pa.pk}/change/").content.decode()
    assert "PrivateKey = ********" in peer_page and pa.private_key not in peer_page
    assert client.get(f"/admin/mesh/mesh/{other_mesh.pk}/change/").status_code == 404
    listing = client.get("/admin/mesh/mesh/").content.decode()
    assert "theirs" not in listing and ">m1<" in listing
    assert "mesh-badge" in client.get("/admin/mesh/meshpeer/").content.decode()
    # add a peer from the admin: an address is allocated, bad input is a form error
    d = device(tenant_a, "gamma")
    r = client.post("/admin/mesh/meshpeer/add/", {"mesh": mesh.pk, "device": d.pk, "endpoint": "nope",
                                                  "allowed_ips": "[]", "enabled": "on"})
    assert r.status_code == 200 and "host:port" in r.content.decode()
    r = client.post("/admin/mesh/meshpeer/add/", {"mesh": mesh.pk, "device": d.pk, "endpoint": "",
                                                  "allowed_ips": "[]", "enabled": "on"})
    assert r.status_code == 302, r.content.decode()[-3000:]
    assert mesh.peers.get(device=d).address.address == "198.19.10.3"
    r = client.post("/admin/mesh/meshpeer/add/", {"mesh": other_mesh.pk, "device": d.pk, "allowed_ips": "[]"})
    assert r.status_code == 200 and mesh.peers.count() == 3  # another tenant's mesh is not a choice


# --- status and diagnoses from `wg show dump` text -------------------------------------------------
def test_dump_parsing_status_and_diagnoses(tenant_a, operator_a):
    from inventory.mesh import jobs

    mesh = mesh_of(tenant_a)
    a, b, c = (add(operator_a, mesh, device(tenant_a, n, f"198.18.200.{i}")) for i, n in enumerate("abc", 1))
    now = 1_800_000_000

    def dump(rows, link="up"):
        lines = [f"PEER\t{pub}\t(none)\t{ep}\t198.19.10.0/32\t{hs}\t{rx}\t{tx}\t25" for pub, ep, hs, rx, tx in rows]
        return "\n".join(lines + [f"LINK {link}"])

    states = {
        a.pk: jobs.parse_dump(dump([(b.public_key, "198.18.200.2:51820", now - 5, 100, 200),
                                    (c.public_key, "(none)", 0, 0, 92)])),
        b.pk: jobs.parse_dump(dump([(a.public_key, "203.0.113.9:40000", now - 300, 10, 20)])),
        c.pk: jobs.parse_dump("NOIF Unable to access interface: No such device"),
    }
    assert states[a.pk]["peers"][b.public_key] == {"endpoint": "198.18.200.2:51820", "allowed_ips": "198.19.10.0/32",
                                                   "handshake": now - 5, "rx": 100, "tx": 200}
    assert jobs.classify(a, states[a.pk], now, 180) == ("up", "Last handshake 5 s ago.")
    assert jobs.classify(b, states[b.pk], now, 180)[0] == "stale"
    assert jobs.classify(c, states[c.pk], now, 180) == ("down", "Interface wg-m1 is not running.")
    assert jobs.classify(a, {"interface": "unreachable", "peers": {}, "error": "timed out"}, now, 180)[0] == "unknown"
    assert jobs.classify(a, jobs.parse_dump(dump([], "down")), now, 180)[0] == "down"
    assert jobs.classify(a, jobs.parse_dump(dump([(b.public_key, "(none)", 0, 0, 0)])), now, 180) == (
        "down", "No handshake with any peer.")

    ok, fail = {"ok": True}, {"ok": False}
    assert jobs.diagnose(a, b, states, ok) == ""
    assert jobs.diagnose(a, c, states, fail) == "c: WireGuard interface wg-m1 is not running."
    states[c.pk] = jobs.parse_dump(dump([(a.public_key, "198.18.200.1:51820", now - 3, 1, 1)]))
    assert jobs.diagnose(a, c, states, fail) == "No handshake: key or endpoint mismatch."
    assert jobs.diagnose(c, a, states, fail).startswith("Handshake but no traffic: check AllowedIPs")
    assert "has no peer entry with b's current key" in jobs.diagnose(c, b, states, fail)
    # NAT: b sees a at another endpoint than the configured one
    assert jobs.nat_note(b, a, states) == ("b sees a at 203.0.113.9:40000, not at 198.18.200.1:51820: NAT in between.")
    assert jobs.nat_note(a, b, states) == ""
    probes = jobs.parse_probes("PROBE 198.19.10.2 ok 1234 tcp\nPROBE 198.19.10.3 fail 2000000 tcp\nnoise")
    assert probes == {"198.19.10.2": {"ok": True, "rtt_ms": 1.23, "method": "tcp"},
                      "198.19.10.3": {"ok": False, "rtt_ms": 2000.0, "method": "tcp"}}


def test_private_keys_rotate_with_field_keys(tenant_a, operator_a, settings, tmp_path):
    from cryptography.fernet import Fernet
    from django.core.management import call_command
    from django.db import connection

    from inventory.fields import multifernet

    old = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    peer = add(operator_a, mesh_of(tenant_a), device(tenant_a, "a"))
    private = peer.private_key
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_field_keys", stdout=open(tmp_path / "out", "w"))
    settings.FIELD_ENCRYPTION_KEYS = [new]
    multifernet.cache_clear()
    from inventory.mesh.models import MeshPeer

    assert MeshPeer.objects.get(pk=peer.pk).private_key == private
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM mesh_meshpeer WHERE id = %s", [peer.pk])
        assert Fernet(new.encode()).decrypt(cursor.fetchone()[0].encode()).decode() == private


def test_admin_actions_start_jobs_and_delete_takes_the_network(client, tenant_a, make_user):
    from inventory.jobs.models import DeviceAccess, Job
    from inventory.mesh.models import Mesh
    from inventory.models import Network

    user = make_user("mesh_admin_b", {tenant_a: "admin"})
    mesh = mesh_of(tenant_a)
    peer = add(user, mesh, device(tenant_a, "alpha", "198.18.200.1"))
    client.force_login(user)
    r = client.post("/admin/mesh/mesh/", {"action": "check_connectivity", "_selected_action": [mesh.pk]}, follow=True)
    assert "has no SSH access settings" in r.content.decode() and not Job.objects.exists()
    DeviceAccess.objects.create(device=peer.device, host="198.18.200.1", secret="pw", credential_type="password")
    r = client.post("/admin/mesh/mesh/", {"action": "check_connectivity", "_selected_action": [mesh.pk]}, follow=True)
    job = Job.objects.get()
    assert job.kind == "mesh_check" and job.params == {"mesh": mesh.pk} and f"job #{job.pk}" in r.content.decode()
    r = client.post("/admin/mesh/mesh/", {"action": "apply_mesh", "_selected_action": [mesh.pk]}, follow=True)
    join = Job.objects.get(kind="provisioning")
    assert join.params["plan"][0]["action"] == "join_mesh" and join.device_id == peer.device_id
    r = client.post("/admin/mesh/mesh/", {"action": "delete_selected", "_selected_action": [mesh.pk], "post": "yes"})
    assert r.status_code == 302 and not Mesh.objects.exists()
    assert not Network.objects.filter(pk=mesh.network_id).exists()


def test_dual_stack_overlay(tenant_a, operator_a, admin_a):
    from django.core.exceptions import ValidationError

    from inventory.mesh import config
    from inventory.mesh.models import Mesh
    from inventory.models import IPAddress, Network

    mesh = mesh_of(tenant_a, name="dual", cidr="198.19.50.0/24", second_cidr="fd00:50::/64")
    assert mesh.second_network.subnet == "fd00:50::/64" and mesh.second_network.name == "mesh dual (IPv6)"
    for bad in ("198.19.60.0/24", "fd00:50:0:0:8000::/65"):  # same family; overlapping another mesh's
        with pytest.raises(ValidationError) as err:
            Mesh.objects.create(tenant=tenant_a, name=f"x{bad[:3]}", overlay_cidr="198.19.70.0/24" if ":" in bad
                                else "fd00:70::/64", second_cidr=bad if ":" in bad else "198.19.50.128/25")
        assert "second_cidr" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        Mesh.objects.create(tenant=tenant_a, name="same", overlay_cidr="198.19.71.0/24", second_cidr="198.19.72.0/24")
    assert "other IP family" in str(err.value.message_dict["second_cidr"])
    assert Mesh.objects.count() == 1
    a, b = device(tenant_a, "a", "198.18.200.1"), device(tenant_a, "b", "198.18.200.2")
    pa, pb = add(operator_a, mesh, a), add(operator_a, mesh, b)
    assert (pa.address.address, pa.second_address.address) == ("198.19.50.1", "fd00:50::1")
    text = config.render(pb)
    assert "Address = 198.19.50.2/24, fd00:50::2/64" in text
    assert "AllowedIPs = 198.19.50.1/32, fd00:50::1/128" in text
    r = api(operator_a).get(f"/api/mesh/peers/{pa.pk}/")
    assert r.json()["second_address"] == "fd00:50::1"
    from inventory.mesh import services
    from inventory.tenancy import Principal

    services.remove_peer(Principal(operator_a), pb.pk)
    assert not IPAddress.objects.filter(address__in=["198.19.50.2", "fd00:50::2"]).exists()
    with pytest.raises(ValidationError):  # the overlay of a mesh with peers is fixed
        mesh.second_cidr = ""
        mesh.save()
    mesh.refresh_from_db()
    networks = [mesh.network_id, mesh.second_network_id]
    assert api(admin_a).delete(f"/api/mesh/meshes/{mesh.pk}/").status_code == 204
    assert not Network.objects.filter(pk__in=networks).exists()


# --- join_mesh as a role step type ------------------------------------------------------------
def test_join_mesh_step_type_in_roles(tenant_a, tenant_b, operator_a):
    from django.core.exceptions import ValidationError

    from inventory.configuration.models import Role, RoleAssignment, RoleStep
    from inventory.configuration.planning import preview, render_role
    from inventory.configuration.plans import role_plan
    from inventory.jobs.masking import device_secrets
    from inventory.mesh import config
    from inventory.mesh.models import MeshPeer

    mesh = mesh_of(tenant_a, name="corp")
    a, b = device(tenant_a, "a", "198.18.200.1"), device(tenant_a, "b", "198.18.200.2")
    add(operator_a, mesh, a)
    add(operator_a, mesh, b)
    peer = MeshPeer.objects.get(device=a)
    role = Role.objects.create(tenant=tenant_a, name="wg")
    RoleStep.objects.create(role=role, type="join_mesh", args={"mesh": "corp"})
    for bad in ({}, {"mesh": ""}, {"mesh": "corp", "state": "gone"}, {"mesh": "corp", "extra": 1}):
        with pytest.raises(ValidationError) as refused:
            RoleStep(role=role, type="join_mesh", args=bad).full_clean()  # what every writer runs
        assert "args" in refused.value.message_dict
    assert RoleStep.objects.filter(role=role).count() == 1
    RoleAssignment.objects.create(device=a, role=role)

    # the role test (preview): the file with the key placeholder, then the apply command
    shown = preview(role, a)
    assert shown["ok"], shown["errors"]
    (step,) = shown["steps"]
    conf = next(f for f in shown["files"] if f["path"] == "/etc/wireguard/wg-corp.conf")
    assert conf["mode"] == "0600" and conf["content"] == config.render(peer)
    assert peer.private_key not in str(shown) and "wg syncconf" in step["commands"][0]
    # only the worker's rendering holds the key; the plan holds ids only
    revealed = render_role(role, a, reveal=True).steps[0]["operations"][0].content
    assert revealed == config.with_key(config.render(peer), peer.private_key)
    plan = role_plan(a, {})
    assert [s["action"] for s in plan if s["action"] == "role_step"] == ["role_step"]
    assert peer.private_key not in str(plan)
    # the key is one of the device's known secrets: a job masks it in its log and results
    assert peer.private_key in device_secrets(a)

    # a device that is not a peer of that mesh: the role test says so
    c = device(tenant_a, "c")
    RoleAssignment.objects.create(device=c, role=role)
    failed = preview(role, c)
    assert not failed["ok"] and "not a peer of a mesh named 'corp'" in failed["errors"][0]["message"]
    # a mesh of the same name in another tenant is not the device's
    other = mesh_of(tenant_b, name="corp", cidr="198.19.20.0/24")
    assert not preview(role, c)["ok"] and other.pk
    # leaving: state absent renders the leave script only
    RoleStep.objects.filter(role=role).update(args={"mesh": "corp", "state": "absent"})
    (left,) = preview(role, a)["steps"]
    assert "wg-quick down" in left["commands"][0] and not any(
        f["path"].startswith("/etc/wireguard") for f in preview(role, a)["files"])


def test_join_mesh_step_records_what_it_installed(tenant_a, operator_a):
    from inventory.configuration.steps import get
    from inventory.mesh import config
    from inventory.mesh.models import MeshPeer

    mesh = mesh_of(tenant_a, name="corp")
    a = device(tenant_a, "a", "198.18.200.1")
    add(operator_a, mesh, a)
    get("join_mesh").after(a, {"mesh": "corp"})
    peer = MeshPeer.objects.get(device=a)
    assert peer.applied_digest == config.digest(config.render(peer))
    get("join_mesh").after(a, {"mesh": "corp", "state": "absent"})
    assert MeshPeer.objects.get(device=a).applied_digest == ""


# --- lists: queries do not grow with rows -------------------------------------------------------
def test_mesh_and_peer_lists_do_not_query_per_row(tenant_a, operator_a):
    """REST /api/mesh/meshes/, /api/mesh/peers/, /api/mesh/meshes/{id}/peers/ and the MCP
    mesh_list/mesh_peers: the same number of queries for 2 rows as for 6 (peer counts come with
    the list, the default endpoints' underlay addresses in one query)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inventory.runtime.caching import invalidate_all

    client = api(operator_a)
    meshes = []

    def grow(n):
        while len(meshes) < n:
            i = len(meshes)
            mesh = mesh_of(tenant_a, name=f"m{i}", cidr=f"198.19.{100 + i}.0/24")
            for j in range(len(meshes) + 1):  # meshes of growing size
                add(operator_a, mesh, device(tenant_a, f"d{i}-{j}", f"198.18.200.{10 * i + j + 1}"))
            meshes.append(mesh)

    def queries():
        invalidate_all()
        counts = {}
        for label, url in (("meshes", "/api/mesh/meshes/"), ("peers", "/api/mesh/peers/"),
                           ("mesh peers", f"/api/mesh/meshes/{meshes[-1].pk}/peers/")):
            with CaptureQueriesContext(connection) as seen:
                r = client.get(url)
            assert r.status_code == 200, r.content
            counts[label] = len(seen)
        for tool, args in (("mesh_list", {}), ("mesh_peers", {"mesh_id": meshes[-1].pk})):
            with CaptureQueriesContext(connection) as seen:
                result, err = _call(operator_a, tool, args)
            assert err is None, err and err.as_dict()
            counts[tool] = len(seen)
        return counts, r.json()

    grow(2)
    few, _ = queries()
    grow(6)
    many, listed = queries()
    assert many == few, (few, many)
    # and the values are right: the counts and the default endpoints
    r = client.get("/api/mesh/meshes/").json()
    rows = r["results"] if isinstance(r, dict) else r
    assert sorted(m["peer_count"] for m in rows) == [1, 2, 3, 4, 5, 6]
    peers, _ = _call(operator_a, "mesh_peers", {"mesh_id": meshes[-1].pk})
    assert sorted(p["effective_endpoint"] for p in peers["items"]) == sorted(
        f"198.18.200.{50 + j + 1}:{meshes[-1].listen_port}" for j in range(6))


# --- status and check reach the peers concurrently ------------------------------------------------
def test_peers_are_reached_concurrently_and_bounded(tenant_a, ssh_server, settings):
    """mesh_status/mesh_check run their SSH sessions through run_many: at the same time, at most
    MESH_CONCURRENCY at once; a peer that cannot be reached fails alone."""
    import time

    from inventory.jobs.models import Job, JobLogLine
    from inventory.jobs.runner import JobContext, JobFailed
    from inventory.mesh import jobs
    from tests.test_jobs_support import make_device

    devices = [make_device(tenant_a, ssh_server, name=f"p{i}") for i in range(4)]
    no_access = device(tenant_a, "nowhere")
    ctx = JobContext(Job.objects.create(kind="mesh_status", tenant=tenant_a))
    commands = [(d.pk, d, "sleep 1; echo done-$((1 + 1))", 10) for d in devices]

    def timed(concurrency, extra=()):
        settings.MESH_CONCURRENCY = concurrency
        started = time.monotonic()
        out = jobs.run_many(ctx, [*commands, *extra])
        return out, time.monotonic() - started

    out, together = timed(4, [(no_access.pk, no_access, "true", 10)])
    assert [out[d.pk].stdout.strip() for d in devices] == ["done-2"] * 4
    assert isinstance(out[no_access.pk], JobFailed) and "no SSH access" in str(out[no_access.pk])
    _, bounded = timed(2)
    _, one_by_one = timed(1)
    assert together < 2.5 <= bounded + 0.5 and bounded < 3.5 and one_by_one >= 4
    assert JobLogLine.objects.filter(job=ctx.job, message__startswith="Finished on p0").count() == 3
