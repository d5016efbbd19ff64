"""Admin import/export (inventory/admin/importing.py) and bulk edit (inventory/admin/bulk.py),
through the admin test client: previews with per-row errors, nothing written on any error, names
resolved only in the importing tenant, exports that hold only the caller's (filtered) rows."""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml
from auditlog.models import LogEntry
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inventory.models import Datacenter, Device, Rack, Tag

pytestmark = pytest.mark.django_db

CSV, JSON, YAML = "0", "1", "2"


@pytest.fixture
def seeded(tenant_a, tenant_b):
    dc_a = Datacenter.objects.create(tenant=tenant_a, name="dc-a")
    dc_b = Datacenter.objects.create(tenant=tenant_b, name="dc-zebra")
    Datacenter.objects.create(tenant=tenant_b, name="dc-shared")  # a name that exists only in B
    rack_a = Rack.objects.create(datacenter=dc_a, name="r1")
    web = Tag.objects.create(tenant=tenant_a, name="web")
    Tag.objects.create(tenant=tenant_b, name="zebra-tag")
    return {"dc_a": dc_a, "dc_b": dc_b, "rack_a": rack_a, "web": web}


def upload(client, content: bytes, model="device", fmt=CSV, name="devices.csv"):
    return client.post(reverse(f"admin:inventory_{model}_import"), {
        "import_file": SimpleUploadedFile(name, content), "format": fmt, "resource": "0"})


def confirm(client, preview, model="device"):
    form = preview.context["confirm_form"]
    return client.post(reverse(f"admin:inventory_{model}_process_import"), form.initial)


def row_errors(response) -> str:
    """The preview's error text (per-row validation errors and file errors)."""
    result = response.context.get("result")
    parts = []
    if result is not None:
        for row in result.invalid_rows:
            parts += [f"row {row.number}: {field}: {' '.join(msgs)}" for field, msgs in row.field_specific_errors.items()]
            parts += [f"row {row.number}: {' '.join(row.non_field_specific_errors)}"] if row.non_field_specific_errors else []
        for line, errors in result.row_errors():
            parts += [f"row {line}: {e.error}" for e in errors]
        parts += [str(e.error) for e in result.base_errors]
    form = response.context.get("form")
    if form is not None and form.errors:
        parts += [" ".join(v) for v in form.errors.values()]
    return "\n".join(parts)


def test_preview_then_apply_resolves_names_in_the_tenant_and_audits(client, operator_a, seeded):
    client.force_login(operator_a)
    preview = upload(client, b"name,status,datacenter,rack,tags,domains\n"
                             b"web1,active,dc-a,r1,web,\"[\"\"web1.example\"\"]\"\nweb2,planned,,,,\n")
    assert preview.status_code == 200 and row_errors(preview) == ""
    assert preview.context["confirm_form"] is not None
    assert not Device.objects.exists()  # the preview is a dry run
    assert confirm(client, preview).status_code == 302
    web1 = Device.objects.get(name="web1")
    assert (web1.status, web1.datacenter, web1.rack, web1.domains) == ("active", seeded["dc_a"], seeded["rack_a"],
                                                                      ["web1.example"])
    assert list(web1.tags.all()) == [seeded["web"]] and Device.objects.get(name="web2").tenant == web1.tenant
    entries = LogEntry.objects.get_for_objects(Device.objects.all())
    assert {e.object_repr for e in entries} == {"web1", "web2"} and {e.actor for e in entries} == {operator_a}


def test_bad_rows_and_foreign_names_are_per_row_errors_and_nothing_is_written(client, operator_a, seeded):
    client.force_login(operator_a)
    preview = upload(client, b"name,status,datacenter,tags\n"
                             b"ok1,active,dc-a,web\n"
                             b"bad-status,bogus,,\n"
                             b"foreign-dc,active,dc-shared,\n"
                             b"unknown-dc,active,dc-nowhere,\n"
                             b"foreign-tag,active,,zebra-tag\n"
                             b",active,,\n")
    errors = row_errors(preview)
    assert "row 2: status:" in errors and "bogus" in errors
    # a name of another tenant's datacenter reads exactly like a name that does not exist
    assert "row 3: datacenter: No datacenter 'dc-shared' in this tenant." in errors
    assert "row 4: datacenter: No datacenter 'dc-nowhere' in this tenant." in errors
    assert "row 5: tags: No tag 'zebra-tag' in this tenant." in errors
    assert "row 6: name: This field cannot be blank." in errors
    assert "row 1:" not in errors
    assert preview.context.get("confirm_form") is None  # no way to apply a file with errors
    assert not Device.objects.exists()


def test_confirmed_import_rolls_back_when_a_row_fails_at_apply_time(client, operator_a, seeded):
    client.force_login(operator_a)
    preview = upload(client, b"name\nnew1\nnew2\n")
    assert row_errors(preview) == ""
    Device.objects.create(tenant=seeded["dc_a"].tenant, name="new2")  # taken between preview and apply
    response = confirm(client, preview)
    assert response.status_code == 302 and response.url.endswith("/import/")
    assert not Device.objects.filter(name="new1").exists()


def test_duplicate_names_in_the_file_and_in_the_database(client, operator_a, seeded, tenant_a, tenant_b):
    Device.objects.create(tenant=tenant_a, name="exists")
    Device.objects.create(tenant=tenant_b, name="theirs")  # another tenant's name is free in A
    client.force_login(operator_a)
    preview = upload(client, b"name\ntwice\ntwice\nexists\ntheirs\n")
    errors = row_errors(preview)
    assert "row 2: Device with this Tenant and Name already exists." in errors  # the file's second "twice"
    assert "row 3: Device with this Tenant and Name already exists." in errors  # "exists"
    assert "row 1:" not in errors and "row 4:" not in errors
    assert set(Device.objects.values_list("name", flat=True)) == {"exists", "theirs"}


def test_updates_by_id_only_of_objects_the_caller_may_change(client, operator_a, tenant_a, tenant_b, seeded):
    mine = Device.objects.create(tenant=tenant_a, name="mine")
    theirs = Device.objects.create(tenant=tenant_b, name="zebra-dev")
    client.force_login(operator_a)
    preview = upload(client, f"id,name,status\n{mine.pk},mine,active\n{theirs.pk},hijack,active\n9999999,x,active\n"
                     .encode())
    errors = row_errors(preview)
    assert f"row 2: id: No device with id '{theirs.pk}' that you may change." in errors
    assert "row 3: id: No device with id '9999999' that you may change." in errors
    assert "row 1:" not in errors
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert (theirs.name, mine.status) == ("zebra-dev", "planned")
    # a tenant column naming another tenant is refused the same way as an unknown one
    preview = upload(client, b"name,tenant\nx1,Tenant B\nx2,No Such Tenant\n")
    errors = row_errors(preview)
    assert "row 1: tenant: No tenant 'Tenant B' that you may import into." in errors
    assert "row 2: tenant: No tenant 'No Such Tenant' that you may import into." in errors


def test_huge_files_are_refused_with_the_limit(client, operator_a, seeded, settings):
    client.force_login(operator_a)
    settings.IMPORT_MAX_BYTES = 200
    response = upload(client, b"name\n" + b"".join(b"device-%04d\n" % i for i in range(100)))
    assert "imports are limited to 200" in row_errors(response) and "Nothing was imported" in row_errors(response)
    settings.IMPORT_MAX_BYTES = 2 * 1024 * 1024
    settings.IMPORT_MAX_ROWS = 3
    response = upload(client, b"name\na\nb\nc\nd\n")
    assert "The file has 4 rows; imports are limited to 3 rows" in row_errors(response)
    assert response.context.get("confirm_form") is None
    assert not Device.objects.exists()


def test_wrong_encoding_is_refused_clearly(client, operator_a, seeded):
    client.force_login(operator_a)
    response = upload(client, "name,description\ncafé,Ça marche\n".encode("latin-1"))
    assert "The file is not UTF-8 text" in row_errors(response)
    assert not Device.objects.exists()
    # UTF-8 with a byte-order mark (as Excel writes it) is fine
    response = upload(client, "name,description\ncafé,Ça marche\n".encode("utf-8-sig"))
    assert row_errors(response) == "" and confirm(client, response).status_code == 302
    assert Device.objects.get().description == "Ça marche"


def test_json_and_yaml_imports_of_other_kinds(client, operator_a, seeded):
    client.force_login(operator_a)
    doc = json.dumps([{"name": "r2", "datacenter": "dc-a", "height_u": 48},
                      {"name": "r3", "datacenter": "dc-zebra", "height_u": 42}]).encode()
    preview = upload(client, doc, model="rack", fmt=JSON, name="racks.json")
    assert "row 2: datacenter: No datacenter 'dc-zebra' in this tenant." in row_errors(preview)
    preview = upload(client, yaml.safe_dump([{"name": "r2", "datacenter": "dc-a", "height_u": 48}]).encode(),
                     model="rack", fmt=YAML, name="racks.yaml")
    assert row_errors(preview) == ""
    confirm(client, preview, model="rack")
    assert Rack.objects.get(name="r2").height_u == 48


def test_import_permissions(client, viewer_a, operator_a, superuser, seeded):
    client.force_login(viewer_a)
    assert client.get(reverse("admin:inventory_device_import")).status_code == 403
    client.force_login(operator_a)
    assert client.get(reverse("admin:inventory_device_import")).status_code == 200
    assert client.get(reverse("admin:inventory_tenant_import")).status_code == 403  # tenants: superusers only
    client.force_login(superuser)
    assert client.get(reverse("admin:inventory_tenant_import")).status_code == 200


def export(client, query="", fmt=CSV, model="device"):
    response = client.post(reverse(f"admin:inventory_{model}_export") + query, {"format": fmt, "resource": "0"})
    assert response.status_code == 200, response.content[:500]
    return response.content.decode("utf-8")


def test_export_respects_filters_and_tenancy(client, operator_a, superuser, tenant_a, tenant_b, seeded):
    web1 = Device.objects.create(tenant=tenant_a, name="web1", status="active", datacenter=seeded["dc_a"])
    web1.tags.add(seeded["web"])
    Device.objects.create(tenant=tenant_a, name="web2", status="planned")
    Device.objects.create(tenant=tenant_b, name="zebra1", status="active", datacenter=seeded["dc_b"])
    client.force_login(operator_a)
    rows = list(csv.DictReader(io.StringIO(export(client))))
    assert sorted(r["name"] for r in rows) == ["web1", "web2"]
    assert {r["name"]: (r["datacenter"], r["tags"], r["tenant"]) for r in rows}["web1"] == ("dc-a", "web", "Tenant A")
    assert [r["name"] for r in csv.DictReader(io.StringIO(export(client, "?status__exact=active")))] == ["web1"]
    assert [r["name"] for r in json.loads(export(client, "?q=web2", fmt=JSON))] == ["web2"]
    assert sorted(r["name"] for r in yaml.safe_load(export(client, fmt=YAML))) == ["web1", "web2"]
    # a filter forced to B's datacenter finds nothing, and other kinds' exports hold no B rows
    assert "zebra" not in export(client, f"?datacenter__id__exact={seeded['dc_b'].pk}")
    for model in ("datacenter", "tag", "rack", "tenant"):
        assert "zebra" not in export(client, model=model).lower() and "Tenant B" not in export(client, model=model)
    client.force_login(superuser)
    assert sorted(r["name"] for r in csv.DictReader(io.StringIO(export(client)))) == ["web1", "web2", "zebra1"]


def test_exported_file_imports_back_as_updates(client, operator_a, tenant_a, seeded):
    Device.objects.create(tenant=tenant_a, name="web1", status="active", datacenter=seeded["dc_a"])
    client.force_login(operator_a)
    data = export(client).replace(",active,", ",offline,")
    preview = upload(client, data.encode())
    assert row_errors(preview) == ""
    confirm(client, preview)
    assert Device.objects.get(name="web1").status == "offline" and Device.objects.count() == 1


def test_csv_export_defuses_formulas_and_imports_them_back_unchanged(client, operator_a, tenant_a, seeded):
    formula = '=HYPERLINK("http://127.0.0.1/x","open")'
    Device.objects.create(tenant=tenant_a, name="web1", description=formula, location="+1 row")
    client.force_login(operator_a)
    data = export(client)
    row = next(csv.DictReader(io.StringIO(data)))
    assert (row["description"], row["location"]) == ("'" + formula, "'+1 row")  # a spreadsheet shows it as text
    assert json.loads(export(client, fmt=JSON))[0]["description"] == formula  # JSON is not a spreadsheet
    preview = upload(client, data.replace(",active,", ",offline,").replace(",planned,", ",offline,").encode())
    assert row_errors(preview) == ""
    confirm(client, preview)
    device = Device.objects.get(name="web1")
    assert (device.description, device.location, device.status) == (formula, "+1 row", "offline")


# --- bulk edit ----------------------------------------------------------------------------------

def bulk(client, objects, data=None, model="device"):
    payload = {"action": "bulk_edit", ACTION_CHECKBOX_NAME: [o.pk for o in objects], "index": 0}
    if data is not None:
        payload.update({"apply": "1", **data})
    return client.post(reverse(f"admin:inventory_{model}_changelist"), payload)


def test_bulk_edit_changes_status_tags_datacenter_and_rack(client, operator_a, tenant_a, seeded):
    devices = [Device.objects.create(tenant=tenant_a, name=f"d{i}") for i in range(3)]
    db_tag = Tag.objects.create(tenant=tenant_a, name="db")
    devices[0].tags.add(db_tag)
    client.force_login(operator_a)
    form = bulk(client, devices[:2])
    assert form.status_code == 200 and b"Edit 2 devices" in form.content
    assert b"dc-zebra" not in form.content and b"zebra-tag" not in form.content  # tenant-safe choices
    response = bulk(client, devices[:2], {"status": "active", "datacenter": seeded["dc_a"].pk,
                                          "rack": seeded["rack_a"].pk, "add_tags": [seeded["web"].pk],
                                          "remove_tags": [db_tag.pk]})
    assert response.status_code == 302
    for device in devices[:2]:
        device.refresh_from_db()
        assert (device.status, device.datacenter, device.rack) == ("active", seeded["dc_a"], seeded["rack_a"])
        assert list(device.tags.all()) == [seeded["web"]]
        assert LogEntry.objects.get_for_object(device).filter(actor=operator_a).exists()
    devices[2].refresh_from_db()
    assert devices[2].status == "planned" and devices[2].datacenter is None
    response = bulk(client, devices[:2], {"clear_rack": "on", "status": ""})
    assert response.status_code == 302 and not Device.objects.filter(rack__isnull=False).exists()
    assert Device.objects.filter(status="active").count() == 2  # "unchanged" kept


def test_bulk_edit_refuses_per_object_and_changes_nothing(client, make_user, tenant_a, tenant_b, seeded):
    both = make_user("both", {tenant_a: "operator", tenant_b: "operator"})
    mine = Device.objects.create(tenant=tenant_a, name="a-dev")
    theirs = Device.objects.create(tenant=tenant_b, name="b-dev")
    b_tag = Tag.objects.get(name="zebra-tag")
    client.force_login(both)
    response = bulk(client, [mine, theirs], {"status": "failed", "datacenter": seeded["dc_b"].pk})
    assert response.status_code == 200
    errors = response.context["errors"]
    assert errors == ["a-dev: datacenter: dc-zebra belongs to another tenant."]
    response = bulk(client, [mine, theirs], {"add_tags": [b_tag.pk]})
    assert response.context["errors"] == ["a-dev: tags: zebra-tag belongs to another tenant."]
    # a rack in another datacenter than the device's: the model's rule, per object
    other = Datacenter.objects.create(tenant=tenant_a, name="dc-a2")
    mine.datacenter = other
    mine.save()
    response = bulk(client, [mine], {"rack": seeded["rack_a"].pk})
    assert response.context["errors"] == ["a-dev: rack: Rack r1 is in another datacenter than the device."]
    for device in (mine, theirs):
        device.refresh_from_db()
        assert device.status == "planned" and device.rack is None and not device.tags.exists()
    assert theirs.datacenter is None


def test_bulk_edit_choices_and_rows_are_the_callers(client, operator_a, tenant_b, seeded):
    theirs = Device.objects.create(tenant=tenant_b, name="zebra-dev")
    client.force_login(operator_a)
    # another tenant's datacenter is not a choice; another tenant's row is not selected
    response = bulk(client, [theirs], {"status": "failed"})
    theirs.refresh_from_db()
    assert theirs.status == "planned"
    mine = Device.objects.create(tenant=seeded["dc_a"].tenant, name="mine")
    response = bulk(client, [mine], {"datacenter": seeded["dc_b"].pk})
    assert response.status_code == 200 and "datacenter" in response.context["form"].errors
    mine.refresh_from_db()
    assert mine.datacenter is None
