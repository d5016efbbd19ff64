"""As a person uses it (Chromium via Playwright): a tenant operator opens a device's relationship
graph and clicks through to a related device, finds a device by its IP address from the global
search box at the top of the page (not another tenant's holder of the same address), then starts a scan of a loopback network with
listeners from the Networks list and watches the job complete on its admin page (live progress,
then the found hosts, promoted from there). Screenshots go to $DATA_DIR/artifacts/."""

from __future__ import annotations

import os
import re
import socket

import pytest

from tests.test_jobs_support import Listeners, Worker, wait_for
from tests.browser import artifacts_dir, launch, signed_in_page
from tests.test_oauth_e2e import CHROMIUM

pytestmark = [pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
                                 reason="needs /usr/bin/chromium"),
              pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]

HOSTS = ["127.79.0.2", "127.79.0.3"]


def quick_port(host: str, taken: set[int]) -> int:
    """A port of the quick scan's list that is free on ``host`` (a quick scan looks at those only)."""
    from inventory.jobs.discovery import QUICK_PORTS

    for port in QUICK_PORTS:
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return port
    pytest.skip("no port of the quick scan is free on loopback")


@pytest.fixture
def listeners():
    lst, ports = Listeners(), {}
    for host in HOSTS:
        ports[host] = quick_port(host, set(ports.values()))
        lst.add(host, ports[host])
    lst.ports = ports
    yield lst
    lst.close()


@pytest.fixture
def scan_worker(django_db_setup, django_db_blocker):
    worker = Worker("redis" if os.environ.get("REDIS_URL") else "filesystem").start()
    yield worker
    worker.stop()


def test_operator_follows_the_graph_and_watches_a_scan(live_server_url, scan_worker, listeners, make_user,
                                                       monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the test's ORM reads between clicks

    from inventory.jobs.models import DiscoveredDevice, Job
    from inventory.models import Device, DeviceRelationship, IPAddress, Network, Tenant

    acme, beta = Tenant.objects.create(name="Acme"), Tenant.objects.create(name="Beta")
    operator = make_user("ops", {acme: "operator"})
    web = [Device.objects.create(tenant=acme, name=f"web-{i}") for i in range(4)]
    for (a, b), kind in zip(zip(web, web[1:]), ["contains", "connected_to", "depends_on"]):
        DeviceRelationship.objects.create(parent=a, child=b, type=kind)
    hidden = Device.objects.create(tenant=beta, name="beta-secret")
    DeviceRelationship.objects.create(parent=hidden, child=Device.objects.create(tenant=beta, name="beta-2"),
                                      type="contains")
    network = Network.objects.create(tenant=acme, name="lab", subnet="127.79.0.0/29")
    IPAddress.objects.create(network=network, address="127.79.0.5", device=web[3], status="allocated")
    beta_net = Network.objects.create(tenant=beta, name="beta-lab", subnet="127.79.0.0/29")
    IPAddress.objects.create(network=beta_net, address="127.79.0.5", device=hidden, status="allocated")
    artifacts = artifacts_dir()

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = signed_in_page(browser, live_server_url, f"/admin/inventory/device/{web[1].pk}/change/",
                                  operator.username, height=1000)

            # the graph: web-1's neighbours within two hops, each a link; nothing of Beta
            page.wait_for_selector("#device-graph svg")
            nodes = page.locator("#device-graph a.graph-link")
            shown = {int(nodes.nth(i).get_attribute("data-device")) for i in range(nodes.count())}
            assert shown == {web[0].pk, web[1].pk, web[2].pk, web[3].pk}
            assert "beta" not in page.content().lower()
            page.locator("#device-relationships").screenshot(path=str(artifacts / "device-graph.png"))
            page.click(f'#device-graph a.graph-link[data-device="{web[2].pk}"]')
            page.wait_for_url(re.compile(rf"/admin/inventory/device/{web[2].pk}/change/"))
            assert page.locator("#id_name").input_value() == "web-2"
            page.wait_for_selector(f'#device-graph a.graph-link[data-device="{web[1].pk}"]')
            page.screenshot(path=str(artifacts / "device-graph-followed.png"), full_page=True)

            # global search by IP, from the box in the header bar: the exact holder, grouped; nothing of Beta
            page.fill("#global-search input[name=q]", "127.79.0.5")
            page.press("#global-search input[name=q]", "Enter")
            page.wait_for_selector("#search-summary")
            devices = page.locator("#search-devices")
            assert devices.locator("a", has_text="web-3").count() == 1
            assert page.locator("#search-ip-addresses a", has_text="127.79.0.5").count() == 1
            assert "beta" not in page.content().lower()
            page.screenshot(path=str(artifacts / "global-search-ip.png"), full_page=True)
            devices.locator("a", has_text="web-3").click()
            page.wait_for_url(re.compile(rf"/admin/inventory/device/{web[3].pk}/change/"))

            # the scan: the job list's empty state says how; the Networks list's action starts it
            page.goto(f"{live_server_url}/admin/jobs/job/")
            page.wait_for_selector("#jobs-empty")
            page.click("#jobs-empty a[href='/admin/inventory/network/']")
            page.check(f"input.action-select[value='{network.pk}']")
            page.select_option("select[name=action]", "scan_network_quick")
            page.click("button[name=index]")
            page.wait_for_selector(".messagelist")
            page.click(".messagelist a[href*='/admin/jobs/job/']")
            page.wait_for_selector("#job-progress")
            page.screenshot(path=str(artifacts / "scan-job-started.png"), full_page=True)
            # the page polls the log and reloads when the job has finished: then the bar is green
            page.wait_for_selector('#job-bar[data-status="succeeded"]', timeout=60_000)
            job = Job.objects.get(network=network)
            assert job.status == "succeeded", (job.error, scan_worker.output())
            assert page.locator("#job-bar").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(46, 125, 50)"
            table = page.locator("#job-found-hosts")
            assert table.locator("tbody tr").count() == 2 and "127.79.0.2" in table.inner_text()
            assert "Found 2 host(s)." in page.locator("#job-log").inner_text()
            page.screenshot(path=str(artifacts / "scan-job-finished.png"), full_page=True)
            # found host -> discovered device -> promote, from the job page
            page.locator("#job-found-hosts tbody tr").first.locator("button.promote").click()
            page.wait_for_selector(".messagelist")
            found = DiscoveredDevice.objects.get(network=network, ip=HOSTS[0])
            assert found.device is not None
            page.goto(f"{live_server_url}/admin/jobs/job/{job.pk}/change/")
            assert page.locator("#job-found-hosts a.promoted").count() == 1
            page.screenshot(path=str(artifacts / "scan-job-promoted.png"), full_page=True)
        finally:
            browser.close()
    wait_for(lambda: all((artifacts / n).stat().st_size > 0 for n in (
        "device-graph.png", "device-graph-followed.png", "global-search-ip.png", "scan-job-finished.png")), 5, message="screenshots")
