"""The admin as a person uses it (Chromium via Playwright): edit a role's template, test it against
a device (secrets masked), generate a secret that is never shown."""

from __future__ import annotations

import os

import pytest

from tests.test_oauth_e2e import CHROMIUM, CHROMIUM_ARGS, PASSWORD, TIMEOUT_MS

pytestmark = [pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
                                 reason="needs /usr/bin/chromium"),
              pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]


def test_role_template_edit_test_and_secret_generation_in_a_browser(live_server_url, tenant_a, operator_a,
                                                                     monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads between
    # clicks are plain synchronous code (Django's documented switch for such callers)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    from inventory.configuration.models import Role, RoleTemplate, Secret
    from inventory.models import Device

    device = Device.objects.create(tenant=tenant_a, name="web1")
    role = Role.objects.create(tenant=tenant_a, name="site", defaults={"port": 8080})
    RoleTemplate.objects.create(role=role, path="/etc/site.conf", content="listen {{ port }}\n")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{live_server_url}/admin/login/?next=/admin/configuration/role/{role.pk}/change/")
            page.fill("#id_username", operator_a.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            editor = page.locator("textarea[name='templates-0-content']")
            assert "monospace" in editor.evaluate("e => getComputedStyle(e).fontFamily")
            editor.fill("listen {{ port }}\npassword={{ secret('pw') }}\n")
            page.click("input[name=_continue]")
            page.wait_for_selector(".messagelist")
            assert RoleTemplate.objects.get(role=role).content.startswith("listen {{ port }}\npassword={{ secret('pw') }}")

            # a secret generated in the admin; the form never shows it
            page.goto(f"{live_server_url}/admin/configuration/secret/add/")
            page.select_option("#id_scope", "device")
            page.evaluate(f"""() => {{ const s = document.querySelector('#id_device');
                const o = new Option('web1', '{device.pk}', true, true); s.append(o); }}""")
            page.fill("#id_name", "pw")
            page.check("#id_generate")
            page.click("input[name=_save]")
            page.wait_for_selector(".messagelist")
            value = Secret.objects.get(name="pw").value
            assert len(value) == 32 and value not in page.content()
            page.goto(f"{live_server_url}/admin/configuration/secret/{Secret.objects.get(name='pw').pk}/change/")
            assert value not in page.content()

            # Test against device…: rendered, masked
            page.goto(f"{live_server_url}/admin/configuration/role/{role.pk}/change/")
            page.click("text=Test against device…")
            page.select_option("#id_device", str(device.pk))
            page.click("input[value=Test]")
            page.wait_for_selector("text=Test passed")
            body = page.content()
            assert "listen 8080" in body and "password=«secret:pw»" in body and value not in body
        finally:
            browser.close()
