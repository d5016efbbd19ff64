"""A tenant operator in Chromium (Playwright): imports a CSV of devices (the preview shows a row's
error, the fixed file is confirmed), then bulk-edits the new devices' tags. Screenshots of each step
go to $DATA_DIR/artifacts/."""

from __future__ import annotations

import os

import pytest

from tests.browser import artifacts_dir, launch, signed_in_page
from tests.test_oauth_e2e import CHROMIUM

pytestmark = [pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
                                 reason="needs /usr/bin/chromium"),
              pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]

BAD = b"name,status,datacenter\nweb1,active,dc-a\nweb2,active,dc-zebra\n"  # dc-zebra is tenant B's
GOOD = b"name,status,datacenter\nweb1,active,dc-a\nweb2,active,dc-a\n"


def test_operator_imports_a_csv_then_bulk_edits_tags(live_server_url, tenant_a, tenant_b, operator_a, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM reads between clicks (sync API's loop)
    from inventory.models import Datacenter, Device, Tag

    Datacenter.objects.create(tenant=tenant_a, name="dc-a")
    Datacenter.objects.create(tenant=tenant_b, name="dc-zebra")
    Tag.objects.create(tenant=tenant_a, name="web")
    Tag.objects.create(tenant=tenant_b, name="zebra-tag")
    artifacts = artifacts_dir()

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = signed_in_page(browser, live_server_url, "/admin/inventory/device/", operator_a.username)

            # Import: a file with a foreign datacenter's name -> preview with that row's error
            page.click("a.import_link")
            page.set_input_files("#id_import_file", files=[{"name": "devices.csv", "mimeType": "text/csv",
                                                              "buffer": BAD}])
            page.select_option("#id_format", label="csv")
            page.click("input[type=submit][value=Submit]")
            errors = page.locator(".validation-error-list")
            errors.first.wait_for()
            assert "No datacenter 'dc-zebra' in this tenant." in errors.first.inner_text()
            assert page.locator("input[name=confirm]").count() == 0  # nothing can be applied
            page.hover(".validation-error-count")  # the row's messages open on hover
            page.screenshot(path=str(artifacts / "import-1-preview-with-error.png"), full_page=True)
            assert not Device.objects.exists()

            # the fixed file: a clean preview, then confirm
            page.set_input_files("#id_import_file", files=[{"name": "devices.csv", "mimeType": "text/csv",
                                                              "buffer": GOOD}])
            page.select_option("#id_format", label="csv")
            page.click("input[type=submit][value=Submit]")
            page.locator("input[name=confirm]").wait_for()
            assert page.locator("table.import-preview tbody tr").count() == 2
            page.screenshot(path=str(artifacts / "import-2-preview-clean.png"), full_page=True)
            page.click("input[name=confirm]")
            page.wait_for_selector(".messagelist")
            page.screenshot(path=str(artifacts / "import-3-applied.png"), full_page=True)
            assert sorted(Device.objects.filter(tenant=tenant_a, datacenter__name="dc-a")
                          .values_list("name", flat=True)) == ["web1", "web2"]

            # Bulk edit: select both, add the tag "web"
            for name in ("web1", "web2"):
                pk = Device.objects.get(name=name).pk
                page.check(f"input[name=_selected_action][value='{pk}']")
            page.select_option("select[name=action]", "bulk_edit")
            page.click("button[name=index]")
            page.locator("#bulk-edit-form").wait_for()
            options = page.locator("#id_add_tags option").all_inner_texts()
            assert options == ["web"]  # tenant B's tags are no choice
            page.select_option("#id_add_tags", label="web")
            page.select_option("#id_status", "offline")
            page.screenshot(path=str(artifacts / "bulk-1-form.png"), full_page=True)
            page.click("#bulk-edit-form input[type=submit]")
            page.wait_for_selector(".messagelist")
            assert "Changed 2 devices." in page.locator(".messagelist").inner_text()
            page.screenshot(path=str(artifacts / "bulk-2-applied.png"), full_page=True)
            for device in Device.objects.all():
                assert [t.name for t in device.tags.all()] == ["web"] and device.status == "offline"
        finally:
            browser.close()
    assert all((artifacts / f).stat().st_size > 0 for f in ("import-1-preview-with-error.png", "bulk-2-applied.png"))
