"""API keys on the REST API: hash-only storage, revoked/expired/unknown keys get 401 with a
Bearer challenge, scopes narrow what a key may do (403 naming the scope), audit actor."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from inventory.models import Datacenter, Device
from oauth.models import ApiKey
from tests.test_api_support import client_for

pytestmark = pytest.mark.django_db


def bearer(raw):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_key_works_and_is_stored_hashed(admin_a, world):
    key, raw = ApiKey.create(admin_a, "script")
    r = bearer(raw).get("/api/devices/")
    assert r.status_code == 200 and r.json()["count"] == 2
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw not in str(stored) and raw.startswith(stored["prefix"])


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown", "garbage"])
def test_bad_keys_get_401_with_challenge(admin_a, world, state):
    key, raw = ApiKey.create(admin_a, "script")
    if state == "revoked":
        key.revoke()
    elif state == "expired":
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "unknown":
        raw = raw[:-4] + "AAAA"
    else:
        raw = "not a key at all"
    r = bearer(raw).get("/api/devices/")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].lower().startswith("bearer")


def test_read_only_key_gets_403_naming_scope_on_writes(admin_a, world):
    _key, raw = ApiKey.create(admin_a, "ro", scopes=["inventory:read"])
    c = bearer(raw)
    assert c.get("/api/devices/").status_code == 200
    dev = world["a"]["device"]
    for r in (
        c.post("/api/datacenters/", {"name": "x"}, format="json"),
        c.patch(f"/api/devices/{dev.pk}/", {"description": "x"}, format="json"),
        c.delete(f"/api/devices/{dev.pk}/"),
    ):
        assert r.status_code == 403
        assert "inventory:" in r.json()["detail"]
        assert 'error="insufficient_scope"' in r["WWW-Authenticate"]
    assert not Datacenter.objects.filter(name="x").exists()
    dev.refresh_from_db()
    assert dev.description == ""


def test_write_key_cannot_delete_and_delete_key_cannot_read(admin_a, world):
    dev = world["a"]["device"]
    _k, write = ApiKey.create(admin_a, "w", scopes=["inventory:read", "inventory:write"])
    r = bearer(write).delete(f"/api/devices/{dev.pk}/")
    assert r.status_code == 403 and "inventory:delete" in r.json()["detail"]
    _k, delete_only = ApiKey.create(admin_a, "d", scopes=["inventory:delete"])
    r = bearer(delete_only).get("/api/devices/")
    assert r.status_code == 403 and "inventory:read" in r.json()["detail"]
    _k, read_delete = ApiKey.create(admin_a, "rd", scopes=["inventory:read", "inventory:delete"])
    assert bearer(read_delete).delete(f"/api/devices/{dev.pk}/").status_code == 204


def test_key_inherits_role(viewer_a, world):
    _k, raw = ApiKey.create(viewer_a, "all scopes")
    r = bearer(raw).post("/api/devices/", {"name": "x"}, format="json")
    assert r.status_code == 403 and "role" in r.json()["detail"]


def test_bearer_writes_are_audited_with_key_owner(operator_a, world):
    _k, raw = ApiKey.create(operator_a, "script")
    r = bearer(raw).post("/api/devices/", {"name": "from-script", "tags": ["t"]}, format="json")
    assert r.status_code == 201
    entry = LogEntry.objects.get_for_object(Device.objects.get(name="from-script")).first()
    assert entry.actor == operator_a


def test_bearer_writes_leave_no_audit_receivers_behind(operator_a, world):
    """Each write used to leave a pre_save receiver (holding the user) connected for good:
    auditlog's nested set_actor never disconnected the middleware's context."""
    from django.db.models.signals import pre_save

    _k, raw = ApiKey.create(operator_a, "script")
    client = bearer(raw)
    client.post("/api/devices/", {"name": "warm"}, format="json")
    before = len(pre_save.receivers)
    for i in range(5):
        assert client.post("/api/devices/", {"name": f"d{i}"}, format="json").status_code == 201
        assert client.patch(f"/api/devices/{Device.objects.get(name=f'd{i}').pk}/", {"os": "x"},
                            format="json").status_code == 200
    assert len(pre_save.receivers) == before
    entry = LogEntry.objects.get_for_object(Device.objects.get(name="d4")).order_by("-pk").first()
    assert entry.actor == operator_a and entry.action == LogEntry.Action.UPDATE


def test_requests_connect_no_signal_receivers(operator_a, world, monkeypatch):
    """The audit context is a context variable read by one receiver connected at start: a
    request (read or write) connects and disconnects nothing, which would clear Django's
    receiver cache for every thread."""
    from django.db.models.signals import pre_save

    changes = []
    monkeypatch.setattr(type(pre_save), "connect", lambda self, *a, **k: changes.append(("connect", a, k)))
    monkeypatch.setattr(type(pre_save), "disconnect", lambda self, *a, **k: changes.append(("disconnect", a, k)))
    _k, raw = ApiKey.create(operator_a, "script")
    client = bearer(raw)
    assert client.get("/api/devices/").status_code == 200
    assert client.post("/api/devices/", {"name": "quiet"}, format="json", REMOTE_ADDR="127.109.8.7").status_code == 201
    assert changes == []
    entry = LogEntry.objects.get_for_object(Device.objects.get(name="quiet")).first()
    assert entry.actor == operator_a and entry.remote_addr == "127.109.8.7"
    assert Device.objects.create(tenant=world["a"]["tenant"], name="no-request")  # outside any context
    assert LogEntry.objects.get_for_object(Device.objects.get(name="no-request")).first().actor is None


def test_bearer_writes_outside_the_inventory_views_are_attributed_too(operator_a, world):
    """Authentication sets the actor: the jobs endpoints (SSH access settings) are audited with it."""
    _k, raw = ApiKey.create(operator_a, "script")
    device = world["a"]["device"]
    r = bearer(raw).patch(f"/api/jobs/access/{device.pk}/", {"port": 2222, "username": "ops"}, format="json")
    assert r.status_code == 200, r.content
    from inventory.jobs.models import DeviceAccess

    entry = LogEntry.objects.get_for_object(DeviceAccess.objects.get(device=device)).order_by("-pk").first()
    assert entry is not None and entry.actor == operator_a
