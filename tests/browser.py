"""Shared parts of the admin's Playwright tests: where screenshots go, and an admin page
opened in Debian's Chromium as a signed-in user."""

from __future__ import annotations

import os
from pathlib import Path

from tests.test_oauth_e2e import CHROMIUM, CHROMIUM_ARGS, PASSWORD, TIMEOUT_MS


def artifacts_dir() -> Path:
    """``$DATA_DIR/artifacts`` of the run (an xdist worker's DATA_DIR has its name appended)."""
    from django.conf import settings

    data_dir = Path(settings.DATA_DIR)
    root = data_dir.parent if data_dir.name == os.environ.get("PYTEST_XDIST_WORKER") else data_dir
    path = root / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def signed_in_page(browser, live_server_url: str, next_path: str, username: str, *, height: int = 900):
    """A 1,400 px wide page, signed in through the admin's login form, at ``next_path``."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{live_server_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    return page
