"""The admin isolation crawl: every admin URL, as a member of tenant A, shows nothing of tenant B.

Every registered admin is visited: the index and app pages, each changelist and every link on it
(each filter choice, sorting, pagination), filters forced to B's ids, search, add forms, change /
history / delete pages of A's objects and of B's (those must be 404), autocompletes of every
autocomplete field, every action's confirmation page with A's and B's rows selected (bulk edit also
applied, with B's choices forced in), and the import form and export files (CSV, JSON, YAML, also
filtered to B's objects) of every kind. No response may contain a name, CIDR, address or id of B's objects. B's objects have ids from
9,100,000 up and names with "zebra", so a leak cannot hide in a coincidence.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import NoReverseMatch, reverse

from inventory.admin.base import RestrictedLookupsMixin
from inventory.admin.importing import KindImportExportMixin
from inventory.blueprints.models import Blueprint, BlueprintRun
from inventory.jobs.models import DeviceAccess, DiscoveredDevice, Job, ScanSchedule
from inventory.models import (
    Datacenter, Device, DeviceRelationship, IPAddress, IPPool, Membership, Network, Tag, Tenant,
)
from mcp_gateway.models import McpCall, ToolGroupPolicy
from oauth.models import ApiKey

pytestmark = pytest.mark.django_db

B_ID = 9_100_000
#: B's ids are multiples of 1,000 from B_ID (A's objects are created first; a row created later,
#: e.g. by an action, gets max(id) + 1, which is never one of them)
B_ID_RE = re.compile(r"(?<!\d)91\d\d000(?!\d)")
#: actions that start jobs are left out: they enqueue work (tests/test_jobs_* cover them)
SKIPPED_ACTIONS = {"scan_network_quick", "scan_network_full", "scan_network_deep", "provision_device"}


def build(tenant, prefix, octet, user, pk=None):
    """One of each kind in ``tenant``; ``pk``: explicit ids from there up (tenant B)."""
    ids = iter(range(pk, pk + 100_000, 1000)) if pk else None

    def make(model, **kw):
        if ids is not None:
            kw["pk"] = next(ids)
        return model.objects.create(**kw)

    dc = make(Datacenter, tenant=tenant, name=f"{prefix}-dc")
    net = make(Network, tenant=tenant, name=f"{prefix}-net", subnet=f"127.{octet}.0.0/24", datacenter=dc)
    pool = make(IPPool, network=net, name=f"{prefix}-pool", start_address=f"127.{octet}.0.10",
                end_address=f"127.{octet}.0.20")
    dev = make(Device, tenant=tenant, name=f"{prefix}-dev", datacenter=dc)
    other = make(Device, tenant=tenant, name=f"{prefix}-dev2", datacenter=dc)
    tag = make(Tag, tenant=tenant, name=f"{prefix}-tag")
    dev.tags.add(tag)
    ip = make(IPAddress, network=net, address=f"127.{octet}.0.11", device=dev, dns_name=f"{prefix}-ip.example")
    rel = make(DeviceRelationship, parent=dev, child=other, type="contains")
    job = make(Job, tenant=tenant, kind="discovery_scan", network=net, target=f"{prefix}-net 127.{octet}.0.0/24",
               created_by=user, task_id=f"{prefix}-task")
    found = make(DiscoveredDevice, tenant=tenant, network=net, ip=f"127.{octet}.0.12", hostname=f"{prefix}-found",
                 last_scan=job)
    access = make(DeviceAccess, tenant=tenant, device=dev, host=f"{prefix}-host", credential_type="password",
                  secret=f"{prefix}-secret")
    schedule = make(ScanSchedule, tenant=tenant, network=net, last_job=job)
    policy = make(ToolGroupPolicy, tenant=tenant, client_id=f"{prefix}-client", enabled_groups=["inventory"])
    call = make(McpCall, tenant=tenant, user=user, username=user.username, tool="device_list", outcome="ok",
                auth_kind="api_key", client_name=f"{prefix}-mcp-client")
    key, _raw = ApiKey.create(user=user, name=f"{prefix}-key", tenant=tenant)
    document = {"name": f"{prefix}-stack", "version": "1.0.0", "title": f"{prefix} stack",
                "steps": [{"id": "out", "action": "output", "args": {"values": {"host": f"{prefix}-dev"}}}]}
    blueprint = make(Blueprint, source="private", tenant=tenant, document=document)
    run = make(BlueprintRun, tenant=tenant, blueprint_name=f"{prefix}-stack", source="private", version="1.0.0",
               document=document, params={"who": f"{prefix}-param"}, job=job, created_by=user,
               results=[{"id": "out", "action": "output", "status": "succeeded", "changes": [],
                         "outputs": {"host": f"{prefix}-dev"}}], outputs={"host": f"{prefix}-dev"}, status="succeeded")
    return [dc, net, pool, dev, other, tag, ip, rel, job, found, access, schedule, policy, call, key, blueprint, run]


@pytest.fixture
def world(make_user):
    # A first: SQLite gives the next row max(id) + 1, so A's ids stay below B's
    a = Tenant.objects.create(name="Acme")
    users = {role: make_user(f"{role}_a", {a: role}) for role in ("viewer", "operator", "admin")}
    mine = [a, *Membership.objects.filter(tenant=a)] + build(a, "alpha", 1, users["admin"])
    b = Tenant.objects.create(pk=B_ID, name="Zebracorp")
    intruder = make_user("zebra_user", {b: "admin"})
    theirs = [b, Membership.objects.get(user=intruder)]
    theirs += build(b, "zebra", 77, intruder, pk=B_ID + 1000)
    return {"a": a, "b": b, "users": users, "mine": mine, "theirs": theirs}


def leaks(text: str) -> list[str]:
    text = html.unescape(text)
    found = [m for m in ("zebra", "Zebracorp", "127.77.") if m.lower() in text.lower()]
    found += B_ID_RE.findall(text)
    return found


def echo_removed(text: str, params: dict) -> str:
    """The page repeating the request's own filter parameters (links keep the query, the filter
    form has hidden inputs) is not a leak; anything else naming the value is."""
    for key, value in params.items():
        for echo in (f"{key}={value}", quote(f"{key}={value}"), f'name="{key}" value="{value}"'):
            text = text.replace(echo, "")
    return text


class Crawler:
    def __init__(self, client):
        self.client = client
        self.visited: dict[str, int] = {}
        self.leaks: dict[str, list[str]] = {}

    def check(self, url, response, params=None):
        self.visited[url] = response.status_code
        assert response.status_code < 500, (url, response.status_code)
        body = response.content.decode("utf-8", "replace")
        found = leaks(echo_removed(html.unescape(body), params or {}))
        if found:
            self.leaks[url] = found
        return body

    def get(self, url, data=None):
        response = self.client.get(url, data or {})
        full = url + ("?" + "&".join(f"{k}={v}" for k, v in (data or {}).items()) if data else "")
        return response, self.check(full, response, data)

    def post(self, url, data):
        response = self.client.post(url, data)
        return response, self.check(f"POST {url} {sorted(data)}", response)


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def crawl(client, world, registry=None, *, member=True):
    crawler = Crawler(client)
    crawler.get(reverse("admin:index"))
    registry = registry or admin.site._registry
    b_ids = {type(o): o.pk for o in world["theirs"]}
    for model, model_admin in registry.items():
        try:
            changelist = admin_url(model, "changelist")
        except NoReverseMatch:  # pragma: no cover
            continue
        crawler.get(reverse("admin:app_list", args=[model._meta.app_label]))
        response, body = crawler.get(changelist)
        if response.status_code == 200:
            # every link on the changelist: filter choices, sorting, pagination, date hierarchy
            for query in sorted(set(re.findall(r'href="(\?[^"]*)"', body)))[:40]:
                crawler.get(changelist + html.unescape(query))
            # filters forced to B's objects' ids, and searches for B's names and addresses
            for field in model._meta.get_fields():
                if field.is_relation and field.concrete and field.related_model in b_ids:
                    crawler.get(changelist, {f"{field.name}__id__exact": b_ids[field.related_model]})
                    crawler.get(changelist, {f"{field.name}": b_ids[field.related_model]})
            for term in ("zebr", "77.0.11", "ebracorp"):  # the terms echo in the page; the markers must not
                crawler.get(changelist, {"q": term})
        crawler.get(admin_url(model, "add"))
        mine = [o for o in world["mine"] if type(o) is model]
        theirs = [o for o in world["theirs"] if type(o) is model]
        for obj in mine:
            for view in ("change", "history", "delete"):
                crawler.get(admin_url(model, view, obj.pk))
        for obj in theirs:
            for view in ("change", "history", "delete"):
                response, _ = crawler.get(admin_url(model, view, obj.pk))
                if member:
                    assert response.status_code in (302, 403, 404), (model, view, response.status_code)
        for field in getattr(model_admin, "autocomplete_fields", ()):
            for term in ("", "zebr", "77.0"):
                crawler.get(reverse("admin:autocomplete"), {
                    "app_label": model._meta.app_label, "model_name": model._meta.model_name,
                    "field_name": field, "term": term})
        request = response.wsgi_request
        for name in list(model_admin.get_actions(request)) if hasattr(request, "user") else []:
            if name in SKIPPED_ACTIONS:
                continue
            selected = [o.pk for o in mine] + [o.pk for o in theirs]
            if selected:
                crawler.post(changelist, {"action": name, ACTION_CHECKBOX_NAME: selected, "index": 0})
            if name == "bulk_edit" and selected:  # applied, with B's rows and B's choices forced in
                forced = {f: b_ids[model._meta.get_field(f).related_model] for f in model_admin.bulk_edit_fields
                          if model._meta.get_field(f).many_to_one and model._meta.get_field(f).related_model in b_ids}
                for data in ({}, forced):
                    crawler.post(changelist, {"action": name, ACTION_CHECKBOX_NAME: selected, "index": 0,
                                              "apply": "1", **data})
        if isinstance(model_admin, KindImportExportMixin):
            # import form, export form, and the export files (each format) of the whole list and of
            # lists forced to B's objects (a file import naming B's objects echoes the names given:
            # tests/test_admin_import_export.py checks those answers)
            crawler.get(admin_url(model, "import"))
            export = admin_url(model, "export")
            crawler.get(export)
            forced = [""] + [f"?{f.name}__id__exact={b_ids[f.related_model]}" for f in model._meta.get_fields()
                             if f.is_relation and f.concrete and f.related_model in b_ids]
            for query in forced:
                for fmt in ("0", "1", "2"):
                    response = crawler.post(export + query, {"format": fmt, "resource": "0"})[0]
                    if member and not query:
                        assert response.status_code == 200, (model, response.status_code)
    return crawler


@pytest.mark.parametrize("role", ["viewer", "admin"])  # the least and the most a member may open
def test_crawl_finds_nothing_of_another_tenant(client, world, role):
    client.force_login(world["users"][role])
    crawler = crawl(client, world)
    assert len(crawler.visited) > 150, len(crawler.visited)
    ok = [u for u, s in crawler.visited.items() if s == 200]
    assert any("/admin/jobs/job/?" in u for u in ok) and any("/history/" in u for u in ok)
    assert not crawler.leaks, crawler.leaks


def test_superuser_crawl_sees_both_tenants(client, world, superuser):
    """The crawl's markers are real: a superuser's crawl finds B's names, CIDRs and ids."""
    client.force_login(superuser)
    found = {m for hits in crawl(client, world, {Network: admin.site._registry[Network]}, member=False).leaks.values()
             for m in hits}
    assert {"zebra", "127.77."} <= found and any(B_ID_RE.fullmatch(m) for m in found)


def test_crawl_fails_without_the_restricted_filters(client, world, monkeypatch):
    """Remove the fix (plain relation filters, as before) and the crawl reports the jobs' leak."""
    def plain(self, request):
        return list(self.list_filter)

    monkeypatch.setattr(RestrictedLookupsMixin, "get_list_filter", plain)
    client.force_login(world["users"]["viewer"])
    crawler = crawl(client, world, {m: admin.site._registry[m] for m in (Job, DiscoveredDevice, ScanSchedule)})
    assert any("/admin/jobs/job/" in u for u in crawler.leaks), crawler.leaks
    assert any("/admin/jobs/discovereddevice/" in u and "127.77." in hits for u, hits in crawler.leaks.items())


def test_every_project_admin_uses_the_tenant_safe_base():
    """Admins registered by the project's apps (not Django's or third parties' stock admins, which
    members cannot open) all go through the restricted lookups."""
    project = ("inventory", "oauth", "mcp_gateway")
    for model, model_admin in admin.site._registry.items():
        if type(model_admin).__module__.split(".")[0] in project:
            assert isinstance(model_admin, RestrictedLookupsMixin), model
            for inline in model_admin.inlines:
                assert issubclass(inline, RestrictedLookupsMixin), (model, inline)


def test_members_cannot_open_stock_admins(client, world):
    client.force_login(world["users"]["admin"])
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, RestrictedLookupsMixin):
            assert client.get(admin_url(model, "changelist")).status_code in (302, 403), model


def test_filter_choices_are_labelled_with_their_tenant_when_names_repeat(client, world, make_user):
    from inventory.models import Datacenter

    other = Tenant.objects.create(name="Beta")
    Datacenter.objects.create(tenant=other, name="alpha-dc")
    user = make_user("both", {world["a"]: "viewer", other: "viewer"})
    client.force_login(user)
    body = client.get("/admin/inventory/device/").text
    assert "alpha-dc (Acme)" in body and "alpha-dc (Beta)" in body
    assert "zebra" not in body


def test_delete_confirmation_never_names_what_the_caller_cannot_see(rf, world):
    """A cascade into objects of another tenant is refused without naming them."""
    from inventory.admin.base import RestrictedLookupsMixin as M

    model_admin = admin.site._registry[Network]
    request = rf.get("/")
    request.user = world["users"]["admin"]
    net_a = next(o for o in world["mine"] if type(o) is Network)
    # a device of B placed (by a bug, or a raw write) on A's datacenter's network
    DiscoveredDevice.objects.filter(pk=next(o for o in world["theirs"] if type(o) is DiscoveredDevice).pk).update(
        network=net_a)
    deleted, _counts, perms, _protected = M.get_deleted_objects(model_admin, [net_a], request)
    assert perms and not leaks(" ".join(map(str, deleted)))
